/**
 * Config loading through c12: `quant.config.{ts,js,mjs,json,yaml,toml}` (or an explicit file), `extends` with the
 * built-in presets (`cnn`, `transformer`, `int4-weights`) or other files, merged by {@link mergeLayers}.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, extname, resolve } from "node:path";
import { QuantError, reason } from "../kernel/errors.ts";
import { mergeLayers } from "./merge.ts";
import { SELF_ENTRY } from "./self.ts";
import { jsonErrorOffset, lineOf } from "./json-position.ts";
import { checkConfigKeys, normalizeKeys, type QuantConfig } from "./schema.ts";

/** Extensions c12 looks for, in its order. */
const CONFIG_EXTS = [".ts", ".mts", ".cts", ".js", ".mjs", ".cjs", ".json", ".jsonc", ".json5", ".yaml", ".yml", ".toml"];

/** Name of a built-in preset, or undefined. Accepts `cnn`, `presets/cnn`, `quant/presets/cnn`. */
export async function presetName(id: string): Promise<string | undefined> {
  const m = /^(?:quant\/)?(?:presets\/)?([a-z0-9-]+)$/.exec(id);
  if (!m) return undefined;
  const { builtinPresetModules } = await import("../../plugins/registry.ts");
  return m[1]! in builtinPresetModules ? m[1] : undefined;
}

/** Options of {@link loadQuantConfig}. */
export interface LoadConfigOptions {
  /** Explicit config file; otherwise `quant.config.*` is looked up in `cwd`. */
  file?: string;
  cwd?: string;
  /** A preset to start from (as if the config said `extends: [preset]`). */
  preset?: string;
  /** Highest-priority values (CLI flags). */
  overrides?: Partial<QuantConfig>;
}

/** A loaded config and where it came from. */
export interface LoadedConfig {
  config: QuantConfig;
  /** The config file used, if any. */
  file?: string;
  /** Folder relative paths in the config are resolved against. */
  cwd: string;
}

/** One-line reason of a parse error, with the line number when the parser gave one. */
function parseReason(file: string, e: unknown): string {
  const msg = reason(e);
  const line = /line (\d+)/i.exec(msg)?.[1] ?? /\((\d+):\d+\)/.exec(msg)?.[1];
  if (line) return `${msg.replace(/\s+/g, " ")}`.includes(`line ${line}`) ? msg : `line ${line}: ${msg}`;
  if (/\.json5?$/.test(file)) {
    const text = readFileSync(file, "utf8");
    const at = jsonErrorOffset(text);
    if (at >= 0) return `line ${lineOf(text, at)}: ${msg}`;
  }
  return msg;
}

/** Load and merge a config. Throws E_CONFIG (missing file, bad preset) or E_CONFIG_PARSE (file and line). */
export async function loadQuantConfig(opts: LoadConfigOptions = {}): Promise<LoadedConfig> {
  let cwd = resolve(opts.cwd ?? process.cwd());
  let configFile: string | undefined;
  if (opts.file) {
    const abs = resolve(cwd, opts.file);
    if (!existsSync(abs)) throw new QuantError("E_CONFIG", "config file not found", { file: opts.file });
    cwd = dirname(abs);
    configFile = abs;
  }
  if (opts.preset && !(await presetName(opts.preset))) throw new QuantError("E_CONFIG", `unknown preset "${opts.preset}" (built-in: cnn, transformer, int4-weights)`);
  // Nothing to load: skip importing c12 (~75 ms of a CLI run).
  if (!configFile && !opts.preset && !CONFIG_EXTS.some((e) => existsSync(resolve(cwd, `quant.config${e}`))))
    return { config: normalizeKeys(structuredClone(opts.overrides ?? {})) as QuantConfig, cwd };
  const { loadConfig } = await import("c12");
  let loaded;
  try {
    loaded = await loadConfig<QuantConfig>({
      name: "quant",
      cwd,
      // c12 wants the name without extension; it finds the extension itself.
      configFile: configFile ? configFile.slice(0, configFile.length - extname(configFile).length) : "quant.config",
      rcFile: false,
      globalRc: false,
      dotenv: false,
      packageJson: false,
      giget: false,
      envName: false,
      merger: mergeLayers as never,
      // `import { defineConfig } from "quant"` in a .ts config works wherever the config lives.
      jitiOptions: { alias: { quant: SELF_ENTRY } },
      overrides: normalizeKeys(opts.overrides ?? {}) as QuantConfig,
      defaultConfig: opts.preset ? ({ extends: [opts.preset] } as QuantConfig) : undefined,
      resolve: async (id) => {
        const name = await presetName(id);
        if (!name) return null;
        const { builtinPresetModules } = await import("../../plugins/registry.ts");
        const mod = await builtinPresetModules[name as keyof typeof builtinPresetModules]();
        return { config: normalizeKeys(structuredClone(mod.default)) as QuantConfig, configFile: `preset:${name}`, source: `preset:${name}`, cwd };
      },
    });
  } catch (e) {
    if (e instanceof QuantError) throw e;
    const file = configFile ?? cwd;
    throw new QuantError("E_CONFIG_PARSE", parseReason(file, e), { file: opts.file ?? file, cause: e });
  }
  if (configFile && !loaded._configFile && !loaded.configFile) throw new QuantError("E_CONFIG", "config file could not be read", { file: opts.file });
  // Unknown keys are refused in every layer (the file and whatever it extends), naming that layer's file.
  for (const layer of loaded.layers ?? []) {
    // c12 names the main layer without its extension; name the file the user wrote.
    const f = layer.configFile && loaded.configFile?.startsWith(layer.configFile) ? loaded.configFile : (layer.configFile ?? layer.source);
    checkConfigKeys(layer.config, f);
  }
  const config = normalizeKeys(loaded.config ?? {}) as QuantConfig;
  delete (config as Record<string, unknown>).extends;
  return { config, file: configFile, cwd };
}
