/**
 * Random calibration data for declared shapes (or the model's static shapes), when the user gives no data.
 * Float inputs get N(0,1) (or uniform [0,1)) stacked on their batch axis; integer/bool and scalar inputs are refused
 * (E_DATA_REQUIRED) unless `intRange` opts integers in.
 * Sample i of input x is a function of (seed, x, i) only, so any batching yields the same values.
 */
import { QuantError } from "../errors/errors.ts";
import { DataType, dataTypeName } from "../tensor/dtypes.ts";
import { BatchPool, checkBatch, checkFixedBatch, describeShape } from "./array-dataset.ts";
import { convertRaw } from "./convert.ts";
import type { Batch, CalibrationDataset, ModelInputInfo } from "./dataset-types.ts";
import { type InputLayout, moveAxis0 } from "./layout.ts";
import { Scratch } from "./source.ts";
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
  /**
   * Integer/bool inputs: uniform integers in [lo, hi). Without it they need real values (E_DATA_REQUIRED): random
   * token ids, masks or sample rates would run the model on inputs it never sees.
   */
  intRange?: [number, number];
  /** Batch axis per input (null: none); default: axis 0 (none for scalars). */
  axes?: Record<string, number | null>;
}

const FLOATS: ReadonlySet<number> = new Set([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.BFLOAT16]);

/** `int64 scalar`, `bool [batch, seq]`. */
function kindOf(input: ModelInputInfo): string {
  return `${dataTypeName(input.elemType).toLowerCase()} ${input.shape.length === 0 ? "scalar" : describeShape(input.shape)}`;
}

/** E_DATA_REQUIRED for an input random data cannot stand for, unless `intRange` opts integers in. */
export function checkRandomFeedable(input: ModelInputInfo, intRange?: [number, number]): void {
  const scalar = input.shape.length === 0;
  if (FLOATS.has(input.elemType) ? !scalar : intRange !== undefined) return;
  const kind = kindOf(input);
  const why = scalar ? "a scalar input is a setting (a sample rate, a threshold, a step), not noise" : "random integers are not valid token ids, masks or indices";
  throw new QuantError("E_DATA_REQUIRED", `input ${input.name} (${kind}) needs a value: --input ${input.name}=... (or an array '${input.name}' in --data); ${why}`, {
    target: input.name,
  });
}

/** Dims of one sample of `input` without its batch axis `b` (null: none), from a declared shape or the model's static dims (E_CALIB_SHAPE otherwise). */
export function randomSampleDims(input: ModelInputInfo, declared?: readonly number[], b: number | null = 0): number[] {
  const rest = b === null ? input.shape.slice() : [...input.shape.slice(0, b), ...input.shape.slice(b + 1)];
  if (declared) {
    const full = b !== null && declared.length === input.shape.length;
    const dims = full ? [...declared.slice(0, b!), ...declared.slice(b! + 1)] : declared.length === rest.length ? [...declared] : undefined;
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

/** Largest sample random data is made for (64 Mi elements, 256 MiB as float32). */
export const MAX_RANDOM_SAMPLE_ELEMENTS = 1 << 26;

/** Deterministic random batches. */
export class RandomDataset implements CalibrationDataset {
  readonly count: number;
  readonly inputs: readonly string[];
  private readonly dims: number[][];
  private readonly axes: (number | null)[];
  private readonly pool = new BatchPool();
  private readonly scratch = new Scratch();

  constructor(
    private readonly models: readonly ModelInputInfo[],
    private readonly opts: RandomOptions = {},
  ) {
    this.inputs = models.map((m) => m.name);
    // One error for all of them: a transformer's ids, mask and type ids are asked for at once.
    const refused = models.flatMap((m) => {
      try {
        checkRandomFeedable(m, opts.intRange);
        return [];
      } catch (e) {
        return [{ m, e: e as QuantError }];
      }
    });
    if (refused.length) {
      const first = refused[0]!;
      const more = refused.slice(1).map(({ m }) => `${m.name} (${kindOf(m)})`);
      if (!more.length) throw first.e;
      throw new QuantError("E_DATA_REQUIRED", `${first.e.message}; also without a value: ${more.join(", ")}`, { target: first.m.name });
    }
    this.axes = models.map((m) => (opts.axes && m.name in opts.axes ? opts.axes[m.name]! : m.shape.length ? 0 : null));
    // An unnamed shape (`--shape 1x3x224x224`, key "*") applies to every input without a shape of its own.
    const anyShape = opts.shapes?.["*"];
    this.dims = models.map((m, i) => randomSampleDims(m, opts.shapes?.[m.name] ?? anyShape, this.axes[i]!));
    // A declared shape is data from the model file: one of 2×4×2^31 must be refused, not allocated.
    this.dims.forEach((d, i) => {
      const n = d.reduce((a, b) => a * b, 1);
      if (n > MAX_RANDOM_SAMPLE_ELEMENTS)
        throw new QuantError(
          "E_CALIB_SHAPE",
          `input '${models[i]!.name}' declares ${describeShape(d)} per sample (${n.toExponential(2)} elements): too large for random data (limit ${MAX_RANDOM_SAMPLE_ELEMENTS.toLocaleString("en")}); give --data or a smaller --shape`,
          { target: models[i]!.name },
        );
    });
    this.count = Math.floor(opts.samples ?? opts.maxSamples ?? DEFAULT_RANDOM_SAMPLES);
    if (!(this.count >= 1)) throw new QuantError("E_CALIB_SAMPLES", `random calibration data needs at least 1 sample, got ${opts.samples}`);
  }

  /** Every random input varies per sample, stacked on its batch axis. */
  layout(input: string): InputLayout {
    const i = this.inputs.indexOf(input);
    return { batchAxis: i < 0 ? 0 : this.axes[i]!, varies: true };
  }

  /** One line per input: what it is fed. */
  describe(): string[] {
    return this.models.map((m, i) => `input '${m.name}' ${describeShape(m.shape)}: random ${FLOATS.has(m.elemType) ? (this.opts.distribution === "uniform" ? "U[0,1)" : "N(0,1)") : `integers in [${this.opts.intRange}) `} samples of ${describeShape(this.dims[i]!)}`);
  }

  batch(start: number, size: number): Batch {
    checkBatch(this, start, size);
    const out: Batch = {};
    const seed = this.opts.seed ?? 0;
    for (let i = 0; i < this.models.length; i++) {
      const input = this.models[i]!;
      const axis = this.axes[i]!;
      checkFixedBatch(input, size, undefined, axis);
      if (axis === null && size > 1) throw new QuantError("E_CALIB_SHAPE", `input '${input.name}' has no batch axis: runs take one sample (--batch-size 1)`, { target: input.name });
      const per = product(this.dims[i]!);
      const t = input.elemType;
      let data;
      if (FLOATS.has(t)) {
        const spare = this.pool.take(input.name);
        const Kind = t === DataType.DOUBLE ? Float64Array : Float32Array;
        const f = spare instanceof Kind && spare.length === size * per ? spare : new Kind(size * per);
        for (let s = 0; s < size; s++) {
          const rng = sampleRng(seed, input.name, start + s);
          const view = f.subarray(s * per, (s + 1) * per);
          if (this.opts.distribution === "uniform") fillUniform(view, rng);
          else fillNormal(view, rng);
        }
        stackOn(f, size, this.dims[i]!, axis, this.scratch);
        data = t === DataType.FLOAT || t === DataType.DOUBLE ? f : convertRaw(DataType.FLOAT, t, new Uint8Array(f.buffer), { input: input.name, firstSample: start, sampleElems: per });
      } else {
        const [lo, hi] = this.opts.intRange!;
        const ints = new Int32Array(size * per);
        for (let s = 0; s < size; s++) fillUniformInt(ints.subarray(s * per, (s + 1) * per), sampleRng(seed, input.name, start + s), lo, hi);
        stackOn(ints, size, this.dims[i]!, axis, this.scratch);
        data = t === DataType.INT32 ? ints : convertRaw(DataType.INT32, t, new Uint8Array(ints.buffer), { input: input.name, firstSample: start, sampleElems: per });
      }
      const dims = [...this.dims[i]!];
      if (axis !== null) dims.splice(axis, 0, size);
      out[input.name] = { data, dims, elemType: t };
    }
    return out;
  }

  release(batch: Batch): void {
    this.pool.give(batch);
  }

  close(): void {}
}

/** Samples generated one after another (`[n, ...sample]`) restacked in place onto batch axis `axis` > 0. */
function stackOn(a: Float32Array | Float64Array | Int32Array, n: number, sample: readonly number[], axis: number | null, scratch: Scratch): void {
  if (axis === null || axis === 0 || n === 1) return;
  const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const tmp = scratch.get(bytes.length);
  tmp.set(bytes);
  const outer = product(sample.slice(0, axis));
  moveAxis0(tmp, n, outer, outer ? bytes.length / n / outer : 0, bytes);
}
