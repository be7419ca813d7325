/**
 * The single-file binary (`bun run build:bin` → dist/quant): Bun embeds the native addons (onnxruntime-node's binding,
 * sharp's) but not the shared libraries they link against by name (onnxruntime, libvips). The build copies those
 * libraries beside the binary and this loads them by explicit path before an addon opens; the dynamic loader then
 * finds them by soname. From source or an installed package nothing happens here (node_modules has them in place).
 */
import { existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { QuantError, reason } from "../errors/errors.ts";

/** True inside a `bun build --compile` executable (modules live in Bun's embedded file system). */
export const isCompiled: boolean = /[\\/]\$bunfs[\\/]|~BUN[\\/]/.test(import.meta.path ?? "");

/** The shared libraries of each native dependency: file name pattern and one C symbol to open it with. */
const LIBS = {
  onnxruntime: { file: /^(lib)?onnxruntime(\.so(\.\d+)*|(\.\d+)*\.dylib|\.dll)$/, symbol: "OrtGetApiBase", from: "onnxruntime-node/bin/napi-v6/<platform>/<arch>/" },
  libvips: { file: /^(lib)?vips-cpp(\.so(\.\d+)*|(\.\d+)*\.dylib|.*\.dll)$/, symbol: "vips_version", from: "@img/sharp-libvips-<platform>-<arch>/lib/" },
} as const;

const loaded = new Set<string>();
// Handles kept for the life of the process (a collected handle must not unload the library).
const handles: unknown[] = [];

/** In the binary: load a native dependency's shared library from beside the executable (or `QUANT_NATIVE_DIR`). */
export async function preloadNative(which: keyof typeof LIBS): Promise<void> {
  if (!isCompiled || loaded.has(which)) return;
  const lib = LIBS[which];
  const dir = process.env.QUANT_NATIVE_DIR ?? dirname(process.execPath);
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => lib.file.test(f)) : [];
  if (!files.length)
    throw new QuantError("E_RUNTIME", `${which}'s shared library is not beside the quant binary (looked in ${dir}); copy it from ${lib.from} or set QUANT_NATIVE_DIR`);
  const { dlopen } = await import("bun:ffi");
  for (const f of files) {
    try {
      handles.push(dlopen(join(dir, f), { [lib.symbol]: { args: [], returns: "ptr" } }));
    } catch (e) {
      throw new QuantError("E_RUNTIME", `cannot load ${join(dir, f)} (${reason(e)})`, { cause: e });
    }
  }
  loaded.add(which);
}
