/**
 * Plugin types of the pipeline: load ─► prepare ─► calibrate ─► quantize ─► pack ─► export ─► validate.
 * A plugin is a plain object made by a `define*` helper; data moves between phases only through return values.
 */
import type { AccuracySearchSummary } from "./accuracy.ts";
import type { GranularityLabel } from "../tensor/granularity.ts";
export type { GranularityLabel };
import type { ConsolaInstance } from "consola";
import type { Model } from "../onnx/model.ts";
import type { TensorProto } from "../onnx/types.ts";
import type { QuantOptions } from "./options.ts";
import type { RunData } from "./dataset.ts";

/** The kinds of plugin, in pipeline order. */
export type PluginKind = "pass" | "calibrator" | "quantizer" | "packer" | "exporter" | "validator";

/** A closed float range of an activation or weight. */
export interface Range {
  readonly min: number;
  readonly max: number;
}
/** Ranges by tensor name. */
export type RangeMap = Map<string, Range>;

/** What every hook receives besides its data. */
export interface PluginContext {
  /** consola logger tagged with the plugin name. Logs go to stderr. */
  readonly logger: ConsolaInstance;
  /** Resolved global options (bits, per-channel, exclude, …); the data options are not among them: see `data`. */
  readonly options: QuantOptions;
  /**
   * The run's calibration/evaluation data (`--data`, `--input`, random samples of `--shape`), opened by the runner
   * on request and closed by it after the run. Set by the runner; absent in a context built by hand (tests).
   */
  readonly data?: RunData;
  /** Report progress of a long step; the CLI shows a bar (or plain lines when not on a TTY). */
  progress(done: number, total: number, label?: string): void;
  /** Mark the tensor/node being worked on so a failure names it. */
  at(target: string | undefined): void;
}

interface PluginBase<K extends PluginKind> {
  readonly kind: K;
  /** Unique name within its kind, e.g. `percentile`. */
  readonly name: string;
  /** The options the factory was called with (shown by `--dry-run`). */
  readonly options?: Readonly<Record<string, unknown>>;
  /** Called before the first phase, in chain order. */
  setup?(ctx: PluginContext): void | Promise<void>;
  /** Called after the run (also after a failure), in reverse chain order. */
  cleanup?(ctx: PluginContext): void | Promise<void>;
}

/** A graph pass run in the prepare phase (normalization, folding, opset conversion). Mutates or returns the model. */
export interface PassPlugin extends PluginBase<"pass"> {
  run(model: Model, ctx: PluginContext): void | Model | Promise<void | Model>;
}

/**
 * One observation of an activation tensor for one sample. `min`/`max` are exact (reduced inside the graph over every
 * element). `values` is only given to calibrators that need it, as a multiset: for large rank-4 activations (over 16Ki
 * elements per sample) a deterministic strided spatial subsample, in unspecified (possibly channel-blocked) order.
 */
export interface Observation {
  readonly tensor: string;
  readonly min: number;
  readonly max: number;
  /** The values (a view that is reused after `observe` returns: copy what you keep). */
  readonly values?: Float32Array;
  /** Dims of the exposed values (the subsample's, not the activation's, when subsampled). */
  readonly dims?: readonly number[];
}

/** The mergeable state of a calibrator. Memory must not grow with the number of samples. */
export interface CalibratorState {
  observe(o: Observation): void;
  /** Fold another state of the same calibrator (a shard, another worker) into this one. */
  merge(other: CalibratorState): void;
  /** Ranges per observed tensor. */
  finalize(): RangeMap;
  /** A JSON-serializable form of the state (`--stats-out`), restorable by `restore`. */
  toJSON(): unknown;
}

/** Calibrators observe activations and return a range per tensor. */
export interface CalibratorPlugin extends PluginBase<"calibrator"> {
  /** `minmax`: only per-batch min/max are needed (reduced inside the graph); `values`: whole tensors are streamed. */
  readonly needs: "minmax" | "values";
  create(ctx: PluginContext): CalibratorState;
  restore?(json: unknown, ctx: PluginContext): CalibratorState;
}

/** Integer element types a quantizer produces. */
export type IntType = "int4" | "uint4" | "int8" | "uint8" | "int16" | "uint16" | "int32";
/** Integer values, one per element (4-bit values unpacked, one per byte). */
export type IntArray = Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array;

/** An integer tensor a quantizer placed in the graph, waiting for a packer to encode its storage. */
export interface PendingTensor {
  /** The TensorProto already inserted in its graph (name and dims set); the packer sets data_type and raw_data. */
  readonly tensor: TensorProto;
  readonly values: IntArray;
  readonly type: IntType;
  readonly role: "weight" | "zero_point" | "bias" | "activation";
}


/** One decision of a quantizer, for the summary and `--format json`. */
export interface ReportEntry {
  /** Tensor (weight or activation) name. */
  tensor: string;
  action: "quantized" | "skipped";
  reason?: string;
  kind?: "weight" | "activation";
  node?: string;
  opType?: string;
  /** Data-movement ops between a weight and `node` (e.g. "Slice → Transpose"); the DequantizeLinear sits before them. */
  via?: string;
  type?: IntType;
  granularity?: GranularityLabel;
  elements?: number;
  bytesBefore?: number;
  bytesAfter?: number;
  /** Reconstruction SQNR of the weight in dB. */
  sqnrDb?: number;
  /** Relative reconstruction error of the weight, ||w - ŵ|| / ||w||. */
  relError?: number;
}

/** What a quantizer returns. */
export interface QuantizeResult {
  pending: PendingTensor[];
  entries: ReportEntry[];
  /** Lowest default-domain opset the rewritten graph needs (13 for per-channel axis, 21 for block_size). */
  minOpset?: number;
  /** Sentences for the summary about what was done to the model as a whole (e.g. a float16 model's handling). */
  notes?: string[];
}

/**
 * What a quantizer's output will need, declared before anything runs so the kernel can convert the model once, first,
 * to the lowest default-domain opset that serves (and calibration sees the same graph as the quantizer).
 */
export interface QuantizerRequirements {
  /** Lowest default-domain opset of the rewritten graph: 10 per-tensor Q/DQ, 13 per-axis, 19 float16 scales, 21 block-wise / 4-bit. */
  readonly opset: number;
  /** Why, for the summary and `config --dry-run` (e.g. "per-channel weights"). */
  readonly reason?: string;
  /** Integer types the quantizer may hand to packers (packers may need a higher opset to store them). */
  readonly types?: readonly IntType[];
}

/** Quantizers decide what gets quantized and how, and rewrite the graph with Q/DQ. */
export interface QuantizerPlugin extends PluginBase<"quantizer"> {
  /**
   * Called first, before any pass, on the model as loaded: what the output will need given the options. Throw here
   * to refuse a model up front (e.g. `E_QUANT_ALREADY`). Without it the kernel can only convert after the rewrite,
   * which fails for ops the model's opset lacks.
   */
  requires?(model: Model, ctx: PluginContext): QuantizerRequirements | Promise<QuantizerRequirements>;
  /** Activation tensors whose ranges this quantizer needs (static quantization); none for weight-only. */
  activations?(model: Model, ctx: PluginContext): string[] | Promise<string[]>;
  quantize(model: Model, input: { ranges: RangeMap }, ctx: PluginContext): QuantizeResult | Promise<QuantizeResult>;
}

/** What a graph-level packer did: the pending tensors it consumed (no per-tensor packer sees them again). */
export interface GraphPackResult {
  packed: readonly PendingTensor[];
  /** Lowest default-domain opset its output needs. */
  minOpset?: number;
  /** Decisions to add to the run's report (a packer that quantizes weights itself, like `bnb4`). */
  entries?: readonly ReportEntry[];
}

/** Packers encode pending integer tensors into storage. The first packer in the chain that accepts a tensor packs it. */
export interface PackerPlugin extends PluginBase<"packer"> {
  /**
   * Optional, run first (in chain order) with the whole model: packers whose storage is an operator rather than a
   * tensor type (MatMulNBits, MatMulBnb4) rewrite the DequantizeLinear → MatMul pairs they take here.
   */
  packGraph?(model: Model, pending: readonly PendingTensor[], ctx: PluginContext): GraphPackResult | Promise<GraphPackResult>;
  accepts(t: PendingTensor, ctx: PluginContext): boolean;
  /**
   * The opset the storage of `type` needs, or undefined when this packer does not take that type — asked before
   * anything runs for each type the quantizers declare (first packer in the chain answering decides, like `accepts`).
   */
  minOpset?(type: IntType, ctx: PluginContext): number | undefined;
  /** Set `t.tensor.data_type` and `raw_data`; return the opset the storage type needs. */
  pack(t: PendingTensor, ctx: PluginContext): { minOpset?: number } | void;
}

/** A file an exporter produces. The kernel writes `data` atomically; `write` must be atomic itself (see writeFilesAtomic). */
export type Artifact =
  | { readonly path: string; readonly kind: string; readonly data: Uint8Array | string }
  | { readonly path: string; readonly kind: string; write(path: string): { bytes: number } };

/** Everything the run has produced so far, given to exporters and validators. */
export interface RunState {
  readonly original: Model;
  readonly model: Model;
  readonly ranges: RangeMap;
  readonly entries: readonly ReportEntry[];
  readonly pending: readonly PendingTensor[];
  /** Calibrator states after calibration (for stats exporters). */
  readonly calibration?: { readonly plugin: string; readonly state: CalibratorState }[];
  /** The accuracy search's result and decisions, when the run had an accuracy target. */
  readonly accuracySearch?: AccuracySearchSummary;
}

/** Exporters turn the result into files. */
export interface ExporterPlugin extends PluginBase<"exporter"> {
  export(state: RunState, ctx: PluginContext): Artifact[] | Promise<Artifact[]>;
}

/** A finding of a validator. */
export interface Diagnostic {
  level: "error" | "warning" | "info";
  code: string;
  message: string;
  target?: string;
  metrics?: Record<string, number>;
}

/** Validators check the result and return diagnostics; an `error` fails the run. */
export interface ValidatorPlugin extends PluginBase<"validator"> {
  validate(state: RunState, ctx: PluginContext): Diagnostic[] | Promise<Diagnostic[]>;
}

/** Any plugin. */
export type Plugin = PassPlugin | CalibratorPlugin | QuantizerPlugin | PackerPlugin | ExporterPlugin | ValidatorPlugin;

type Def<P extends Plugin> = Omit<P, "kind">;
/** Define a graph pass. */
export const definePass = (p: Def<PassPlugin>): PassPlugin => ({ kind: "pass", ...p });
/** Define a calibrator. */
export const defineCalibrator = (p: Def<CalibratorPlugin>): CalibratorPlugin => ({ kind: "calibrator", ...p });
/** Define a quantizer. */
export const defineQuantizer = (p: Def<QuantizerPlugin>): QuantizerPlugin => ({ kind: "quantizer", ...p });
/** Define a packer. */
export const definePacker = (p: Def<PackerPlugin>): PackerPlugin => ({ kind: "packer", ...p });
/** Define an exporter. */
export const defineExporter = (p: Def<ExporterPlugin>): ExporterPlugin => ({ kind: "exporter", ...p });
/** Define a validator. */
export const defineValidator = (p: Def<ValidatorPlugin>): ValidatorPlugin => ({ kind: "validator", ...p });
/** Define any plugin (the `kind` field says which). */
export const definePlugin = <P extends Plugin>(p: P): P => p;
