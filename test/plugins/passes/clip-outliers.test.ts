import { describe, expect, test } from "bun:test";
import { builtinPlugins } from "../../../plugins/registry.ts";
import * as ort from "onnxruntime-node";
import { consola } from "consola";
import { DataType, GraphBuilder, encodeModelProto, findOutlierTargets, loadModel, resolveChain, runPipeline, serializeModel, sqnrDb, type PluginSpec } from "../../../src/index.ts";
import { randomFloats } from "../../helpers/models.ts";

const quiet = consola.create({ level: 0 });

/**
 * A 1×1 Conv 32 → 8 whose weights are ≤ 0.021 except one 1.22 per channel (the case), on an input channel that
 * carries little signal (`quietInput`) or as much as the others.
 */
function outlierModel(quietInput: boolean) {
  const b = new GraphBuilder();
  b.input("x", DataType.FLOAT, ["n", 32, 4, 4]);
  const w = randomFloats(8 * 32, 5).map((v) => Math.max(-0.021, Math.min(0.021, v * 0.01)));
  for (let o = 0; o < 8; o++) w[o * 32 + (o % 4)] = 1.22;
  b.initializer("w", DataType.FLOAT, [8, 32, 1, 1], w);
  b.initializer("b", DataType.FLOAT, [8], new Float32Array(8));
  b.node("Conv", ["x", "w", "b"], {}, ["y"]);
  b.output("y", DataType.FLOAT, ["n", 8, 4, 4]);
  const n = 16;
  const x = randomFloats(n * 32 * 16, 9);
  // Channels 0–3 (the outliers' inputs) are nearly constant when quiet: 0.01-scale noise around 0.3.
  if (quietInput) for (let s = 0; s < n; s++) for (let c = 0; c < 4; c++) for (let i = 0; i < 16; i++) x[(s * 32 + c) * 16 + i] = 0.3 + 0.001 * x[(s * 32 + c) * 16 + i]!;
  return { bytes: encodeModelProto(b.model({ opset: 13 })), data: { x: { dims: [n, 32, 4, 4], data: x } }, x, n };
}

async function outputSqnr(quietInput: boolean, chain: PluginSpec[]): Promise<number> {
  const { bytes, data, x, n } = outlierModel(quietInput);
  const r = await runPipeline({ model: loadModel(bytes), plugins: await resolveChain(chain, { registry: builtinPlugins }), options: { data, perChannel: true }, logger: quiet });
  const feeds = { x: new ort.Tensor("float32", x, [n, 32, 4, 4]) };
  const ref = (await (await ort.InferenceSession.create(bytes)).run(feeds)).y!.data as Float32Array;
  const got = (await (await ort.InferenceSession.create(serializeModel(r.model))).run(feeds)).y!.data as Float32Array;
  return sqnrDb(ref, got);
}

describe("clip-outliers", () => {
  test("finds the channels whose max is ≥ 6× the rms of their other weights", () => {
    const t = findOutlierTargets(loadModel(outlierModel(false).bytes));
    expect(t.length).toBe(1);
    expect(t[0]!.channels).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  test("an outlier on a quiet input is clipped (mean into the bias): weight-only INT8 output SQNR rises by > 10 dB", async () => {
    const plain = await outputSqnr(true, [["weight-only", { perChannel: true }], "int8"]);
    const clipped = await outputSqnr(true, ["clip-outliers", ["weight-only", { perChannel: true }], "int8"]);
    expect(clipped).toBeGreaterThan(plain + 10);
  });

  test("an outlier on an input that carries signal is kept: the output error decides, not the weight error", async () => {
    const plain = await outputSqnr(false, [["weight-only", { perChannel: true }], "int8"]);
    const clipped = await outputSqnr(false, ["clip-outliers", ["weight-only", { perChannel: true }], "int8"]);
    expect(clipped).toBeGreaterThanOrEqual(plain - 0.01);
  });
});
