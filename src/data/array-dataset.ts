/**
 * A calibration dataset over stored arrays (one per model input): checks that each array fits its
 * input once, at open, then serves batches by reading only the requested rows and converting them
 * to the input's type. Holds one batch's raw bytes (reused) plus the batch it returns.
 */
import { QuantError } from "../kernel/errors.ts";
import { DataType } from "../tensor/dtypes.ts";
import { convertRaw, type InputData } from "./convert.ts";
import type { Batch, CalibrationDataset, ModelInputInfo } from "./dataset.ts";
import { product, RowReader, type StoredArray } from "./rows.ts";

/** `[N, 1, 32, 32]`: dynamic dims by name (or `?`). */
export function describeShape(shape: readonly (number | string | null)[]): string {
  return `[${shape.map((d) => (d === null ? "?" : String(d))).join(", ")}]`;
}

/** How stored data maps onto a model input. */
export interface Fit {
  /** The data is one sample (rank = input rank - 1): batches repeat nothing, count is 1. */
  single: boolean;
  /** Samples available along axis 0. */
  count: number;
  /** Dims of one sample (the input's dims after the batch axis). */
  sampleDims: number[];
}

/**
 * Check that data of `shape` fits `input` ([N, ...rest] for an input [B, ...rest], or one sample
 * [...rest]); throws E_CALIB_SHAPE naming the input, the expected and the actual shape.
 */
export function fitShape(input: ModelInputInfo, shape: readonly number[], file?: string): Fit {
  const want = input.shape;
  const mismatch = () =>
    new QuantError("E_CALIB_SHAPE", `input '${input.name}' expects ${describeShape(want)} (samples along axis 0) or one sample ${describeShape(want.slice(1))}, got ${describeShape(shape)}`, {
      file,
      target: input.name,
    });
  const rest = want.slice(1);
  let single: boolean;
  if (want.length === 0) {
    if (shape.length !== 0) throw mismatch();
    return { single: true, count: 1, sampleDims: [] };
  }
  if (shape.length === want.length) single = false;
  else if (shape.length === want.length - 1) single = true;
  else throw mismatch();
  const dataRest = single ? shape : shape.slice(1);
  for (let k = 0; k < rest.length; k++) {
    const w = rest[k];
    if (typeof w === "number" && w >= 0 && w !== dataRest[k]) throw mismatch();
  }
  return { single, count: single ? 1 : shape[0]!, sampleDims: [...dataRest] };
}

/** One model input bound to the array that feeds it. */
export interface Binding {
  input: ModelInputInfo;
  array: StoredArray;
  /** File named in errors. */
  file: string;
}

/** Batches over stored arrays. `onClose` releases the files (and temp files) behind them. */
export class ArrayDataset implements CalibrationDataset {
  readonly count: number;
  readonly inputs: readonly string[];
  private readonly fits: Fit[];
  private readonly readers: RowReader[];
  private readonly pool = new BatchPool();

  constructor(
    private readonly bindings: readonly Binding[],
    take: { samples?: number; maxSamples?: number },
    private readonly onClose: () => void,
  ) {
    this.inputs = bindings.map((b) => b.input.name);
    this.fits = bindings.map((b) => fitShape(b.input, b.array.shape, b.file));
    this.readers = bindings.map(() => new RowReader());
    const counts = this.fits.map((f) => f.count);
    if (counts.some((c) => c !== counts[0])) {
      const list = bindings.map((b, i) => `'${b.input.name}' has ${counts[i]}`).join(", ");
      throw new QuantError("E_CALIB_SHAPE", `inputs have different sample counts: ${list}`, { file: bindings[0]?.file });
    }
    const available = counts[0] ?? 0;
    if (available < 1) throw new QuantError("E_CALIB_SAMPLES", `no calibration samples (data has ${available})`, { file: bindings[0]?.file });
    if (take.samples !== undefined && take.samples > available) throw tooFewSamples(take.samples, available, bindings[0]?.file);
    const limit = take.samples ?? take.maxSamples;
    this.count = limit === undefined ? available : Math.min(available, Math.max(0, Math.floor(limit)));
    if (this.count < 1) throw new QuantError("E_CALIB_SAMPLES", `no calibration samples (asked for ${limit})`, { file: bindings[0]?.file });
  }

  batch(start: number, size: number): Batch {
    checkBatch(this, start, size, this.bindings[0]?.file);
    const out: Batch = {};
    for (let i = 0; i < this.bindings.length; i++) {
      const { input, array, file } = this.bindings[i]!;
      const fit = this.fits[i]!;
      checkFixedBatch(input, size, file);
      const raw = this.readers[i]!.read(array, fit.single ? 0 : start, fit.single ? 1 : size);
      const site = { input: input.name, file, firstSample: start, sampleElems: product(fit.sampleDims) };
      const data = convertRaw(array.type, input.elemType, raw, site, this.pool.take(input.name));
      out[input.name] = { data, dims: input.shape.length === 0 ? [] : [size, ...fit.sampleDims], elemType: input.elemType };
    }
    return out;
  }

  release(batch: Batch): void {
    this.pool.give(batch);
  }

  close(): void {
    this.onClose();
  }
}

/** E_CALIB_SAMPLES for a request of `wanted` samples from data that has `available`. */
export function tooFewSamples(wanted: number, available: number, file?: string): QuantError {
  return new QuantError("E_CALIB_SAMPLES", `asked for ${wanted} samples, the data has ${available}: ask for ${available} or for all (--samples all)`, { file });
}

/** Arrays of released batches, per input, for reuse by the next batch (at most one spare each). */
export class BatchPool {
  private readonly spare = new Map<string, InputData>();
  /** A spare array for `input`, if any (convertRaw checks kind and length and allocates otherwise). */
  take(input: string): InputData | undefined {
    const a = this.spare.get(input);
    this.spare.delete(input);
    return a;
  }
  /** Keep the arrays of a consumed batch as the spares of its inputs. */
  give(batch: Batch): void {
    for (const [name, t] of Object.entries(batch)) this.spare.set(name, t.data);
  }
}

/** E_CALIB_SAMPLES when `[start, start+size)` is not inside the dataset (and names "fewer than one batch"). */
export function checkBatch(ds: CalibrationDataset, start: number, size: number, file?: string): void {
  if (!Number.isInteger(start) || !Number.isInteger(size) || start < 0 || size < 1) {
    throw new QuantError("E_CALIB_SAMPLES", `bad batch [${start}, ${start + size})`, { file });
  }
  if (size > ds.count) throw new QuantError("E_CALIB_SAMPLES", `calibration data has ${ds.count} sample(s), fewer than one batch of ${size}`, { file });
  if (start + size > ds.count) throw new QuantError("E_CALIB_SAMPLES", `batch [${start}, ${start + size}) is past the ${ds.count} samples`, { file });
}

/** An input whose batch axis is a fixed number > 1 takes batches of exactly that size. */
export function checkFixedBatch(input: ModelInputInfo, size: number, file?: string): void {
  const b = input.shape[0];
  if (typeof b === "number" && b > 1 && b !== size) {
    throw new QuantError("E_CALIB_SHAPE", `input '${input.name}' has a fixed batch of ${b} (shape ${describeShape(input.shape)}), got a batch of ${size}: use --batch-size ${b}`, {
      file,
      target: input.name,
    });
  }
}

/** The ONNX input types a dataset can feed (checked when a dataset opens). */
export const FEEDABLE_TYPES: ReadonlySet<number> = new Set([
  DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.BFLOAT16, DataType.INT8, DataType.UINT8, DataType.INT16,
  DataType.UINT16, DataType.INT32, DataType.UINT32, DataType.INT64, DataType.UINT64, DataType.BOOL,
]);
