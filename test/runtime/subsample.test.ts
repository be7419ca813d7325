import { describe, expect, test } from "bun:test";
import { GraphBuilder } from "../../src/onnx/builder.ts";
import { encodeModelProto } from "../../src/onnx/proto.ts";
import { loadModel } from "../../src/onnx/codec.ts";
import type { Model } from "../../src/onnx/model.ts";
import { DataType } from "../../src/tensor/dtypes.ts";
import { HistogramSet } from "../../src/quant/histogram-calibrator.ts";
import { calibrate } from "../../src/runtime/calibrate.ts";
import { createObservationSession, nchwcBlock } from "../../src/runtime/fused.ts";
import { observationModel, SUBSAMPLE_LIMIT } from "../../src/runtime/observe.ts";
import { subsampleStride } from "../../src/runtime/subsample.ts";
import { RuntimeSession, SINGLE_THREAD } from "../../src/runtime/session.ts";
import percentile, { percentileRange } from "../../plugins/calibrators/percentile.ts";
import minmax from "../../plugins/calibrators/minmax.ts";
import { convReluMatMul } from "./models.ts";
import { ctx, memoryDataset, minMaxOf, randomFloats } from "./helpers.ts";

const F = DataType.FLOAT;

/** x[N,2,H,W] → Conv(16 out, 3×3, pad 1) → conv → Relu → relu → ReduceMean → y. 16 channels: NCHWc on x86. */
function bigConv(h: number, w: number, dynamic = false): Model {
  const b = new GraphBuilder("big_conv");
  b.input("x", F, dynamic ? ["N", 2, "H", "W"] : ["N", 2, h, w]);
  b.initializer("w", F, [16, 2, 3, 3], randomFloats(16 * 2 * 9, 3));
  b.initializer("bias", F, [16], randomFloats(16, 4, 0.1));
  b.node("Conv", ["x", "w", "bias"], { pads: [1, 1, 1, 1], kernel_shape: [3, 3] }, ["conv"]);
  b.node("Relu", ["conv"], {}, ["relu"]);
  b.node("ReduceMean", ["relu"], { keepdims: 0 }, ["y"]);
  b.output("y", F, []);
  return loadModel(encodeModelProto(b.model({ opset: 13 })));
}

/** The conv/relu tensors of one sample, computed by onnxruntime with them as plain outputs. */
async function full(model: Model, x: Float32Array, dims: number[]): Promise<Record<string, Float32Array>> {
  const m: Model = { ...model, proto: { ...model.proto, graph: { ...model.proto.graph!, output: [{ name: "conv" }, { name: "relu" }] } } };
  const s = await RuntimeSession.create(m, { ...SINGLE_THREAD, optimization: "disabled" });
  const out = await s.runBatch({ x: { data: x, dims, elemType: F } });
  await s.release();
  return { conv: out.conv!.data as Float32Array, relu: out.relu!.data as Float32Array };
}

/** Elements of an NCHW tensor at rows/columns `start + k·step`, in NCHW order. */
function strided(t: Float32Array, [n, c, h, w]: number[], step: number): Float32Array {
  const out: number[] = [];
  const s0 = step >> 1;
  for (let i = 0; i < n * c; i++) for (let y = s0; y < h; y += step) for (let x = s0; x < w; x += step) out.push(t[(i * h + y) * w + x]!);
  return Float32Array.from(out);
}

const sorted = (a: Float32Array) => Float32Array.from(a).sort();

describe("values-mode subsampling of large activations", () => {
  test("a tensor above the limit exposes rows/columns floor(s/2) + k·s (s = ceil(sqrt(n / 16Ki))); min/max stay exact", async () => {
    // 16·80·80 = 102400 per sample: s = ceil(sqrt(6.25)) = 3, start 1 → rows/columns 1, 4, …, 79: 16·27·27 values.
    const model = bigConv(80, 80);
    const obs = await observationModel(model, ["conv", "relu"], "values");
    const s = await RuntimeSession.create(obs.model, { ...SINGLE_THREAD, optimization: "disabled" });
    const x = randomFloats(2 * 80 * 80, 11);
    const out = await s.runBatch({ x: { data: x, dims: [1, 2, 80, 80], elemType: F } });
    await s.release();
    const ref = await full(model, x, [1, 2, 80, 80]);
    for (const o of obs.observed) {
      const t = ref[o.tensor]!;
      expect(out[o.values!]!.dims).toEqual([1, 16, 27, 27]);
      expect(out[o.values!]!.data as Float32Array).toEqual(strided(t, [1, 16, 80, 80], 3));
      const packed = out[o.output]!.data as Float32Array;
      const mm = minMaxOf(t);
      expect([packed[o.index], packed[o.index + 1]]).toEqual([mm.min, mm.max]);
    }
  });

  test("dynamic spatial dims: the stride is computed in the graph, with the same positions as a static shape", async () => {
    const x = randomFloats(2 * 80 * 80, 11);
    const runs: Float32Array[] = [];
    for (const dynamic of [false, true]) {
      const obs = await observationModel(bigConv(80, 80, dynamic), ["relu"], "values");
      const ops = obs.model.proto.graph!.node!.map((n) => n.op_type);
      // static: one Slice with constant steps; dynamic: Shape → … → Slice
      expect(ops.includes("Shape")).toBe(dynamic);
      expect(obs.observed[0]!.spatial).toEqual(dynamic ? undefined : [80, 80]);
      const s = await RuntimeSession.create(obs.model, SINGLE_THREAD);
      const out = await s.runBatch({ x: { data: x, dims: [1, 2, 80, 80], elemType: F } });
      await s.release();
      expect(out[obs.observed[0]!.values!]!.dims).toEqual([1, 16, 27, 27]);
      runs.push(out[obs.observed[0]!.values!]!.data as Float32Array);
    }
    expect(runs[1]).toEqual(runs[0]!);
  });

  test("subsampleStride: 1 up to 16Ki per sample, then ceil(sqrt(n / 16Ki))", () => {
    expect(SUBSAMPLE_LIMIT).toBe(16384);
    expect([1, 16384, 16385, 4 * 16384, 4 * 16384 + 1, 16 * 112 * 112, 96 * 112 * 112].map(subsampleStride)).toEqual([1, 1, 2, 2, 3, 4, 9]);
  });

  test("the stride grows with the size: 16·200·200 per sample → s = 7 (rows 3, 10, …)", async () => {
    const model = bigConv(200, 200);
    const obs = await observationModel(model, ["relu"], "values");
    const s = await RuntimeSession.create(obs.model, { ...SINGLE_THREAD, optimization: "disabled" });
    const x = randomFloats(2 * 200 * 200, 12);
    const out = await s.runBatch({ x: { data: x, dims: [1, 2, 200, 200], elemType: F } });
    await s.release();
    expect(Math.ceil(Math.sqrt((16 * 200 * 200) / SUBSAMPLE_LIMIT))).toBe(7);
    const o = obs.observed[0]!;
    expect(out[o.values!]!.dims).toEqual([1, 16, 29, 29]);
    expect(out[o.values!]!.data as Float32Array).toEqual(strided((await full(model, x, [1, 2, 200, 200])).relu!, [1, 16, 200, 200], 7));
  });

  test("small tensors are exposed whole (s = 1): 16·32·32 = 16Ki exactly (digits_cnn's largest), and the 16·6·6 of convReluMatMul", async () => {
    const model = bigConv(32, 32);
    const obs = await observationModel(model, ["relu"], "values");
    const s = await RuntimeSession.create(obs.model, { ...SINGLE_THREAD, optimization: "disabled" });
    const x = randomFloats(2 * 32 * 32, 13);
    const out = await s.runBatch({ x: { data: x, dims: [1, 2, 32, 32], elemType: F } });
    await s.release();
    expect(out[obs.observed[0]!.values!]!.data as Float32Array).toEqual((await full(model, x, [1, 2, 32, 32])).relu!);
    // A small model's observation is unchanged: the exposed value is the tensor itself or a stride-1 slice of it.
    const small = await observationModel(convReluMatMul(), ["relu"], "values");
    const s2 = await RuntimeSession.create(small.model, SINGLE_THREAD);
    const out2 = await s2.runBatch({ x: { data: randomFloats(2 * 36, 14), dims: [1, 2, 6, 6], elemType: F } });
    await s2.release();
    expect(out2[small.observed[0]!.values!]!.dims).toEqual([1, 16, 6, 6]);
  });

  test.each([false, true])("onnxruntime's fused (NCHWc) graph selects the same values as the plain one, with the same min/max (dynamic H, W: %p)", async (dynamic) => {
    const model = bigConv(80, 80, dynamic);
    const obs = await observationModel(model, ["conv", "relu"], "values");
    const plain = await RuntimeSession.create(obs.model, SINGLE_THREAD);
    const { session, fused } = await createObservationSession(obs, SINGLE_THREAD);
    if ((await nchwcBlock()) > 0) expect(fused).toBe(true);
    const feed = { x: { data: randomFloats(2 * 80 * 80, 15), dims: [1, 2, 80, 80], elemType: F } };
    const a = await plain.runBatch(feed);
    const b = await session.runBatch(feed);
    await plain.release();
    await session.release();
    for (const o of obs.observed) {
      expect(sorted(b[o.values!]!.data as Float32Array)).toEqual(sorted(a[o.values!]!.data as Float32Array));
      expect((b[o.values!]!.data as Float32Array).length).toBe(16 * 27 * 27);
      const pa = a[o.output]!.data as Float32Array;
      const pb = b[o.output]!.data as Float32Array;
      expect([pb[o.index], pb[o.index + 1]]).toEqual([pa[o.index], pa[o.index + 1]]);
    }
  });

  test("calibration: histograms hold the subsample's counts and the exact range; stats round-trip; any batch size, any path", async () => {
    const model = bigConv(80, 80);
    const n = 3;
    const data = randomFloats(n * 2 * 80 * 80, 16);
    const ds = memoryDataset({ x: { data, sampleDims: [2, 80, 80] } }, n);
    const run = async (opts: Parameters<typeof calibrate>[4]) => {
      const p = percentile({ percentile: 99.9 });
      const state = p.create(ctx) as HistogramSet;
      const r = await calibrate(model, ["relu"], [{ plugin: p, state }], ds, { runtime: SINGLE_THREAD, ...opts });
      return { r, state };
    };
    const a = await run({ batchSize: 1 });
    const h = a.state.histograms.get("relu")!;
    expect(h.total).toBe(n * 16 * 27 * 27);
    // The range is the exact one of the whole tensors, as minmax (in-graph reductions) finds it.
    const mm = minmax();
    const exact = await calibrate(model, ["relu"], [{ plugin: mm, state: mm.create(ctx) }], ds, { runtime: SINGLE_THREAD });
    expect({ min: h.min, max: h.max }).toEqual(exact.ranges.get("relu")!);
    expect(h.max).toBeGreaterThan(0);
    for (const opts of [{ batchSize: 2 }, { batchSize: 3, pipeline: false }, { fused: false, pipeline: false }]) {
      const b = await run(opts);
      expect(JSON.stringify(b.state.toJSON())).toBe(JSON.stringify(a.state.toJSON()));
      expect([...b.r.ranges]).toEqual([...a.r.ranges]);
    }
    const restored = HistogramSet.restore(JSON.parse(JSON.stringify(a.state.toJSON())), "percentile", (x) => percentileRange(x, 99.9));
    expect([...restored.finalize()]).toEqual([...a.r.ranges]);
  });
});
