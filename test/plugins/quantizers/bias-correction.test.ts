import { describe, expect, test } from "bun:test";
import { builtinPlugins } from "../../../plugins/registry.ts";
import * as ort from "onnxruntime-node";
import { consola } from "consola";
import { DataType, GraphBuilder, encodeModelProto, loadModel, resolveChain, runPipeline, serializeModel, tensorBytes, type PluginSpec } from "../../../src/index.ts";
import { randomFloats } from "../../helpers/models.ts";
import { corpus, hasCorpus } from "../../helpers/corpus.ts";
import { judge } from "../../helpers/evaluate.ts";

const quiet = consola.create({ level: 0 });

/** Per-channel mean of a [N, C, H, W] output. */
function channelMeans(y: Float32Array, n: number, c: number): Float64Array {
  const per = y.length / (n * c);
  const m = new Float64Array(c);
  for (let s = 0; s < n; s++) for (let ch = 0; ch < c; ch++) for (let i = 0; i < per; i++) m[ch]! += y[(s * c + ch) * per + i]!;
  return m.map((v) => v / (n * per));
}

describe("bias-correction", () => {
  test("weight-only: the corrected Conv's output mean per channel equals the float one on the calibration data", async () => {
    const b = new GraphBuilder();
    b.input("x", DataType.FLOAT, ["n", 8, 6, 6]);
    // Few, coarse weights per channel with one large one: rounding errors that do not cancel.
    const w = randomFloats(4 * 8 * 9, 3);
    for (let o = 0; o < 4; o++) w[o * 72] = 3;
    b.initializer("w", DataType.FLOAT, [4, 8, 3, 3], w);
    b.initializer("b", DataType.FLOAT, [4], new Float32Array([0.1, -0.2, 0.3, 0]));
    b.node("Conv", ["x", "w", "b"], { pads: [1, 1, 1, 1] }, ["y"]);
    b.output("y", DataType.FLOAT, ["n", 4, 6, 6]);
    const bytes = encodeModelProto(b.model({ opset: 13 }));
    const n = 16;
    const x = randomFloats(n * 8 * 36, 11).map((v) => v + 0.5); // inputs with a mean, as after a Relu
    const data = { x: { dims: [n, 8, 6, 6], data: x } };
    const run = async (chain: PluginSpec[]) => {
      const r = await runPipeline({ model: loadModel(bytes), plugins: await resolveChain(chain, { registry: builtinPlugins }), options: { data, perChannel: true }, logger: quiet });
      const s = await ort.InferenceSession.create(serializeModel(r.model));
      const y = (await s.run({ x: new ort.Tensor("float32", x, [n, 8, 6, 6]) })).y!.data as Float32Array;
      return channelMeans(y, n, 4);
    };
    const ref = channelMeans(((await (await ort.InferenceSession.create(bytes)).run({ x: new ort.Tensor("float32", x, [n, 8, 6, 6]) })).y!.data as Float32Array), n, 4);
    const plain = await run(["weight-only", "int8"]);
    const corrected = await run(["weight-only", ["bias-correction", { samples: 16 }], "int8"]);
    let before = 0;
    let after = 0;
    for (let c = 0; c < 4; c++) {
      before = Math.max(before, Math.abs(plain[c]! - ref[c]!));
      after = Math.max(after, Math.abs(corrected[c]! - ref[c]!));
    }
    expect(before).toBeGreaterThan(1e-3);
    expect(after).toBeLessThan(1e-5);
  });

  test.skipIf(!hasCorpus)("digits_cnn static INT8: 41.7 → 44.2 dB logits SQNR; only the int32 biases change", async () => {
    const data = corpus("digits_cnn_calib.npy");
    const run = async (chain: PluginSpec[]) => (await runPipeline({ model: corpus("digits_cnn.onnx"), plugins: await resolveChain(chain, { registry: builtinPlugins }), options: { data }, logger: quiet })).model;
    const base = await run(["normalize", "fold-batchnorm", "minmax", "static-qdq", "int8"]);
    const fixed = await run(["normalize", "fold-batchnorm", "minmax", "static-qdq", "bias-correction", "int8"]);
    const a = await judge(corpus("digits_cnn.onnx"), serializeModel(base), "cnn");
    const c = await judge(corpus("digits_cnn.onnx"), serializeModel(fixed), "cnn");
    expect(a.sqnrDb).toBeCloseTo(41.7, 0);
    expect(c.sqnrDb).toBeGreaterThan(a.sqnrDb + 2);
    expect(c.accuracy).toBeGreaterThanOrEqual(a.accuracy);
    // Same graph, same weights and scales; the bias tensors alone differ.
    const init = (m: typeof base) => new Map(m.proto.graph!.initializer!.map((t) => [t.name!, Buffer.from(tensorBytes(m, t)).toString("hex")]));
    const [ia, ic] = [init(base), init(fixed)];
    expect(fixed.proto.graph!.node!.map((n) => n.op_type)).toEqual(base.proto.graph!.node!.map((n) => n.op_type));
    const changed = [...ic.keys()].filter((k) => ia.get(k) !== ic.get(k));
    expect(changed.length).toBe(4); // the four quantized Convs' int32 biases (the float stem keeps its float bias)
    const int32 = new Set(fixed.proto.graph!.initializer!.filter((t) => t.data_type === DataType.INT32).map((t) => t.name));
    expect(changed.every((k) => int32.has(k))).toBe(true);
    expect(ic.size).toBe(ia.size);
  }, 60_000);
});
