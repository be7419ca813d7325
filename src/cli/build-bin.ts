/**
 * `bun run build:bin`: the single-file executable `dist/quant` (bun build --compile), with onnxruntime's shared
 * library copied beside it (the binary embeds the onnxruntime-node binding but the binding links against that
 * library by name; src/io/native.ts loads it from beside the executable). Ship `dist/` as a folder.
 */
import { copyFileSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

const root = resolve(import.meta.dir, "../..");
const out = resolve(root, process.argv[2] ?? "dist/quant");
mkdirSync(dirname(out), { recursive: true });
const t0 = performance.now();
const build = Bun.spawnSync(
  [process.execPath, "build", "--compile", "src/cli/main.ts", "src/runtime/worker.ts", "src/quant/parallel-worker.ts", "--outfile", out],
  { cwd: root, stdout: "inherit", stderr: "inherit" },
);
if (build.exitCode !== 0) process.exit(build.exitCode ?? 1);
// The shared libraries the embedded addons link against (src/io/native.ts loads them from here).
const pkgDir = (name: string) => dirname(Bun.resolveSync(`${name}/package.json`, root));
const libDirs = [join(pkgDir("onnxruntime-node"), "bin/napi-v6", process.platform, process.arch)];
try {
  libDirs.push(join(dirname(Bun.resolveSync(`@img/sharp-libvips-${process.platform}-${process.arch}/package.json`, pkgDir("sharp"))), "lib"));
} catch {
  process.stderr.write("warning: sharp's libvips not found; image folders will not work in the binary\n");
}
const libs: string[] = [];
for (const d of libDirs)
  for (const f of readdirSync(d).filter((f) => /\.(so(\.\d+)*|dylib|dll)$/.test(f))) {
    copyFileSync(join(d, f), join(dirname(out), f));
    libs.push(f);
  }
const mb = (p: string) => (statSync(p).size / 2 ** 20).toFixed(1);
process.stderr.write(`built ${out} (${mb(out)} MiB) + ${libs.join(", ")} in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
