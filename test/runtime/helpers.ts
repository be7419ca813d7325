/**
 * Fixtures for the runtime tests: an in-memory calibration dataset, tiny calibrators (running min/max; min/max recomputed
 * from the streamed values) and a plain ORT run of a model with chosen tensors exposed as outputs.
 */
import type { Batch, CalibrationDataset } from "../../src/data/dataset.ts";
import { defineCalibrator, type CalibratorPlugin, type CalibratorState, type Observation, type PluginContext, type RangeMap } from "../../src/kernel/types.ts";
import { defaultOptions } from "../../src/kernel/options.ts";
import type { Model } from "../../src/onnx/model.ts";
import { DataType } from "../../src/tensor/dtypes.ts";
import { RuntimeSession } from "../../src/runtime/session.ts";
import { randomFloats } from "../helpers/random.ts";
export { randomFloats };

type Data = Float32Array | Int32Array | BigInt64Array | Uint8Array;

/** A dataset over arrays holding `count` samples each (sample-major), one per input. */
export function memoryDataset(inputs: Record<string, { data: Data; sampleDims: number[]; elemType?: number }>, count: number): CalibrationDataset & { calls: [number, number][] } {
  const calls: [number, number][] = [];
  return {
    count,
    inputs: Object.keys(inputs),
    calls,
    batch(start: number, size: number): Batch {
      calls.push([start, size]);
      const out: Batch = {};
      for (const [name, { data, sampleDims, elemType }] of Object.entries(inputs)) {
        const per = sampleDims.reduce((a, b) => a * b, 1);
        out[name] = { data: data.subarray(start * per, (start + size) * per) as Batch[string]["data"], dims: [size, ...sampleDims], elemType: elemType ?? DataType.FLOAT };
      }
      return out;
    },
    close() {},
  };
}


/** A plugin context for tests. */
export const ctx: PluginContext = {
  logger: console as unknown as PluginContext["logger"],
  options: defaultOptions,
  progress() {},
  at() {},
};

/** Running min/max per tensor (a `minmax` calibrator), with a JSON form and merge. */
export class RunningMinMax implements CalibratorState {
  readonly seen = new Map<string, { min: number; max: number; batches: number }>();
  observe(o: Observation): void {
    const r = this.seen.get(o.tensor);
    if (!r) this.seen.set(o.tensor, { min: o.min, max: o.max, batches: 1 });
    else {
      r.min = Math.min(r.min, o.min);
      r.max = Math.max(r.max, o.max);
      r.batches++;
    }
  }
  merge(other: CalibratorState): void {
    for (const [t, r] of (other as RunningMinMax).seen) this.observe({ tensor: t, min: r.min, max: r.max });
  }
  finalize(): RangeMap {
    return new Map([...this.seen].map(([t, r]) => [t, { min: r.min, max: r.max }]));
  }
  toJSON(): unknown {
    return Object.fromEntries([...this.seen].map(([t, r]) => [t, [r.min, r.max]]));
  }
  static restore(json: unknown): RunningMinMax {
    const s = new RunningMinMax();
    for (const [t, [min, max]] of Object.entries(json as Record<string, [number, number]>)) s.seen.set(t, { min, max, batches: 1 });
    return s;
  }
}

/** A `minmax` test calibrator. */
export const testMinMax: CalibratorPlugin = defineCalibrator({ name: "test-minmax", needs: "minmax", create: () => new RunningMinMax(), restore: (j) => RunningMinMax.restore(j) });

/** A `values` calibrator that recomputes min/max from the streamed values in JS and checks them against the given ones. */
export class ValuesMinMax extends RunningMinMax {
  mismatches = 0;
  elements = 0;
  override observe(o: Observation): void {
    const v = o.values!;
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < v.length; i++) {
      const x = v[i]!;
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
    if (lo !== o.min || hi !== o.max) this.mismatches++;
    if (o.dims!.reduce((a, b) => a * b, 1) !== v.length) this.mismatches++;
    this.elements += v.length;
    super.observe({ tensor: o.tensor, min: lo + 0, max: hi + 0 });
  }
}
/** A `values` test calibrator. */
export const testValues: CalibratorPlugin = defineCalibrator({ name: "test-values", needs: "values", create: () => new ValuesMinMax() });

/**
 * Run `model` with `tensors` as its outputs; returns each output's data. Same optimization level as calibration
 * (`all`) by default: onnxruntime's NCHWc Conv rounds differently from its plain one, so levels must match for exact
 * comparisons.
 */
export async function exposeAndRun(
  model: Model,
  tensors: readonly string[],
  feeds: Record<string, { data: Data; dims: number[]; elemType?: number }>,
  optimization: "disabled" | "all" = "all",
): Promise<Record<string, Float32Array>> {
  const g = model.proto.graph!;
  const proto = { ...model.proto, graph: { ...g, output: tensors.map((name) => ({ name })) } };
  const s = await RuntimeSession.create({ ...model, proto }, { optimization });
  try {
    const f = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, s.tensor(v.data as Float32Array, v.dims, v.elemType ?? DataType.FLOAT)]));
    const out = await s.run(f);
    return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, t.data as Float32Array]));
  } finally {
    await s.release();
  }
}

/** Exact min and max of an array. */
export function minMaxOf(a: ArrayLike<number>): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    if (x < min) min = x;
    if (x > max) max = x;
  }
  return { min: min + 0, max: max + 0 };
}
