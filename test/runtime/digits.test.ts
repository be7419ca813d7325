import { describe, expect, test } from "bun:test";
import { loadModel } from "../../src/onnx/codec.ts";
import { calibrate } from "../../src/runtime/calibrate.ts";
import { SINGLE_THREAD, modelInputs } from "../../src/runtime/session.ts";
import { openDataset } from "../../src/data/dataset.ts";
import { corpus, hasCorpus } from "../helpers/corpus.ts";
import { ctx, exposeAndRun, minMaxOf, testMinMax, testValues, ValuesMinMax } from "./helpers.ts";

describe.skipIf(!hasCorpus)("digits_cnn", () => {
  test("every Conv/Relu output observed over digits_cnn_calib.npy equals a plain run, for batch 1 and 16, minmax and values", async () => {
    const model = loadModel(corpus("digits_cnn.onnx"));
    const ds = () => openDataset({ path: corpus("digits_cnn_calib.npy") }, modelInputs(model));
    const all = ds().batch(0, 128).image!;
    expect(all.dims).toEqual([128, 1, 32, 32]);
    const data = all.data as Float32Array;
    const tensors = model.proto.graph!.node!.filter((n) => n.op_type === "Conv" || n.op_type === "Relu").map((n) => n.output![0]!);
    expect(tensors.length).toBe(11);
    const mm = await calibrate(model, tensors, [{ plugin: testMinMax, state: testMinMax.create(ctx) }], ds(), { batchSize: 16, runtime: SINGLE_THREAD });
    expect(mm.stats).toMatchObject({ batches: 8, runs: 128, samples: 128, fused: true });
    const ref = await exposeAndRun(model, tensors, { image: { data, dims: all.dims } });
    for (const t of tensors) expect(mm.ranges.get(t)).toEqual(minMaxOf(ref[t]!));
    const one = await calibrate(model, tensors, [{ plugin: testMinMax, state: testMinMax.create(ctx) }], ds(), { batchSize: 1, runtime: SINGLE_THREAD });
    expect(one.stats).toMatchObject({ batches: 128, runs: 128 });
    expect([...one.ranges]).toEqual([...mm.ranges]);
    const state = testValues.create(ctx) as ValuesMinMax;
    const vals = await calibrate(model, tensors, [{ plugin: testValues, state }], ds(), { batchSize: 32 });
    expect(state.mismatches).toBe(0);
    expect([...vals.ranges]).toEqual([...mm.ranges]);
    // Relu outputs start at 0; after a Conv their max is the Conv's max.
    const convs = new Set(model.proto.graph!.node!.filter((n) => n.op_type === "Conv").map((n) => n.output![0]!));
    for (const n of model.proto.graph!.node!.filter((n) => n.op_type === "Relu" && convs.has(n.input![0]!))) {
      expect(mm.ranges.get(n.output![0]!)!.min).toBe(0);
      expect(mm.ranges.get(n.output![0]!)!.max).toBe(mm.ranges.get(n.input![0]!)!.max);
    }
  });
});

describe.skipIf(!hasCorpus)("digits_transformer", () => {
  test("every float tensor's range is bit-identical for --batch-size 1, 8 and 32 (onnxruntime's batched kernels are not)", async () => {
    const model = loadModel(corpus("digits_transformer.onnx"));
    const tensors = model.proto.graph!.node!.flatMap((n) => n.output ?? []).filter(Boolean);
    const run = async (batchSize: number, wholeBatches = false) => {
      const ds = openDataset({ path: corpus("digits_tf_calib.npy") }, modelInputs(model));
      try {
        return await calibrate(model, tensors, [{ plugin: testMinMax, state: testMinMax.create(ctx) }], ds, { batchSize, wholeBatches, runtime: SINGLE_THREAD });
      } finally {
        ds.close();
      }
    };
    const one = await run(1);
    expect(one.ranges.size).toBeGreaterThan(100);
    for (const bs of [8, 32]) expect([...(await run(bs)).ranges]).toEqual([...one.ranges]);
    // What the per-sample runs guard against: whole batches of 8 move some ranges by an ulp on this model. (Should this
    // start failing, onnxruntime's batched kernels became batch-invariant and wholeBatches could be the default.)
    const whole = await run(8, true);
    const moved = [...one.ranges].filter(([t, r]) => whole.ranges.get(t)!.min !== r.min || whole.ranges.get(t)!.max !== r.max);
    expect(moved.length).toBeGreaterThan(0);
    for (const [t] of moved) expect(Math.abs(whole.ranges.get(t)!.max - one.ranges.get(t)!.max)).toBeLessThan(1e-5 * Math.max(1, Math.abs(one.ranges.get(t)!.max)));
  });
});
