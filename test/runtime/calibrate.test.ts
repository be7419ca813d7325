import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { defineCalibrator, type Observation } from "../../src/kernel/types.ts";
import { QuantError } from "../../src/errors/errors.ts";
import { calibrate, type CalibratorEntry } from "../../src/runtime/calibrate.ts";
import { convReluMatMul, ifModel, twoInputs } from "./models.ts";
import { ctx, exposeAndRun, memoryDataset, minMaxOf, randomFloats, RunningMinMax, testMinMax, testValues, ValuesMinMax } from "./helpers.ts";

const X = [2, 6, 6];
const PER = 72;
const entries = (...plugins: (typeof testMinMax)[]): CalibratorEntry[] => plugins.map((plugin) => ({ plugin, state: plugin.create(ctx) }));
const convData = (n: number, seed = 11) => randomFloats(n * PER, seed, 2);

describe("calibrate", () => {
  test("min/max of Conv, Relu, MatMul outputs and the input equal a plain run's, over all samples", async () => {
    const model = convReluMatMul();
    const n = 10;
    const x = convData(n);
    const tensors = ["x", "conv", "relu", "flat", "y"];
    const { ranges, unobservable, stats } = await calibrate(model, tensors, entries(testMinMax), memoryDataset({ x: { data: x, sampleDims: X } }, n), { batchSize: 3 });
    expect(unobservable).toEqual([]);
    expect(stats).toMatchObject({ batches: 4, runs: 10, samples: 10, mode: "minmax" });
    const ref = await exposeAndRun(model, tensors.filter((t) => t !== "x"), { x: { data: x, dims: [n, ...X] } });
    for (const t of tensors) expect(ranges.get(t)).toEqual(minMaxOf(t === "x" ? x : ref[t]!));
    expect(ranges.get("relu")!.min).toBe(0);
    expect(ranges.get("conv")!.min).toBeLessThan(0);
  });

  test("minmax mode and values mode give exactly the same ranges; values are the tensors themselves", async () => {
    const model = convReluMatMul();
    const n = 7;
    const x = convData(n, 12);
    const ds = () => memoryDataset({ x: { data: x, sampleDims: X } }, n);
    const tensors = ["conv", "relu", "gap", "y"];
    const a = await calibrate(model, tensors, entries(testMinMax), ds(), { batchSize: 2 });
    const vals = entries(testValues);
    const b = await calibrate(model, tensors, vals, ds(), { batchSize: 2 });
    expect(b.stats).toMatchObject({ mode: "values", pipelined: true, batches: 4, runs: 7 });
    expect([...b.ranges]).toEqual([...a.ranges]);
    const st = vals[0]!.state as ValuesMinMax;
    expect(st.mismatches).toBe(0); // in-graph min/max == JS min/max of the streamed values, every batch
    expect(st.elements).toBe(n * (16 * 36 * 2 + 16 + 3)); // conv + relu + gap + y elements
  });

  test("batch size does not change the ranges (property: any batch size, any sample count)", async () => {
    const model = convReluMatMul();
    const x = convData(12, 13);
    const tensors = ["conv", "relu", "y"];
    const run = async (batchSize: number, samples: number) =>
      [...(await calibrate(model, tensors, entries(testMinMax), memoryDataset({ x: { data: x, sampleDims: X } }, 12), { batchSize, samples })).ranges];
    const one = await run(1, 12);
    expect(await run(4, 12)).toEqual(one);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 12 }), async (bs, samples) => {
        expect(await run(bs, samples)).toEqual(await run(1, samples));
      }),
      { numRuns: 6 },
    );
  });

  test("wholeBatches runs each dataset batch in one go, with the same ranges on this model", async () => {
    const x = convData(10, 15);
    const run = (wholeBatches: boolean) => calibrate(convReluMatMul(), ["conv", "relu", "y"], entries(testMinMax), memoryDataset({ x: { data: x, sampleDims: X } }, 10), { batchSize: 4, wholeBatches });
    const [a, b] = [await run(false), await run(true)];
    expect([a.stats.runs, b.stats.runs]).toEqual([10, 3]);
    expect([...b.ranges]).toEqual([...a.ranges]);
  });

  test("a model with a fixed batch of 1 runs one sample at a time even with batchSize 4", async () => {
    const model = convReluMatMul({ batch: 1 });
    const x = convData(5, 14);
    const ds = memoryDataset({ x: { data: x, sampleDims: X } }, 5);
    const r = await calibrate(model, ["relu"], entries(testMinMax), ds, { batchSize: 4 });
    expect(ds.calls).toEqual([[0, 1], [1, 1], [2, 1], [3, 1], [4, 1]]);
    expect(r.stats.batches).toBe(5);
    const dyn = await calibrate(convReluMatMul(), ["relu"], entries(testMinMax), memoryDataset({ x: { data: x, sampleDims: X } }, 5), { batchSize: 4 });
    expect([...r.ranges]).toEqual([...dyn.ranges]);
  });

  test("several inputs, an optional input left to its initializer default, float16/double tensors", async () => {
    const model = twoInputs();
    const n = 6;
    const a = randomFloats(n * 4, 21, 3), b = randomFloats(n * 4, 22, 3);
    const tensors = ["s", "m", "m16", "t16", "m64", "r64", "y"];
    const { ranges, unobservable } = await calibrate(model, tensors, entries(testMinMax), memoryDataset({ a: { data: a, sampleDims: [4] }, b: { data: b, sampleDims: [4] } }, n), { batchSize: 4 });
    expect(unobservable).toEqual([]);
    const ref = await exposeAndRun(model, ["s", "m", "t", "r", "y"], { a: { data: a, dims: [n, 4] }, b: { data: b, dims: [n, 4] } });
    expect(ranges.get("s")).toEqual(minMaxOf(ref.s!));
    expect(ranges.get("m")).toEqual(minMaxOf(ref.m!)); // scale = 1.5 from the initializer
    expect(ranges.get("m")!.max).toBeCloseTo(minMaxOf(ref.s!).max * 1.5, 5);
    expect(ranges.get("m64")).toEqual(minMaxOf(ref.m!)); // float → double → float is exact
    // onnxruntime has no float16 Tanh on CPU: it computes in float and may cancel the casts, so compare at fp16 precision.
    expect(ranges.get("t16")!.min).toBeCloseTo(minMaxOf(ref.t!).min, 3);
    expect(ranges.get("t16")!.max).toBeCloseTo(minMaxOf(ref.t!).max, 3);
    expect(ranges.get("r64")!.max).toBeCloseTo(minMaxOf(ref.r!).max, 6);
    expect(ranges.get("y")!.max).toBeCloseTo(minMaxOf(ref.y!).max, 3);
  });

  test("the data can override an optional input", async () => {
    const model = twoInputs();
    const a = randomFloats(8, 23), b = randomFloats(8, 24);
    const scale = new Float32Array([-2, -2]);
    const { ranges } = await calibrate(model, ["m", "s"], entries(testMinMax), memoryDataset({ a: { data: a, sampleDims: [4] }, b: { data: b, sampleDims: [4] }, scale: { data: scale, sampleDims: [] } }, 2), {});
    const s = ranges.get("s")!;
    expect(ranges.get("m")).toEqual({ min: Math.fround(-2 * s.max), max: Math.fround(-2 * s.min) });
    expect(model.proto.graph!.initializer!.map((t) => t.name)).toEqual(["scale"]); // the caller's model keeps its default
  });

  test("a model with an If: outer tensors observed (also those the branches read), branch tensors reported", async () => {
    const model = ifModel();
    const x = randomFloats(5 * 4, 31, 2);
    const { ranges, unobservable, reasons } = await calibrate(model, ["r", "y", "z", "inner_then", "cond"], entries(testMinMax), memoryDataset({ x: { data: x, sampleDims: [4] } }, 5), { batchSize: 1 });
    expect(unobservable.sort()).toEqual(["cond", "inner_then"]);
    expect(reasons.inner_then).toContain("then_branch");
    // Per sample the branch taken depends on the sign of the sum; compute the truth per sample.
    let yMin = Infinity, yMax = -Infinity;
    for (let i = 0; i < 5; i++) {
      const row = x.subarray(i * 4, i * 4 + 4);
      const pos = row.reduce((s, v) => s + v, 0) > 0;
      for (const v of row) {
        const r = Math.max(v, 0);
        const y = pos ? r * 2 : -r;
        yMin = Math.min(yMin, y);
        yMax = Math.max(yMax, y);
      }
    }
    expect(ranges.get("r")).toEqual({ min: 0, max: minMaxOf(x).max });
    expect(ranges.get("y")).toEqual({ min: yMin + 0, max: yMax });
  });

  test("later calibrators override earlier ones per tensor; each calibrator gets what it needs", async () => {
    const seen: string[] = [];
    const only = (name: string, keep: string, needs: "minmax" | "values", shift: number) =>
      defineCalibrator({
        name,
        needs,
        create: () => {
          const s = new RunningMinMax();
          const observe = s.observe.bind(s);
          s.observe = (o: Observation) => {
            seen.push(`${name}:${o.values ? "values" : "minmax"}`);
            if (o.tensor === keep) observe({ ...o, min: o.min + shift, max: o.max + shift });
          };
          return s;
        },
      });
    const x = convData(2, 41);
    const r = await calibrate(convReluMatMul(), ["conv", "relu"], entries(only("first", "conv", "minmax", 0), only("second", "relu", "values", 100), only("third", "conv", "minmax", 1000)), memoryDataset({ x: { data: x, sampleDims: X } }, 2), { batchSize: 2 });
    const plain = await calibrate(convReluMatMul(), ["conv", "relu"], entries(testMinMax), memoryDataset({ x: { data: x, sampleDims: X } }, 2), { batchSize: 2 });
    expect(r.ranges.get("conv")!.min).toBe(plain.ranges.get("conv")!.min + 1000);
    expect(r.ranges.get("relu")!.max).toBe(plain.ranges.get("relu")!.max + 100);
    expect(new Set(seen)).toEqual(new Set(["first:minmax", "second:values", "third:minmax"]));
  });

  test("errors: too few samples, missing input, failing calibrator named with its tensor", async () => {
    const model = convReluMatMul();
    const x = convData(3);
    const ds = memoryDataset({ x: { data: x, sampleDims: X } }, 0);
    await expect(calibrate(model, ["relu"], entries(testMinMax), ds)).rejects.toMatchObject({ code: "E_CALIB_SAMPLES" });
    const wrong = memoryDataset({ image: { data: x, sampleDims: X } }, 3);
    await expect(calibrate(model, ["relu"], entries(testMinMax), wrong)).rejects.toMatchObject({ code: "E_CALIB_SHAPE", site: { target: "x" } });
    const broken = defineCalibrator({ name: "broken", needs: "minmax", create: () => ({ ...new RunningMinMax(), observe() { throw new Error("boom"); }, merge() {}, finalize: () => new Map(), toJSON: () => ({}) }) });
    const err = await calibrate(model, ["relu"], entries(broken), memoryDataset({ x: { data: x, sampleDims: X } }, 3)).catch((e) => e);
    expect(err).toBeInstanceOf(QuantError);
    expect(err).toMatchObject({ code: "E_PLUGIN", site: { plugin: "broken", phase: "calibrate", target: "relu" } });
    expect(err.message).toContain("boom");
  });

  test("values mode in this thread (no worker) gives the same ranges as the worker", async () => {
    const x = convData(5, 61);
    const run = (pipeline: boolean) => calibrate(convReluMatMul(), ["conv", "relu", "y"], entries(testValues), memoryDataset({ x: { data: x, sampleDims: X } }, 5), { batchSize: 2, pipeline });
    const [a, b] = [await run(true), await run(false)];
    expect([a.stats.pipelined, b.stats.pipelined]).toEqual([true, false]);
    expect([...a.ranges]).toEqual([...b.ranges]);
  });

  test("a run failing in the worker is E_RUNTIME; a missing input is E_CALIB_SHAPE", async () => {
    const x = convData(2, 62);
    const bad = { ...memoryDataset({ x: { data: x, sampleDims: X } }, 2) };
    bad.batch = (start: number, size: number) => ({ x: { data: x.subarray(0, 10), dims: [size, 10], elemType: 1 } });
    await expect(calibrate(convReluMatMul(), ["relu"], entries(testValues), bad)).rejects.toMatchObject({ code: "E_RUNTIME" });
    await expect(calibrate(convReluMatMul(), ["relu"], entries(testValues), memoryDataset({ y: { data: x, sampleDims: X } }, 2))).rejects.toMatchObject({ code: "E_CALIB_SHAPE" });
  });

  test("NaN activations are a coded error naming the tensor and samples", async () => {
    const x = convData(3);
    x.fill(NaN, PER, 2 * PER); // sample 1 all NaN: onnxruntime's reductions skip isolated NaNs, not a NaN tensor
    const err = await calibrate(convReluMatMul(), ["conv"], entries(testMinMax), memoryDataset({ x: { data: x, sampleDims: X } }, 3), { batchSize: 1 }).catch((e) => e);
    expect(err).toMatchObject({ code: "E_CALIB_NONFINITE", site: { target: "conv" } });
    expect(err.message).toContain("samples 1..1");
  });

  test("nothing observable: no inference, empty ranges", async () => {
    const ds = memoryDataset({ x: { data: convData(2), sampleDims: X } }, 2);
    const r = await calibrate(convReluMatMul(), ["xshape"], entries(testMinMax), ds);
    expect(r.ranges.size).toBe(0);
    expect(r.unobservable).toEqual(["xshape"]);
    expect(ds.calls).toEqual([]);
  });
});

describe("calibrate: pruning keeps optional inputs optional", () => {
  test("observing only the Add before the optional input's consumer still runs without that input", async () => {
    const a = randomFloats(8, 71), b = randomFloats(8, 72);
    const r = await calibrate(twoInputs(), ["s"], entries(testMinMax), memoryDataset({ a: { data: a, sampleDims: [4] }, b: { data: b, sampleDims: [4] } }, 2), {});
    const s = new Float32Array(8).map((_, i) => a[i]! + b[i]!);
    expect(r.ranges.get("s")).toEqual(minMaxOf(s));
  });
});
