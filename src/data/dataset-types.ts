/**
 * The types every dataset shares (a model input, a batch, the dataset interface, an input's layout), in a file of
 * their own: the readers (array-dataset.ts, random-dataset.ts, merged-dataset.ts) and the opener (dataset.ts)
 * all use them, and none has to import another for a type.
 */
import type { InputData } from "./convert.ts";

/** How a dataset feeds one input: its batch axis (null: none, the same value in every run) and whether it varies per sample. */
export interface InputLayout {
  batchAxis: number | null;
  /** True when the value differs per sample (false: one value broadcast to every sample). */
  varies: boolean;
}

/** A model input as the dataset needs it. */
export interface ModelInputInfo {
  name: string;
  /** ONNX DataType code. */
  elemType: number;
  /** Dims; `null` or a string (symbolic name) = dynamic. */
  shape: (number | string | null)[];
}

/** One batch: per input, the data in the input's element type (fp16/bf16 as Uint16Array bits, bool as Uint8Array). */
export interface Batch {
  [input: string]: { data: InputData; dims: number[]; elemType: number };
}

/** Calibration samples, read batch by batch. */
export interface CalibrationDataset {
  /** Number of samples. */
  readonly count: number;
  readonly inputs: readonly string[];
  /**
   * Samples [start, start+size) as one batch, each input in the model's layout (samples stacked on its batch axis;
   * an input without one gets its value as-is); data converted to the model input's elem type. Must not hold more
   * than that batch in memory.
   */
  batch(start: number, size: number): Batch;
  /**
   * Optional: hand a consumed batch back so the next batch of the same size reuses its arrays instead of
   * allocating (keeps peak memory at ~one batch instead of waiting for GC). Do not touch `batch` afterwards.
   */
  release?(batch: Batch): void;
  /** Optional: how an input is fed (default: samples on axis 0, varying per sample). */
  layout?(input: string): InputLayout;
  /** Optional: one line per input saying how it is fed (logged at info level). */
  describe?(): string[];
  /** Release files (and temp files). */
  close(): void;
}

/** The layout of `input` in `ds` (datasets without `layout` stack every input on axis 0). */
export function layoutOf(ds: CalibrationDataset, input: string): InputLayout {
  return ds.layout?.(input) ?? { batchAxis: 0, varies: true };
}
