/**
 * Random calibration data for declared shapes (or the model's static shapes), when the user gives no data.
 * Float inputs get N(0,1) (or uniform [0,1)); integer/bool inputs get uniform integers in a small range.
 * Sample i of input x is a function of (seed, x, i) only, so any batching yields the same values.
 */
import { QuantError } from "../kernel/errors.ts";
import { DataType } from "../tensor/dtypes.ts";
import { BatchPool, checkBatch, checkFixedBatch, describeShape } from "./array-dataset.ts";
import { convertRaw } from "./convert.ts";
import type { Batch, CalibrationDataset, ModelInputInfo } from "./dataset.ts";
import { fillNormal, fillUniform, fillUniformInt, sampleRng } from "./random.ts";
import { product } from "./rows.ts";

/** Samples generated when the caller does not say how many. */
export const DEFAULT_RANDOM_SAMPLES = 16;

/** Options of random data. */
export interface RandomOptions {
  /** Samples to generate (default `maxSamples`, else 16). */
  samples?: number;
  maxSamples?: number;
  /** Declared shapes per input: `[B, ...rest]` (B ignored) or one sample `[...rest]`. */
  shapes?: Record<string, number[]>;
  seed?: number;
  /** Float inputs: `normal` = N(0,1) (default), `uniform` = [0, 1). */
  distribution?: "normal" | "uniform";
  /** Integer/bool inputs: uniform integers in [lo, hi) (default [0, 2), valid for masks and token ids alike). */
  intRange?: [number, number];
}

/** Dims of one sample of `input`, from a declared shape or the model's static dims (E_CALIB_SHAPE otherwise). */
export function randomSampleDims(input: ModelInputInfo, declared?: readonly number[]): number[] {
  const rest = input.shape.slice(1);
  if (declared) {
    const dims = declared.length === input.shape.length ? declared.slice(1) : declared.length === rest.length ? [...declared] : undefined;
    const bad = !dims || dims.some((d, k) => !Number.isSafeInteger(d) || d < 1 || (typeof rest[k] === "number" && rest[k]! >= 0 && rest[k] !== d));
    if (bad) {
      throw new QuantError("E_CALIB_SHAPE", `declared shape ${describeShape(declared)} for input '${input.name}' does not fit its shape ${describeShape(input.shape)}`, {
        target: input.name,
      });
    }
    return dims!;
  }
  if (!rest.every((d) => typeof d === "number" && d > 0)) {
    throw new QuantError(
      "E_CALIB_SHAPE",
      `input '${input.name}' has dynamic dims ${describeShape(input.shape)}: give calibration data or declare its shape (--shape ${input.name}=${input.shape.map((d) => (typeof d === "number" && d > 0 ? d : 1)).join(",")})`,
      { target: input.name },
    );
  }
  return rest as number[];
}

/** Deterministic random batches. */
export class RandomDataset implements CalibrationDataset {
  readonly count: number;
  readonly inputs: readonly string[];
  private readonly dims: number[][];
  private readonly pool = new BatchPool();

  constructor(
    private readonly models: readonly ModelInputInfo[],
    private readonly opts: RandomOptions = {},
  ) {
    this.inputs = models.map((m) => m.name);
    // An unnamed shape (`--shape 1x3x224x224`, key "*") applies to every input without a shape of its own.
    const anyShape = opts.shapes?.["*"];
    this.dims = models.map((m) => randomSampleDims(m, opts.shapes?.[m.name] ?? anyShape));
    for (const name of Object.keys(opts.shapes ?? {})) {
      if (name !== "*" && !this.inputs.includes(name)) throw new QuantError("E_CALIB_SHAPE", `shape declared for '${name}', which is not a model input (inputs: ${this.inputs.join(", ")})`);
    }
    this.count = Math.floor(opts.samples ?? opts.maxSamples ?? DEFAULT_RANDOM_SAMPLES);
    if (!(this.count >= 1)) throw new QuantError("E_CALIB_SAMPLES", `random calibration data needs at least 1 sample, got ${opts.samples}`);
  }

  batch(start: number, size: number): Batch {
    checkBatch(this, start, size);
    const out: Batch = {};
    const seed = this.opts.seed ?? 0;
    for (let i = 0; i < this.models.length; i++) {
      const input = this.models[i]!;
      checkFixedBatch(input, size);
      const per = product(this.dims[i]!);
      const t = input.elemType;
      let data;
      if (t === DataType.FLOAT || t === DataType.DOUBLE || t === DataType.FLOAT16 || t === DataType.BFLOAT16) {
        const spare = this.pool.take(input.name);
        const Kind = t === DataType.DOUBLE ? Float64Array : Float32Array;
        const f = spare instanceof Kind && spare.length === size * per ? spare : new Kind(size * per);
        for (let s = 0; s < size; s++) {
          const rng = sampleRng(seed, input.name, start + s);
          const view = f.subarray(s * per, (s + 1) * per);
          if (this.opts.distribution === "uniform") fillUniform(view, rng);
          else fillNormal(view, rng);
        }
        data = t === DataType.FLOAT || t === DataType.DOUBLE ? f : convertRaw(DataType.FLOAT, t, new Uint8Array(f.buffer), { input: input.name, firstSample: start, sampleElems: per });
      } else {
        const [lo, hi] = this.opts.intRange ?? [0, 2];
        const ints = new Int32Array(size * per);
        for (let s = 0; s < size; s++) fillUniformInt(ints.subarray(s * per, (s + 1) * per), sampleRng(seed, input.name, start + s), lo, hi);
        data = t === DataType.INT32 ? ints : convertRaw(DataType.INT32, t, new Uint8Array(ints.buffer), { input: input.name, firstSample: start, sampleElems: per });
      }
      out[input.name] = { data, dims: [size, ...this.dims[i]!], elemType: t };
    }
    return out;
  }

  release(batch: Batch): void {
    this.pool.give(batch);
  }

  close(): void {}
}
