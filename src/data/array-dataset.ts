/**
 * A calibration dataset over stored arrays (one per model input): fits each array to its input once, at open
 * (samples on the input's batch axis, one per row, one sample repeated, or a value fed as-is: layout.ts), then serves
 * batches in the model's layout by reading only the requested samples and converting them to the input's type.
 * Holds one batch's raw bytes (reused) plus the batch it returns; broadcast values are converted once.
 */
import { QuantError } from "../errors/errors.ts";
import { DataType } from "../tensor/dtypes.ts";
import { allocInput, convertRaw, type InputData } from "./convert.ts";
import type { Batch, CalibrationDataset, ModelInputInfo } from "./dataset-types.ts";
import { agreeCounts, batchDims, describeShape, type Fit, fitData, type InputLayout, moveAxis0, type SampleAxisSpec, tileAxis } from "./layout.ts";
import { product, RowReader, type StoredArray } from "./rows.ts";
import { Scratch } from "./source.ts";

export { describeShape } from "./layout.ts";

/** One model input bound to the array that feeds it. */
export interface Binding {
  input: ModelInputInfo;
  array: StoredArray;
  /** File named in errors (or where the value came from, e.g. `--input sr`). */
  file: string;
  /** The user's sample axis for this input; undefined: inferred from the declared shape (see `inferBatchAxis`). */
  axis?: SampleAxisSpec;
  /** The declared shape's batch axis (default: 0, none for a scalar). */
  inferred?: number | null;
}

/** A binding with its fit and, for broadcast values, the value converted once. */
interface Bound extends Binding {
  fit: Fit;
  /** `constant`: the value fed as-is; `one`: the single sample, tiled per batch. */
  value?: InputData;
}

/** Batches over stored arrays. `onClose` releases the files (and temp files) behind them. */
export class ArrayDataset implements CalibrationDataset {
  readonly count: number;
  readonly inputs: readonly string[];
  /** True when some input differs per sample (false: every input is one value broadcast to every sample). */
  readonly perSample: boolean;
  private readonly bound: Bound[];
  private readonly readers: RowReader[];
  private readonly scratch = new Scratch();
  private readonly pool = new BatchPool();

  /** `broadcastCount`: the count when no input varies per sample (default 1). */
  constructor(
    bindings: readonly Binding[],
    take: { samples?: number; maxSamples?: number },
    private readonly onClose: () => void,
    broadcastCount = 1,
  ) {
    this.inputs = bindings.map((b) => b.input.name);
    this.bound = bindings.map((b) => {
      const inferred = b.inferred === undefined ? (b.input.shape.length ? 0 : null) : b.inferred;
      return { ...b, fit: fitData(b.input, b.array.shape, b.axis, inferred, b.file) };
    });
    this.readers = bindings.map(() => new RowReader());
    let varying = this.bound.filter((b) => b.fit.count !== undefined);
    if (varying.some((b) => b.fit.count !== varying[0]!.fit.count)) {
      const agreed = agreeCounts(this.bound.map((b) => ({ input: b.input, data: b.array.shape, fit: b.fit, given: b.axis !== undefined })));
      if (!agreed) {
        const list = varying.map((b) => `'${b.input.name}' has ${b.fit.count}${b.fit.batchAxis === null ? "" : ` along axis ${b.fit.batchAxis}`}`).join(", ");
        throw new QuantError("E_CALIB_SHAPE", `inputs have different sample counts: ${list}; if the samples of an input run along another axis, say so with --sample-axis NAME=AXIS`, { file: bindings[0]?.file });
      }
      agreed.forEach((f, i) => (this.bound[i]!.fit = f));
      varying = this.bound.filter((b) => b.fit.count !== undefined);
    }
    const counts = varying.map((b) => b.fit.count!);
    this.perSample = varying.length > 0;
    const available = this.perSample ? counts[0]! : broadcastCount;
    if (available < 1) throw new QuantError("E_CALIB_SAMPLES", `no calibration samples (data has ${available})`, { file: bindings[0]?.file });
    if (take.samples !== undefined && take.samples > available) throw tooFewSamples(take.samples, available, bindings[0]?.file);
    const limit = take.samples ?? take.maxSamples;
    this.count = limit === undefined ? available : Math.min(available, Math.max(0, Math.floor(limit)));
    if (this.count < 1) throw new QuantError("E_CALIB_SAMPLES", `no calibration samples (asked for ${limit})`, { file: bindings[0]?.file });
    for (const b of this.bound) {
      if (b.fit.kind !== "constant" && b.fit.kind !== "one") continue;
      const rows = b.array.shape.length === 0 ? 1 : b.array.shape[0]!;
      const raw = new RowReader().read(b.array, 0, rows);
      let value = convertRaw(b.array.type, b.input.elemType, raw, { input: b.input.name, file: b.file, firstSample: 0, sampleElems: raw.length }, undefined);
      const n = product(b.fit.sampleDims);
      if (value.length === 1 && n !== 1) {
        // A single number filling a whole sample (`--input state=0`).
        const filled = allocInput(b.input.elemType, n);
        (filled as Float32Array).fill((value as Float32Array)[0]!);
        value = filled;
      }
      b.value = value;
    }
  }

  /** How each input is fed: its batch axis and whether it varies per sample. */
  layout(input: string): InputLayout {
    const b = this.bound.find((x) => x.input.name === input);
    return { batchAxis: b ? b.fit.batchAxis : 0, varies: b ? b.fit.count !== undefined : true };
  }

  /** One line per input: how the data feeds it. */
  describe(): string[] {
    return this.bound.map(({ input, file, fit }) => {
      const what =
        fit.kind === "constant" ? `one value ${describeShape(fit.sampleDims)} fed as-is to every run` :
        fit.kind === "one" ? `one sample ${describeShape(fit.sampleDims)} repeated for every sample (batch axis ${fit.batchAxis})` :
        fit.kind === "rows" ? `${fit.count} samples, ${fit.perRow && fit.perRow > 1 ? `${fit.perRow} (a whole batch)` : "one"} per row${fit.batchAxis === null ? " (no batch axis: one sample per run)" : ` (batch axis ${fit.batchAxis})`}` :
        `${fit.count} samples along axis ${fit.batchAxis}`;
      return `input '${input.name}' ${describeShape(input.shape)}: ${what}, from ${file}`;
    });
  }

  batch(start: number, size: number): Batch {
    checkBatch(this, start, size, this.bound[0]?.file);
    const out: Batch = {};
    for (let i = 0; i < this.bound.length; i++) {
      const b = this.bound[i]!;
      const { input, array, file, fit } = b;
      checkFixedBatch(input, size, file, fit.batchAxis);
      const dims = batchDims(fit, size);
      if (fit.kind === "constant") {
        out[input.name] = { data: b.value!, dims, elemType: input.elemType };
        continue;
      }
      if (fit.kind === "one") {
        // One sample is the value itself (release() never recycles it).
        const data = size === 1 ? b.value! : tiled(b.value!, size, fit, this.pool.take(input.name), input.elemType);
        out[input.name] = { data, dims, elemType: input.elemType };
        continue;
      }
      const axis = fit.batchAxis;
      if (fit.kind === "rows" && axis === null && size > 1)
        throw new QuantError("E_CALIB_SHAPE", `input '${input.name}' has no batch axis and differs per sample: runs take one sample (--batch-size 1)`, { file, target: input.name });
      const k = fit.kind === "rows" ? (fit.perRow ?? 1) : 1;
      if (start % k || size % k)
        throw new QuantError("E_CALIB_SHAPE", `input '${input.name}' holds ${k} samples per row (a whole batch): batches must be whole rows, got [${start}, ${start + size})`, { file, target: input.name });
      let raw = this.readers[i]!.readAxis(array, fit.kind === "samples" ? axis! : 0, start / k, size / k);
      if (fit.kind === "rows" && axis !== null && axis > 0 && size > k) {
        // Rows are [n, ..., k, ...]: the model stacks samples on axis b, so move the row axis there (next to k).
        const rows = size / k;
        const outer = Math.max(1, product(fit.sampleDims.slice(0, axis)));
        const moved = this.scratch.get(raw.length);
        moveAxis0(raw, rows, outer, raw.length / rows / outer, moved);
        raw = moved;
      }
      // With samples along axis b > 0 a sample's elements are not contiguous: errors then name the batch's first sample.
      const per = axis === 0 || fit.kind === "rows" ? product(fit.sampleDims) : product(dims);
      const site = { input: input.name, file, firstSample: start, sampleElems: per };
      out[input.name] = { data: convertRaw(array.type, input.elemType, raw, site, this.pool.take(input.name)), dims, elemType: input.elemType };
    }
    return out;
  }

  release(batch: Batch): void {
    // Broadcast constants are reused as they are: never hand them out as spares to be overwritten.
    const own: Batch = {};
    for (const [k, v] of Object.entries(batch)) if (!this.bound.some((b) => b.value === v.data)) own[k] = v;
    this.pool.give(own);
  }

  close(): void {
    this.onClose();
  }
}

/** `value` (one sample) repeated `n` times along the fit's batch axis, in `into` when it is the right kind and length. */
function tiled(value: InputData, n: number, fit: Fit, into: InputData | undefined, elemType: number): InputData {
  const total = value.length * n;
  const out = into && into.length === total && into.constructor === value.constructor ? into : allocInput(elemType, total);
  const outer = product(fit.sampleDims.slice(0, fit.batchAxis!));
  const src = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  const dst = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  tileAxis(src, n, outer, outer ? value.byteLength / outer : 0, dst);
  return out;
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

/** An input whose batch axis (default 0; null: none) is a fixed number > 1 takes batches of exactly that size. */
export function checkFixedBatch(input: ModelInputInfo, size: number, file?: string, axis: number | null = 0): void {
  if (axis === null) return;
  const b = input.shape[axis];
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
