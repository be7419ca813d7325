/**
 * The config file format: the CLI flags as keys (camelCase or snake_case), a `models` list, a `batch` section,
 * and the plugin chain. The seed's YAML format works as-is.
 */
import type { Plugin } from "../kernel/types.ts";
import type { QuantOptions } from "../kernel/options.ts";

/** A plugin entry in a config: a registry name, `[name, options]`, a file path (`./my-plugin.ts`), a plugin object, or `"!name"` to remove an inherited entry. `"$reset"` as the first entry drops everything inherited. */
export type PluginSpec = string | [string, Record<string, unknown>?] | Plugin;

/** One model to quantize. Any option may be overridden per model. */
export interface ModelEntry extends Partial<QuantOptions> {
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
export interface QuantConfig extends Partial<QuantOptions> {
  /** Presets or other config files to inherit from (built-in: cnn, transformer, transformers-js, int4-weights). */
  extends?: string | string[];
  /** The plugin chain, in order. */
  plugins?: PluginSpec[];
  models?: ModelEntry[];
  batch?: BatchSection;
  /** Model family hint (presets set it). */
  family?: string;
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
