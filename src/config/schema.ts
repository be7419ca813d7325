/**
 * The config file format: the CLI flags as keys (camelCase or snake_case), a `models` list, a `batch` section,
 * and the plugin chain. The seed's YAML format works as-is.
 */
import { QuantError } from "../errors/errors.ts";
import type { Plugin } from "../kernel/types.ts";
import type { RunOptions } from "../kernel/options.ts";

/** A plugin entry in a config: a registry name, `[name, options]`, a file path (`./my-plugin.ts`), a plugin object, or `"!name"` to remove an inherited entry. `"$reset"` as the first entry drops everything inherited. */
export type PluginSpec = string | [string, Record<string, unknown>?] | Plugin;

/** One model to quantize. Any option may be overridden per model. */
export interface ModelEntry extends Partial<RunOptions> {
  input: string;
  output: string;
}

/** A batch section: every model matching a glob goes to a folder. */
export interface BatchSection {
  inputDir: string;
  outputDir: string;
  skipExisting?: boolean;
  continueOnError?: boolean;
  jobs?: number;
  /** Output file name pattern; `[name]` is the input's base name. Default `[name].onnx`. */
  outputName?: string;
}

/** A quant config file. */
export interface QuantConfig extends Partial<RunOptions> {
  /** Presets or other config files to inherit from (built-in: cnn, transformer, transformers-js, int4-weights). */
  extends?: string | string[];
  /** The plugin chain, in order. */
  plugins?: PluginSpec[];
  models?: ModelEntry[];
  batch?: BatchSection;
  /** The `config` command's mode: `weights` (weight-only) or `static` (calibrated); default: static when the config calibrates. */
  mode?: "weights" | "static";
}

/** Identity helper that types a config file. */
export function defineConfig(config: QuantConfig): QuantConfig {
  return config;
}

const camel = (k: string) => k.replace(/[_-]([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** Convert snake_case / kebab-case keys to camelCase (recursively for models and batch, not inside plugin options). */
export function normalizeKeys<T>(value: T): T {
  if (!value || typeof value !== "object" || Array.isArray(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const key = k.startsWith("$") ? k : camel(k);
    if (key === "models" && Array.isArray(v)) out[key] = v.map((m) => normalizeKeys(m));
    else if (key === "batch") out[key] = normalizeKeys(v);
    else out[key] = v;
  }
  return out as T;
}

/**
 * One config layer (a file's contents, a preset, the command-line overrides) with its keys in camelCase, typed as
 * the schema above. Unknown keys are refused separately, per layer and naming its file ({@link checkConfigKeys}).
 */
export function configLayer(value: unknown): QuantConfig {
  return value && typeof value === "object" && !Array.isArray(value) ? normalizeKeys(value as QuantConfig) : {};
}

/**
 * The keys a plugin's options object may have, as a plugin module's `optionKeys` export; typed so a key added to the
 * options interface must be listed too. A config giving a plugin any other key is refused with E_CONFIG.
 * @example export const optionKeys: OptionKeys<MyOptions> = { k: true, bins: true };
 */
export type OptionKeys<T> = { readonly [K in keyof Required<T>]: true };

/** Every option key (compile-time complete: a key added to RunOptions must be listed here). */
const OPTION_KEYS: OptionKeys<RunOptions> = {
  bits: true, perChannel: true, blockSize: true, symmetric: true, nativeInt4: true, weightType: true, activationType: true,
  clipSearch: true, exclude: true, opTypes: true, opTypesExclude: true, minElements: true, layerBits: true, opset: true,
  output: true, data: true, samples: true, batchSize: true, shapes: true, seed: true, method: true, percentile: true,
  statsIn: true, statsOut: true, images: true, inputs: true, sampleAxis: true, externalData: true, ortCheck: true, ortCheckMaxBytes: true, inputsAsConstants: true,
  threads: true, streamAbove: true,
  targetSqnr: true, targetAccuracy: true, labels: true, evalData: true, searchBudget: true,
};
const CONFIG_KEYS: OptionKeys<Omit<QuantConfig, keyof RunOptions>> = { extends: true, plugins: true, models: true, batch: true, mode: true };
const MODEL_KEYS: OptionKeys<Omit<ModelEntry, keyof RunOptions>> = { input: true };
const BATCH_KEYS: OptionKeys<BatchSection> = { inputDir: true, outputDir: true, skipExisting: true, continueOnError: true, jobs: true, outputName: true };
const IMAGE_KEYS = ["preset", "resize", "crop", "mean", "std", "scale", "layout", "channels", "kernel"];

/** Known keys at each level of a config, for messages and the editor schema. */
export const configKeys = {
  top: [...Object.keys(OPTION_KEYS), ...Object.keys(CONFIG_KEYS)],
  model: [...Object.keys(OPTION_KEYS), ...Object.keys(MODEL_KEYS)],
  batch: Object.keys(BATCH_KEYS),
  images: IMAGE_KEYS,
} as const;

/** The closest of `known` to `key` (edit distance, case and `_`/`-` ignored). */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[-_]/g, "");
  const a = norm(key);
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const b = norm(k);
    const row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      let diag = row[0]!;
      row[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const up = row[j]!;
        row[j] = Math.min(up + 1, row[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
        diag = up;
      }
    }
    if (row[b.length]! < bestD) {
      bestD = row[b.length]!;
      best = k;
    }
  }
  return best;
}

/** E_CONFIG for an unknown key, naming the file, where it is and the closest known key. */
export function unknownKey(key: string, where: string, known: readonly string[], file?: string): QuantError {
  const hint = closestKey(key, known);
  return new QuantError("E_CONFIG", `unknown key "${key}"${where ? ` in ${where}` : ""}${hint ? ` (did you mean ${hint}?)` : ""}`, { file });
}

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === "object" && !Array.isArray(v);

function checkLevel(obj: Record<string, unknown>, known: readonly string[], where: string, file?: string): void {
  const set = new Set(known);
  for (const k of Object.keys(obj)) if (!k.startsWith("$") && !set.has(camel(k))) throw unknownKey(k, where, known, file);
  const images = obj.images;
  if (isObject(images)) for (const k of Object.keys(images)) if (!IMAGE_KEYS.includes(k)) throw unknownKey(k, `${where ? `${where}.` : ""}images`, IMAGE_KEYS, file);
}

/**
 * Refuse unknown keys at every level of one config layer (top level, `models[i]`, `batch`, `images`); plugin option
 * objects are checked when the chain is resolved, against each plugin's `optionKeys`. Throws E_CONFIG naming the
 * file, the key and the closest known key (`per_chanel` → did you mean perChannel?).
 */
export function checkConfigKeys(config: unknown, file?: string): void {
  if (!isObject(config)) return;
  checkLevel(config, configKeys.top, "", file);
  const models = config.models;
  if (Array.isArray(models)) models.forEach((m, i) => isObject(m) && checkLevel(m, configKeys.model, `models[${i}]`, file));
  if (isObject(config.batch)) checkLevel(config.batch, configKeys.batch, "batch", file);
}
