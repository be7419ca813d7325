/**
 * Config loading through c12: `quant.config.{ts,js,mjs,json,yaml,toml}` (or an explicit file), `extends` with the
 * the presets of the registry passed in (the CLI's built-ins: `cnn`, `transformer`, …) or other files, merged by
 * {@link layerMerger}.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, extname, relative, resolve } from "node:path";
import { QuantError, reason } from "../errors/errors.ts";
import { layerMerger } from "./merge.ts";
import { emptyRegistry, type PluginRegistry } from "./registry.ts";
import { SELF_ENTRY } from "./self.ts";
import { jsonErrorOffset, lineOf } from "./json-position.ts";
import { checkConfigKeys, configLayer, type QuantConfig } from "./schema.ts";

/** Extensions c12 looks for, in its order. */
const CONFIG_EXTS = [".ts", ".mts", ".cts", ".js", ".mjs", ".cjs", ".json", ".jsonc", ".json5", ".yaml", ".yml", ".toml"];

/** Name of a preset of `registry`, or undefined. Accepts `cnn`, `presets/cnn`, `quant/presets/cnn`. */
export function presetName(id: string, registry: PluginRegistry): string | undefined {
  const m = /^(?:quant\/)?(?:presets\/)?([a-z0-9-]+)$/.exec(id);
  if (!m) return undefined;
  return Object.hasOwn(registry.presets, m[1]!) ? m[1] : undefined;
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
  /** Ignore `quant.config.*` in `cwd` (`--no-config`); an explicit `file` is still loaded. */
  noConfig?: boolean;
  /**
   * Allow a `.ts/.js/.mjs/.cjs` config found in `cwd` to run (`--trust-config`). Default: env `QUANT_TRUST_CONFIG=1`.
   * A code config named with `file` always runs: the user chose it.
   */
  trust?: boolean;
  /** Presets `preset` and `extends` may name, and the calibrators `method` picks (the CLI passes `builtinPlugins`). */
  registry?: PluginRegistry;
  /** Receives one line per implicit choice ("using ./quant.config.yaml", "skipped ./quant.config.ts …"). */
  announce?: (message: string, level: "info" | "warn") => void;
}

/** A loaded config and where it came from. */
export interface LoadedConfig {
  config: QuantConfig;
  /** The config file used, if any. */
  file?: string;
  /** Folder relative paths in the config are resolved against. */
  cwd: string;
  /** True when the file was found in the folder rather than named by the user. */
  discovered?: boolean;
  /** The registry the config was loaded with: its names are the ones the chain may use. */
  registry?: PluginRegistry;
}

const CODE_EXTS = new Set([".ts", ".mts", ".cts", ".js", ".mjs", ".cjs"]);

/** True when QUANT_TRUST_CONFIG asks to run code configs found in the current folder. */
export function trustFromEnv(env: Record<string, string | undefined> = process.env): boolean {
  return /^(1|true|yes)$/i.test(env.QUANT_TRUST_CONFIG ?? "");
}

/**
 * The config file `loadQuantConfig` would use in `cwd` without `--config`: the first `quant.config.*` in c12's order,
 * except that code configs are skipped unless trusted (then the first data config is used). Returns the file and
 * the code configs skipped.
 */
export function discoverConfig(cwd: string, trust: boolean): { file?: string; skipped: string[] } {
  const skipped: string[] = [];
  for (const e of CONFIG_EXTS) {
    const f = resolve(cwd, `quant.config${e}`);
    if (!existsSync(f)) continue;
    if (CODE_EXTS.has(e) && !trust) {
      skipped.push(f);
      continue;
    }
    return { file: f, skipped };
  }
  return { skipped };
}

/** `./quant.config.yaml` for messages. */
function shown(file: string, cwd: string): string {
  const rel = relative(cwd, file);
  return rel && !rel.startsWith("..") ? `./${rel}` : file;
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
  let discovered = false;
  if (opts.file) {
    const abs = resolve(cwd, opts.file);
    if (!existsSync(abs)) throw new QuantError("E_CONFIG", "config file not found", { file: opts.file });
    cwd = dirname(abs);
    configFile = abs;
  } else if (!opts.noConfig) {
    // A config in the current folder is a choice the user may not know about: say which one, and never run code
    // from it unless asked (a .ts/.js config executes when loaded).
    const trust = opts.trust ?? trustFromEnv();
    const found = discoverConfig(cwd, trust);
    for (const f of found.skipped)
      opts.announce?.(`not loading ${shown(f, cwd)}: a ${extname(f)} config is code; name it with --config ${shown(f, cwd)}, or pass --trust-config (or set QUANT_TRUST_CONFIG=1) to load configs from this folder`, "warn");
    if (found.file) {
      configFile = found.file;
      discovered = true;
      opts.announce?.(`using ${shown(found.file, cwd)} (--no-config to ignore it)`, "info");
    }
  }
  const registry = opts.registry ?? emptyRegistry;
  if (opts.preset && !presetName(opts.preset, registry)) throw new QuantError("E_CONFIG", `unknown preset "${opts.preset}" (built-in: ${Object.keys(registry.presets).join(", ") || "none"})`);
  // Nothing to load: skip importing c12 (~75 ms of a CLI run).
  if (!configFile && !opts.preset) return { config: configLayer(structuredClone(opts.overrides)), cwd, registry };
  const { loadConfig } = await import("c12");
  let loaded;
  try {
    loaded = await loadConfig<QuantConfig>({
      name: "quant",
      cwd,
      // c12 wants the name without extension; it finds the extension itself.
      // Always the exact file we chose, extension included: given a bare name c12 picks the first extension it finds,
      // which could be an untrusted quant.config.ts beside the chosen .yaml.
      configFile: configFile ?? resolve(cwd, "quant.config.__none__"),
      rcFile: false,
      globalRc: false,
      dotenv: false,
      packageJson: false,
      giget: false,
      envName: false,
      merger: layerMerger(registry) as never,
      // `import { defineConfig } from "quant"` in a .ts config works wherever the config lives.
      jitiOptions: { alias: { quant: SELF_ENTRY } },
      overrides: configLayer(opts.overrides),
      defaultConfig: opts.preset ? ({ extends: [opts.preset] } as QuantConfig) : undefined,
      resolve: async (id) => {
        const name = presetName(id, registry);
        if (!name) return null;
        const mod = await registry.presets[name]!();
        return { config: configLayer(structuredClone(mod.default)), configFile: `preset:${name}`, source: `preset:${name}`, cwd };
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
  const config = configLayer(loaded.config);
  if (discovered && !(opts.trust ?? trustFromEnv())) {
    // A data config found in the folder may still name plugin files, which run when loaded: same rule as code configs.
    const code = (config.plugins ?? []).map((p) => (Array.isArray(p) ? p[0] : p)).find((id) => typeof id === "string" && /^(\.{1,2}[\\/]|[\\/])|\.(m?[jt]s|cjs)$/.test(id));
    if (code)
      throw new QuantError("E_CONFIG", `${shown(configFile!, cwd)} (found in the current folder) loads plugin code "${code}"; name the config with --config, or pass --trust-config (or QUANT_TRUST_CONFIG=1)`, { file: configFile });
  }
  delete config.extends;
  return { config, file: configFile, cwd, discovered, registry };
}
