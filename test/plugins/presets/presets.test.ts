/**
 * The built-in presets: each loads as the chain and options it documents, and run through that chain on the digits
 * models it produces the quantized form it promises (static QDQ, dynamic integer ops, INT4 blocks), with the
 * accuracy measured against the float model on the held-out test set.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DataType, loadQuantConfig, resolveChain, runPipeline, serializeModel, type QuantConfig } from "../../../src/index.ts";
import { corpus, hasCorpus } from "../../helpers/corpus.ts";
import { judge } from "../../helpers/evaluate.ts";
import { quiet } from "../fixtures.ts";
import { builtinPlugins } from "../../../plugins/registry.ts";

const cwd = mkdtempSync(join(tmpdir(), "quant-presets-"));
const load = async (preset: string) => (await loadQuantConfig({ preset, cwd, noConfig: true, registry: builtinPlugins })).config;

async function run(preset: string, model: string, extra: QuantConfig = {}) {
  const { plugins, ...options } = { ...(await load(preset)), ...extra };
  const r = await runPipeline({ model: corpus(model), plugins: await resolveChain(plugins!, { cwd, registry: builtinPlugins }), options: { output: join(cwd, `${preset}.onnx`), ...options }, write: false, logger: quiet });
  const ops = new Map<string, number>();
  for (const n of r.model.proto.graph!.node!) ops.set(n.op_type!, (ops.get(n.op_type!) ?? 0) + 1);
  return { r, ops, bytes: serializeModel(r.model) };
}

describe("presets load as documented", () => {
  test("chains and options", async () => {
    const cnn = await load("cnn");
    expect(cnn.plugins).toEqual(["normalize", "fold-batchnorm", "minmax", "static-qdq", "int8", "onnx", "connectivity"]);
    expect([cnn.bits, cnn.perChannel, cnn.symmetric, cnn.activationType, cnn.method]).toEqual([8, true, true, "uint8", "minmax"]);
    const tf = await load("transformer");
    expect(tf.plugins).toEqual(["normalize", ["dynamic", { opTypes: ["MatMul", "Gemm"] }], "int8", "onnx", "connectivity"]);
    expect([tf.bits, tf.perChannel, tf.symmetric, tf.opTypes, tf.minElements]).toEqual([8, true, true, ["MatMul", "Gemm"], 32768]);
    const tjs = await load("transformers-js");
    expect(tjs.plugins).toEqual(["normalize", "dynamic", "int8", "onnx", "connectivity"]);
    const i4 = await load("int4-weights");
    expect(i4.plugins).toEqual(["normalize", "weight-only", "int4", "int8", "onnx", "connectivity"]);
    expect([i4.bits, i4.blockSize, i4.symmetric, i4.nativeInt4, i4.opTypes]).toEqual([4, 32, true, true, ["MatMul", "Gemm", "Gather"]]);
  });
});

describe.skipIf(!hasCorpus)("presets on the digits models", () => {
  test("cnn: static QDQ on digits_cnn", async () => {
    const { r, ops, bytes } = await run("cnn", "digits_cnn.onnx", { data: corpus("digits_cnn_calib.npy"), samples: 64 });
    expect(r.diagnostics.filter((d) => d.level === "error")).toEqual([]);
    // Q/DQ around every Conv and Gemm; the batch norms are folded; every weight read through a DequantizeLinear but
    // the stem Conv's (1 input channel: kept float, MLAS's fp32 kernel is faster there).
    expect([ops.get("QuantizeLinear"), ops.get("DequantizeLinear"), ops.get("Conv"), ops.get("Gemm"), ops.get("BatchNormalization")]).toEqual([8, 20, 5, 2, undefined]);
    const g = r.model.proto.graph!;
    const dqOut = new Set(g.node!.filter((n) => n.op_type === "DequantizeLinear").map((n) => n.output![0]));
    const floatWeights = g.node!.filter((n) => (n.op_type === "Conv" || n.op_type === "Gemm") && !dqOut.has(n.input![1]!));
    expect(floatWeights.map((n) => g.initializer!.find((t) => t.name === n.input![1])?.dims?.map(Number)[1])).toEqual([1]);
    const j = await judge(corpus("digits_cnn.onnx"), bytes, "cnn"); // measured: 41.7 dB, accuracy 0.9915 = float
    expect(j.sqnrDb).toBeGreaterThan(39);
    expect(j.accuracy).toBeGreaterThanOrEqual(j.floatAccuracy - 0.005);
  }, 120_000);

  test("transformer and transformers-js: dynamic integer MatMuls on digits_transformer (transformer: only with minElements 0)", async () => {
    // The transformer preset leaves MatMuls under 32768 weight elements float (slower quantized at batch 1); every
    // weight of digits_transformer is smaller, so nothing is quantized and every weight's entry says why (the CLI then
    // refuses with E_NOTHING_QUANTIZED: test/acceptance/transformers.test.ts).
    const left = await run("transformer", "digits_transformer.onnx");
    expect([left.ops.get("MatMulInteger"), left.ops.get("DynamicQuantizeLinear")]).toEqual([undefined, undefined]);
    expect(left.r.entries.map((e) => [e.action, e.reason])).toEqual(Array(10).fill(["skipped", "fewer than 32768 elements"]));
    for (const [preset, extra] of [["transformer", { minElements: 0 }], ["transformers-js", {}]] as const) {
      const { ops, bytes } = await run(preset, "digits_transformer.onnx", extra);
      // Every weight MatMul runs as DynamicQuantizeLinear → MatMulInteger; the attention's activation MatMuls stay float.
      expect([preset, ops.get("DynamicQuantizeLinear"), ops.get("MatMulInteger"), ops.get("MatMul"), ops.get("QuantizeLinear")]).toEqual([preset, 9, 9, 4, undefined]);
      const j = await judge(corpus("digits_transformer.onnx"), bytes, "tf"); // measured: 43.7 dB, accuracy = float
      expect(j.sqnrDb).toBeGreaterThan(41);
      expect(j.accuracy).toBeGreaterThanOrEqual(j.floatAccuracy - 0.005);
    }
  }, 120_000);

  test("int4-weights: INT4 blocks of 32 on digits_transformer", async () => {
    const { r, bytes } = await run("int4-weights", "digits_transformer.onnx");
    expect([r.opset.from, r.opset.to]).toEqual([14, 21]);
    const q = r.entries.filter((e) => e.action === "quantized");
    expect(q).toHaveLength(10);
    for (const e of q) expect([e.type, /^block 32 axis [01]$/.test(e.granularity ?? "")]).toEqual(["int4", true]);
    const g = r.model.proto.graph!;
    const stored = g.node!.filter((n) => n.op_type === "DequantizeLinear").map((n) => g.initializer!.find((t) => t.name === n.input![0])!);
    expect(stored.map((t) => t.data_type)).toEqual(Array(10).fill(DataType.INT4)); // native storage, two per byte
    const j = await judge(corpus("digits_transformer.onnx"), bytes, "tf"); // measured: 25.7 dB, accuracy 0.9829 (float 0.9872)
    expect(j.sqnrDb).toBeGreaterThan(24);
    expect(j.accuracy).toBeGreaterThanOrEqual(j.floatAccuracy - 0.01);
  }, 120_000);
});
