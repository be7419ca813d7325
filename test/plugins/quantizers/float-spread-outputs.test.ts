import { describe, expect, test } from "bun:test";
import { builtinPlugins } from "../../../plugins/registry.ts";
import * as ort from "onnxruntime-node";
import { consola } from "consola";
import { DataType, GraphBuilder, encodeModelProto, loadModel, resolveChain, runPipeline, serializeModel, sqnrDb, type PluginSpec } from "../../../src/index.ts";
import { randomFloats } from "../../helpers/models.ts";
import { hasZoo, zoo } from "../../helpers/zoo.ts";

const quiet = consola.create({ level: 0 });

/** Conv (channel ranges `spread`× apart) → Mul by a constant → Sigmoid: the Conv output is quantized only so the Conv fuses. */
function model(spread: number) {
  const b = new GraphBuilder();
  b.input("x", DataType.FLOAT, ["n", 8, 8, 8]); // > 4 channels: not a float stem
  const w = randomFloats(6 * 8 * 9, 1);
  for (let o = 0; o < 6; o++) for (let i = 0; i < 72; i++) w[o * 72 + i]! *= o === 0 ? spread : 1;
  b.initializer("w", DataType.FLOAT, [6, 8, 3, 3], w);
  b.initializer("k", DataType.FLOAT, [1, 6, 1, 1], new Float32Array([1 / spread, 1, 0.5, 2, 1, 1]));
  const c = b.node("Conv", ["x", "w"], { pads: [1, 1, 1, 1] });
  b.node("Sigmoid", [b.node("Mul", [c, "k"])], {}, ["y"]);
  b.output("y", DataType.FLOAT, ["n", 6, 8, 8]);
  return encodeModelProto(b.model({ opset: 13 }));
}

async function quantized(bytes: Uint8Array, chain: PluginSpec[]) {
  const x = randomFloats(8 * 512, 3);
  const r = await runPipeline({ model: loadModel(bytes), plugins: await resolveChain(chain, { registry: builtinPlugins }), options: { data: { x: { dims: [8, 8, 8, 8], data: x } } }, logger: quiet });
  const feeds = { x: new ort.Tensor("float32", randomFloats(4 * 512, 4), [4, 8, 8, 8]) };
  const ref = (await (await ort.InferenceSession.create(bytes)).run(feeds)).y!.data as Float32Array;
  const out = serializeModel(r.model);
  const got = (await (await ort.InferenceSession.create(out)).run(feeds)).y!.data as Float32Array; // runs: no QLinearConv with a per-axis output
  return { db: sqnrDb(ref, got), ops: r.model.proto.graph!.node!.map((n) => n.op_type), notes: r.notes };
}

describe("float-spread-outputs", () => {
  test("a Conv output 100× apart read only by float ops loses its Q/DQ; one within 8× keeps it", async () => {
    const chain: PluginSpec[] = ["minmax", "static-qdq", "float-spread-outputs", "int8"];
    const wide = await quantized(model(100), chain);
    const plain = await quantized(model(100), ["minmax", "static-qdq", "int8"]);
    expect(plain.ops.filter((o) => o === "QuantizeLinear").length).toBe(2); // the input's and the Conv output's
    expect(wide.ops.filter((o) => o === "QuantizeLinear").length).toBe(1);
    expect(wide.notes.some((n) => /kept float/.test(n))).toBe(true);
    expect(wide.db).toBeGreaterThan(plain.db + 3);
    const narrow = await quantized(model(2), chain);
    expect(narrow.ops.filter((o) => o === "QuantizeLinear").length).toBe(2);
  });

  test.skipIf(!hasZoo)("the issue's detector failure with the spread inside the depthwise Conv: static INT8 35.1 → 47.1 dB", async () => {
    const { hostileDetector } = await import("../../../bench/zoo/hostile.ts");
    const { naturalImages } = await import("../../../bench/zoo/synthetic.ts");
    const { runOutputs, sqnr } = await import("../../../bench/zoo/runs.ts");
    const m = hostileDetector(zoo("fr_detect"), 50, 7, true);
    const bytes = serializeModel(m);
    const input = m.proto.graph!.input![0]!.name!;
    const [h, w] = m.proto.graph!.input![0]!.type!.tensor_type!.shape!.dim!.slice(2).map((d) => Number(d.dim_value));
    const norm = { mean: [127], std: [128] };
    const data = { [input]: { dims: [8, 3, h!, w!], data: naturalImages(8, 3, h!, w!, norm, 1) } };
    const feeds = [0, 1, 2, 3].map((i) => ({ [input]: new ort.Tensor("float32", naturalImages(1, 3, h!, w!, norm, 1000 + i), [1, 3, h!, w!]) }));
    const reference = await runOutputs(bytes as never, feeds);
    const db = async (chain: PluginSpec[]) => {
      const r = await runPipeline({ model: loadModel(bytes), plugins: await resolveChain(chain, { registry: builtinPlugins }), options: { data: data as never, samples: 8 }, logger: quiet });
      return sqnr(reference, await runOutputs(serializeModel(r.model) as never, feeds));
    };
    const base = await db(["normalize", "minmax", "static-qdq", "int8"]);
    const kept = await db(["normalize", "minmax", "static-qdq", "float-spread-outputs", "int8"]);
    expect(base).toBeLessThan(37);
    expect(kept).toBeGreaterThan(base + 10);
  }, 60_000);
});
