import { describe, expect, test } from "bun:test";
import { loadModel } from "../../src/onnx/codec.ts";
import type { NodeProto } from "../../src/onnx/types.ts";
import { AttributeType } from "../../src/onnx/types.ts";
import { calibrate } from "../../src/runtime/calibrate.ts";
import { bypassReorders, createObservationSession, nchwcBlock } from "../../src/runtime/fused.ts";
import { observationModel } from "../../src/runtime/observe.ts";
import { RuntimeSession, SINGLE_THREAD } from "../../src/runtime/session.ts";
import { fillNormal, sampleRng } from "../../src/data/random.ts";
import { corpus, hasCorpus } from "../helpers/corpus.ts";
import { convReluMatMul } from "./models.ts";
import { ctx, memoryDataset, randomFloats, testMinMax } from "./helpers.ts";

const reorder = (from: string, to: string, channels: number): NodeProto => ({
  op_type: "ReorderOutput",
  domain: "com.microsoft.nchwc",
  input: [from],
  output: [to],
  attribute: [{ name: "channels", type: AttributeType.INT, i: channels }],
});
const reduce = (op: string, from: string, to: string): NodeProto => ({ op_type: op, input: [from], output: [to] });

describe("bypassReorders", () => {
  test("points our reductions at the blocked tensor when channels are a multiple of 16, drops unread reorders", () => {
    const nodes = [
      reorder("c1_nchwc", "c1", 32),
      reduce("ReduceMin", "c1", "c1_min"),
      reduce("ReduceMax", "c1", "c1_max"),
      reorder("c2_nchwc", "c2", 24), // 24 channels: padded blocks, must stay
      reduce("ReduceMin", "c2", "c2_min"),
      reorder("c3_nchwc", "c3", 64), // also read by someone else: rewired but kept
      reduce("ReduceMax", "c3", "c3_max"),
      reduce("ReduceMin", "c3", "user_min"), // not ours: untouched
    ];
    const ours = new Set(["c1_min", "c1_max", "c2_min", "c3_max"]);
    const r = bypassReorders(nodes, ours, new Set(), 16);
    expect(r.rewired).toBe(3);
    expect(r.removed).toBe(1);
    expect(r.nodes.map((n) => `${n.op_type}(${n.input![0]})`)).toEqual([
      "ReduceMin(c1_nchwc)", "ReduceMax(c1_nchwc)", "ReorderOutput(c2_nchwc)", "ReduceMin(c2)", "ReorderOutput(c3_nchwc)", "ReduceMax(c3_nchwc)", "ReduceMin(c3)",
    ]);
  });

  test("a reorder feeding a graph output stays", () => {
    const r = bypassReorders([reorder("a_nchwc", "a", 16), reduce("ReduceMax", "a", "a_max")], new Set(["a_max"]), new Set(["a"]), 16);
    expect(r.removed).toBe(0);
    expect(r.rewired).toBe(1);
  });

  test("the block size decides: 16 channels pass with blocks of 8 or 16, not 32; no NCHWc (0) bypasses nothing", () => {
    const nodes = () => [reorder("a_nchwc", "a", 16), reduce("ReduceMax", "a", "a_max")];
    expect(bypassReorders(nodes(), new Set(["a_max"]), new Set(), 8).removed).toBe(1);
    expect(bypassReorders(nodes(), new Set(["a_max"]), new Set(), 64).removed).toBe(0);
    expect(bypassReorders(nodes(), new Set(["a_max"]), new Set(), 0).removed).toBe(0);
  });

  test("this CPU's NCHWc block is detected (x86-64: 8 with AVX2 or 16 with AVX-512, both reported as 16; elsewhere none)", async () => {
    expect(await nchwcBlock()).toBe(process.arch === "x64" ? 16 : 0);
  });
});

describe("fused observation", () => {
  test("the conv model's reorders go away and the fused session gives the plain session's min/max", async () => {
    const obs = await observationModel(convReluMatMul(), ["conv", "relu"], "minmax");
    const { session: fused, fused: isFused, removed } = await createObservationSession(obs, SINGLE_THREAD);
    const plain = await RuntimeSession.create(obs.model, SINGLE_THREAD);
    try {
      expect(removed).toBeGreaterThan(0);
      expect(isFused).toBe(true);
      const x = randomFloats(3 * 72, 17, 2);
      const a = await plain.run({ x: plain.tensor(x, [3, 2, 6, 6], 1) });
      const b = await fused.run({ x: fused.tensor(x, [3, 2, 6, 6], 1) });
      for (const k of obs.packed) expect(Array.from(b[k]!.data as Float32Array)).toEqual(Array.from(a[k]!.data as Float32Array));
    } finally {
      await plain.release();
      await fused.release();
    }
  });

  test.skipIf(!hasCorpus)("mobilenet_v2: every node output observed, fused and plain paths agree exactly", async () => {
    const model = loadModel(corpus("mobilenet_v2.onnx"));
    const tensors = model.proto.graph!.node!.filter((n) => n.op_type !== "Constant").map((n) => n.output![0]!);
    const n = 3;
    const per = 3 * 224 * 224;
    const x = new Float32Array(n * per);
    for (let i = 0; i < n; i++) fillNormal(x.subarray(i * per, (i + 1) * per), sampleRng(0, "input", i));
    const run = (fused: boolean) =>
      calibrate(model, tensors, [{ plugin: testMinMax, state: testMinMax.create(ctx) }], memoryDataset({ input: { data: x, sampleDims: [3, 224, 224] } }, n), { runtime: SINGLE_THREAD, fused });
    const [a, b] = [await run(true), await run(false)];
    expect(a.stats.fused).toBe(true);
    expect(b.stats.fused).toBe(false);
    expect(a.ranges.size).toBe(tensors.length);
    expect([...a.ranges]).toEqual([...b.ranges]);
  });
});
