/**
 * The global options every plugin sees (the CLI flags and config keys). Plugin-specific settings go to the
 * plugin's factory instead.
 */
import type { DataSource, InputValue, SampleAxisSpec } from "./dataset.ts";

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
  /**
   * Calibration data: a file or folder path, values per input name (arrays, scalars, .npy paths), or a dataset
   * object. Also feeds the INT4 sensitivity probe and the fidelity validator.
   */
  data?: DataSource;
  /** Values per input (`--input sr=16000`), taking precedence over `data`; constants are fed as-is to every run. */
  inputs?: Record<string, InputValue>;
  /** Sample (batch) axis per input (`--sample-axis state=1`); `"none"` for an input fed as-is. Default: inferred. */
  sampleAxis?: Record<string, SampleAxisSpec>;
  /**
   * Sample count (the data must have that many; unset = all of it, configs may say `"all"`), batch size, shapes for
   * random data, seed.
   */
  samples?: number;
  batchSize: number;
  shapes?: Record<string, number[]>;
  seed: number;
  /** Calibration method shortcut (picks the calibrator plugin). */
  method?: string;
  percentile?: number;
  /** Load ranges/states instead of running inference; save them after calibration. */
  statsIn?: string;
  statsOut?: string;
  /** Preprocessing for a folder of images: a preset name (`imagenet`) or options (resize, crop, mean, std, layout). */
  images?: string | Record<string, unknown>;
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
}

/** Defaults for every option. */
export const defaultOptions: QuantOptions = {
  bits: 8,
  nativeInt4: false,
  activationType: "uint8",
  clipSearch: false,
  exclude: [],
  minElements: 0,
  layerBits: {},
  batchSize: 1,
  seed: 0,
};
