/**
 * Flag definitions shared by commands, and their translation into options. Only flags the user actually gave
 * override the config file; repeatable flags (--exclude, --layer-bits) are read from the raw argv because
 * citty keeps only the last value.
 */
import { statSync } from "node:fs";
import type { ArgsDef } from "citty";
import { QuantError } from "../errors/errors.ts";
import type { RunOptions } from "../kernel/options.ts";
import type { SampleAxisSpec } from "../data/layout.ts";
import { parseInputFlags } from "../data/values.ts";
import { namesOfKind } from "../config/registry.ts";
import { builtinPlugins } from "./registry.ts";
import { targetOptionsFromArgs } from "./target-args.ts";

/** --format/--quiet/--debug. */
export const globalArgs = {
  format: { type: "string", description: "Output format: human | json (json: only JSON on stdout)", valueHint: "human|json" },
  quiet: { type: "boolean", alias: "q", description: "Only errors on stderr" },
  debug: { type: "boolean", description: "Verbose logs and stack traces" },
} as const satisfies ArgsDef;

/** Config and preset selection. */
export const configArgs = {
  config: { type: "string", alias: "c", description: "Config file (default: quant.config.* in the current folder)" },
  preset: { type: "string", description: `Start from a preset: ${Object.keys(builtinPlugins.presets).join(" | ")}` },
  "no-config": { type: "boolean", description: "Ignore quant.config.* in the current folder" },
  "trust-config": { type: "boolean", description: "Allow a .ts/.js quant.config in the current folder to run (also QUANT_TRUST_CONFIG=1)" },
} as const satisfies ArgsDef;

/** Config-loading choices from the flags: `--no-config` (citty also reads it as `config: false`), `--trust-config`. */
export function configChoice(args: Record<string, unknown>): { file?: string; noConfig: boolean; trust?: boolean } {
  const file = typeof args.config === "string" ? args.config : undefined;
  return { file, noConfig: args.config === false || args["no-config"] === true, trust: args["trust-config"] === true ? true : undefined };
}

/** Weight quantization flags (quantize, calibrate, batch). */
export const weightArgs = {
  bits: { type: "string", alias: "b", description: "Weight bit width: 8 | 4 (default 8)", valueHint: "8|4" },
  "per-channel": { type: "boolean", description: "Per-channel weights, axis chosen by the consumer op (default for calibrate; --no-per-channel for per-tensor)" },
  "block-size": { type: "string", description: "Block-wise weights along the reduction axis (opset 21)", valueHint: "N" },
  symmetric: { type: "boolean", description: "Symmetric weights, zero point 0 (the default; --no-symmetric for asymmetric)" },
  "native-int4": { type: "boolean", description: "Store INT4 as opset-21 Int4/UInt4 (two per byte)" },
  "weight-type": { type: "string", description: "8-bit weight type: int8 | uint8" },
  "clip-search": { type: "boolean", description: "Search clipping per channel/block minimizing reconstruction MSE" },
  exclude: { type: "string", alias: "x", description: "Keep a weight/node/activation float (exact or glob; repeatable)", valueHint: "NAME" },
  "op-types": { type: "string", description: "Quantize inputs of these op types only (comma list)", valueHint: "T,…" },
  "op-types-exclude": { type: "string", description: "Keep inputs of these op types float (comma list)", valueHint: "T,…" },
  "min-elements": { type: "string", description: "Tensors with fewer elements stay float", valueHint: "N" },
  "layer-bits": { type: "string", description: "Per-layer bits, NAME=BITS (glob; repeatable)", valueHint: "L=B" },
  opset: { type: "string", description: "Pin the output's default-domain opset", valueHint: "N" },
  "external-data": { type: "boolean", description: "Save tensor data to <output>.<hash>.data beside the model" },
  "ort-check": { type: "boolean", description: "Load the output in onnxruntime-node before writing it (default on; --no-ort-check skips it)" },
  threads: { type: "string", description: "Worker threads for weight quantization (default: every core; the output does not depend on it)", valueHint: "N" },
  "inputs-as-constants": { type: "boolean", description: "Initializers also listed as graph inputs are constants: quantize them, drop them from the inputs (default: when every initializer is listed; --no-inputs-as-constants keeps them overridable)" },
} as const satisfies ArgsDef;

/** Calibration flags. */
export const calibArgs = {
  data: { type: "string", alias: "d", description: "Calibration data: .npy, .npz, .safetensors or an image folder", valueHint: "FILE|DIR" },
  method: { type: "string", alias: "m", description: `Range method: ${[...namesOfKind(builtinPlugins, "calibrator")].join(" | ")} (default minmax)` },
  percentile: { type: "string", description: "Percentile for --method percentile (default 99.99)", valueHint: "P" },
  samples: { type: "string", alias: "n", description: "Use N calibration samples (the data must have them) or all", valueHint: "N|all" },
  "batch-size": { type: "string", description: "Samples per inference batch (default 1)", valueHint: "B" },
  "image-preset": { type: "string", description: "Preprocessing for an image folder: imagenet | inception | unit", valueHint: "NAME" },
  "activation-type": { type: "string", description: "Activation type: uint8 | int8 (default uint8)" },
  shape: { type: "string", description: "Input shape for random data, e.g. 1x3x224x224 or input=1x3x224x224 (repeatable)", valueHint: "SHAPE" },
  input: { type: "string", description: "Value of one input, fed to every sample: NAME=NUMBER, NAME=1,2,3, NAME=true or NAME=file.npy (repeatable)", valueHint: "NAME=VALUE" },
  "sample-axis": { type: "string", description: "Axis of an input along which samples run, NAME=AXIS or NAME=none (repeatable; default inferred)", valueHint: "NAME=AXIS" },
  seed: { type: "string", description: "Seed for random data (default 0)" },
  "stats-out": { type: "string", description: "Save ranges and calibrator states to a JSON file", valueHint: "FILE" },
  "stats-in": { type: "string", description: "Load ranges from a JSON file instead of running inference", valueHint: "FILE" },
} as const satisfies ArgsDef;

/** All values of a repeatable flag in argv (`--x a --x b`, `--x=a`, `-x a`). */
export function repeated(raw: readonly string[], long: string, short?: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i++) {
    const a = raw[i]!;
    if (a === `--${long}` || (short && a === `-${short}`)) {
      if (i + 1 < raw.length) out.push(raw[++i]!);
    } else if (a.startsWith(`--${long}=`)) out.push(a.slice(long.length + 3));
  }
  return out;
}

const int = (v: unknown, flag: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || !Number.isInteger(n)) throw new QuantError("E_USAGE", `--${flag} must be an integer (got ${v})`);
  return n;
};

const positive = (v: unknown, flag: string, alt = "") => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new QuantError("E_USAGE", `--${flag} must be a positive integer${alt} (got ${v})`);
  return n;
};

/** Parse `1x3x224x224` / `input=1x3x224x224` shapes. */
export function parseShapes(values: string[]): Record<string, number[]> | undefined {
  if (!values.length) return undefined;
  const out: Record<string, number[]> = {};
  for (const v of values) {
    const [name, dims] = v.includes("=") ? (v.split("=", 2) as [string, string]) : ["*", v];
    const parsed = dims.split(/[x,]/).map((d) => int(d, "shape"));
    if (!parsed.length || parsed.some((d) => d <= 0)) throw new QuantError("E_USAGE", `--shape ${v}: dims must be positive integers`);
    out[name] = parsed;
  }
  return out;
}

/** Parse `--sample-axis state=1` / `sr=none` values. */
export function parseSampleAxes(values: string[]): Record<string, SampleAxisSpec> | undefined {
  if (!values.length) return undefined;
  const out: Record<string, SampleAxisSpec> = {};
  for (const v of values) {
    const eq = v.lastIndexOf("=");
    const name = v.slice(0, eq);
    const axis = v.slice(eq + 1).trim().toLowerCase();
    if (eq <= 0 || !(axis === "none" || /^-?\d+$/.test(axis))) throw new QuantError("E_USAGE", `--sample-axis expects NAME=AXIS or NAME=none (got ${v})`);
    out[name] = axis === "none" ? "none" : Number(axis);
  }
  return out;
}

/** `--input` and `--sample-axis` (calibrate, quantize, validate). */
export function dataOptionsFromArgs(raw: readonly string[]): Pick<RunOptions, "inputs" | "sampleAxis"> {
  const o: Pick<RunOptions, "inputs" | "sampleAxis"> = {};
  const inputs = parseInputFlags(repeated(raw, "input"));
  if (inputs) o.inputs = inputs;
  const axes = parseSampleAxes(repeated(raw, "sample-axis"));
  if (axes) o.sampleAxis = axes;
  return o;
}

/** Options given explicitly on the command line. */
export function optionsFromArgs(args: Record<string, unknown>, raw: readonly string[]): Partial<RunOptions> {
  const o: Partial<RunOptions> = {};
  const str = (k: string) => (args[k] === undefined ? undefined : String(args[k]));
  if (str("bits") !== undefined) o.bits = int(args.bits, "bits") as 8 | 4;
  if (args["per-channel"] !== undefined) o.perChannel = !!args["per-channel"];
  if (str("block-size") !== undefined) o.blockSize = int(args["block-size"], "block-size");
  if (args.symmetric !== undefined) o.symmetric = !!args.symmetric;
  if (args["native-int4"] !== undefined) o.nativeInt4 = !!args["native-int4"];
  if (str("weight-type") !== undefined) o.weightType = str("weight-type") as "int8" | "uint8";
  if (args["clip-search"] !== undefined) o.clipSearch = !!args["clip-search"];
  const exclude = repeated(raw, "exclude", "x");
  if (exclude.length) o.exclude = exclude;
  if (str("op-types") !== undefined) o.opTypes = str("op-types")!.split(",").map((s) => s.trim()).filter(Boolean);
  if (str("op-types-exclude") !== undefined) o.opTypesExclude = str("op-types-exclude")!.split(",").map((s) => s.trim()).filter(Boolean);
  if (str("min-elements") !== undefined) o.minElements = int(args["min-elements"], "min-elements");
  const lb = repeated(raw, "layer-bits");
  if (lb.length) {
    o.layerBits = {};
    for (const e of lb) {
      const eq = e.lastIndexOf("=");
      if (eq <= 0) throw new QuantError("E_USAGE", `--layer-bits expects NAME=BITS (got ${e})`);
      o.layerBits[e.slice(0, eq)] = int(e.slice(eq + 1), "layer-bits");
    }
  }
  if (str("opset") !== undefined) o.opset = int(args.opset, "opset");
  if (args["external-data"] !== undefined) o.externalData = !!args["external-data"];
  if (args["inputs-as-constants"] !== undefined) o.inputsAsConstants = !!args["inputs-as-constants"];
  if (args["ort-check"] === false) o.ortCheck = false;
  if (str("threads") !== undefined) o.threads = positive(args.threads, "threads");
  if (str("data") !== undefined) o.data = str("data");
  if (str("method") !== undefined) o.method = str("method");
  if (str("percentile") !== undefined) {
    o.percentile = Number(args.percentile);
    if (!(o.percentile > 0 && o.percentile <= 100)) throw new QuantError("E_USAGE", `--percentile must be in (0, 100] (got ${args.percentile})`);
  }
  // `all` is spelled out (an explicit undefined) so it also overrides a count from a config file.
  if (str("samples") !== undefined) o.samples = str("samples") === "all" ? undefined : positive(args.samples, "samples", " or all");
  if (str("batch-size") !== undefined) o.batchSize = positive(args["batch-size"], "batch-size");
  if (str("image-preset") !== undefined) o.images = str("image-preset");
  if (str("activation-type") !== undefined) o.activationType = str("activation-type") as "uint8" | "int8";
  const shapes = parseShapes(repeated(raw, "shape"));
  if (shapes) o.shapes = shapes;
  Object.assign(o, dataOptionsFromArgs(raw));
  if (str("seed") !== undefined) o.seed = int(args.seed, "seed");
  if (str("stats-out") !== undefined) o.statsOut = str("stats-out");
  if (str("stats-in") !== undefined) o.statsIn = str("stats-in");
  Object.assign(o, targetOptionsFromArgs(args));
  return o;
}

/** `--image-preset` only means something for an image folder: refuse it with other data rather than ignore it. */
export function checkImagePreset(preset: unknown, data: string | undefined): void {
  if (preset === undefined) return;
  let dir = false;
  try {
    dir = data !== undefined && statSync(data).isDirectory();
  } catch {
    return; // a missing --data is reported by the data reader, with its own code
  }
  if (!dir) throw new QuantError("E_USAGE", `--image-preset applies to a folder of images given with --data (${data === undefined ? "no --data given" : `${data} is a file`})`);
}
