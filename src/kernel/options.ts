/**
 * The global options every plugin sees (the CLI flags and config keys), and apart from them the run's data options
 * (calibration/evaluation data, stats files): those are read by the runner, which opens the data and hands it to
 * plugins through `ctx.data`, so no plugin gets paths in its options. Plugin-specific settings go to the plugin's
 * factory instead.
 */
import type { RunDataSource } from "./dataset.ts";
import type { SearchBudget } from "./accuracy.ts";

/** Resolved options of one quantization run. */
export interface QuantOptions {
  /** Default weight bit width. */
  bits: 8 | 4;
  /** Per-channel weight quantization (axis chosen by the consumer op). Unset: the quantizer's default (weight-only: per-tensor, static-qdq: per-channel). */
  perChannel?: boolean;
  /** Block-wise weight quantization along the reduction axis (opset 21). */
  blockSize?: number;
  /** Symmetric weights (zero point 0). Undefined lets the quantizer pick its default. */
  symmetric?: boolean;
  /** Store INT4 as native opset-21 Int4/UInt4 (two per byte) rather than widened to 8 bits. */
  nativeInt4: boolean;
  /** Weight storage signedness for 8-bit. */
  weightType?: "int8" | "uint8";
  /** Activation type for static quantization. */
  activationType: "uint8" | "int8";
  /** Search per-channel/per-block clipping that minimizes reconstruction MSE. */
  clipSearch: boolean;
  /** Names (exact or glob) of weights, nodes or activations to keep float. */
  exclude: string[];
  /** Op types whose inputs get quantized (default: the quantizer's own list). */
  opTypes?: string[];
  /** Op types whose inputs stay float (a block list, applied after `opTypes`). */
  opTypesExclude?: string[];
  /** Tensors with fewer elements stay float. */
  minElements: number;
  /** Per-layer bit widths by name or glob. */
  layerBits: Record<string, number>;
  /** Pin the output's default-domain opset. */
  opset?: number;
  /** Output model path. */
  output?: string;
  /** Calibration method shortcut (picks the calibrator plugin). */
  method?: string;
  percentile?: number;
  /** Samples per inference batch (calibration). */
  batchSize: number;
  /** Save with external data. */
  externalData?: boolean;
  /**
   * Treat initializers that are also listed as graph inputs (IR ≥ 4: overridable defaults) as constants: quantize
   * them and drop them from the output's inputs. Before IR 4 they are constants anyway.
   */
  inputsAsConstants?: boolean;
  /** Load the staged output in onnxruntime-node before publishing it (default true; the structural check always runs). */
  ortCheck?: boolean;
  /** Skip the onnxruntime-node check above this size of model + data (default: a quarter of RAM, at most 2 GiB). */
  ortCheckMaxBytes?: number;
  /** Worker threads for weight quantization (default: the machine's cores). The output's bytes do not depend on it. */
  threads?: number;
  /**
   * Above this many bytes of float weights to quantize, weights are quantized tensor by tensor and their results kept
   * on disk until saved (memory: a few tensors). Default 256 MiB; 0 streams every model with external data readers.
   */
  streamAbove?: number;
  /**
   * Accuracy target (src/accuracy/): the least output SQNR in dB against the float model (on pre-activation logits
   * where an output is a Sigmoid/Softmax) — nodes are kept float (INT4: at 8 bits) until the model meets it.
   */
  targetSqnr?: number;
  /** Accuracy target: the largest top-1 accuracy drop against the float model on `labels` (0.01 = one point). */
  targetAccuracy?: number;
  /** Labels of the evaluation samples (`.npy` of class indices) for `targetAccuracy`. */
  labels?: string;
  /** Evaluation data of the accuracy target; default a held-out split of `data` (never the calibration samples). */
  evalData?: string;
  /** Bound of the accuracy search: seconds of wall time or onnxruntime sessions. */
  searchBudget?: SearchBudget;
}

/** Defaults of the plugins' options. */
const defaultQuantOptions: QuantOptions = {
  bits: 8,
  nativeInt4: false,
  activationType: "uint8",
  clipSearch: false,
  exclude: [],
  minElements: 0,
  layerBits: {},
  batchSize: 1,
};

/**
 * The run's data options (the `--data`, `--input`, `--sample-axis`, `--samples`, `--shape`, `--seed`,
 * `--image-preset`, `--stats-in`/`--stats-out` flags and config keys): read by the runner, never put in a plugin's
 * `ctx.options`. Plugins get the data through `ctx.data` ({@link RunData}).
 */
export interface DataOptions extends RunDataSource {
  /** Load ranges/states instead of running inference (`--stats-in`); save them after calibration (`--stats-out`). */
  statsIn?: string;
  statsOut?: string;
}

/** What a run is given: the plugins' options and the runner's data options (one config or CLI layer holds both). */
export type RunOptions = QuantOptions & DataOptions;

/** Every data option key, compile-time complete: what {@link splitRunOptions} takes out of the plugins' options. */
const DATA_KEYS: { readonly [K in keyof Required<DataOptions>]: true } = {
  data: true, inputs: true, sampleAxis: true, samples: true, shapes: true, seed: true, images: true, statsIn: true, statsOut: true,
};

/** Defaults for every option (the data options' `seed: 0` included). */
export const defaultOptions: RunOptions = { ...defaultQuantOptions, seed: 0 };

/** Split run options into the plugins' options and the runner's data options (defaults filled in both). */
export function splitRunOptions(given: Partial<RunOptions> = {}): { options: QuantOptions; data: DataOptions } {
  const options: Record<string, unknown> = { ...defaultQuantOptions };
  const data: Record<string, unknown> = { seed: 0 };
  for (const [k, v] of Object.entries(given)) (k in DATA_KEYS ? data : options)[k] = v;
  return { options: options as unknown as QuantOptions, data: data as unknown as DataOptions };
}
