/**
 * static-qdq: accuracy on the digits models, what ONNX Runtime fuses (its optimized graph is saved and counted), and
 * the exact structure that makes the fusion possible (int32 bias at s_x·s_w, zero point 0 after Relu, Clip(0,6) scale).
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { consola } from "consola";
import {
  DataType, GraphBuilder, decodeModelProto, defaultOptions, encodeModelProto, loadModel, readNpy, serializeModel, tensorFloat32,
  sqnrDb, valueInfo, type Model, type PluginContext, type QuantOptions, type QuantizeResult, type Range, type RangeMap, type TensorProto,
} from "../../../src/index.ts";
import staticQdq, { type StaticQdqOptions } from "../../../plugins/quantizers/static-qdq/index.ts";
import int8 from "../../../plugins/packers/int8.ts";
import { corpus, hasCorpus } from "../../helpers/corpus.ts";
import { randomFloats } from "../../helpers/models.ts";
import { accuracy, digitsTestSet } from "../../helpers/evaluate.ts";

const session = (bytes: Uint8Array, extra: ort.InferenceSession.SessionOptions = {}) =>
  ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: "sequential", graphOptimizationLevel: "all", ...extra });

function context(options: Partial<QuantOptions> = {}): PluginContext {
  return { logger: consola.withTag("static-qdq"), options: { ...defaultOptions, ...options }, progress() {}, at() {} };
}

/** Min/max of every float value of the graph over one batch, observed by exposing them as graph outputs. */
async function minmaxRanges(model: Model, tensors: string[], x: Float32Array, dims: number[]): Promise<RangeMap> {
  const copy = loadModel(serializeModel(model));
  const g = copy.proto.graph!;
  const have = new Set(g.output!.map((o) => o.name));
  for (const t of tensors) if (!have.has(t) && !g.input!.some((i) => i.name === t)) g.output!.push(valueInfo(t, DataType.FLOAT));
  const s = await session(serializeModel(copy), { graphOptimizationLevel: "disabled" });
  const feed = { [s.inputNames[0]!]: new ort.Tensor("float32", x, dims) };
  const out = await s.run(feed);
  const ranges: RangeMap = new Map<string, Range>();
  for (const t of tensors) {
    const d = (out[t] ?? feed[t])!.data as Float32Array;
    let min = Infinity, max = -Infinity;
    for (let i = 0; i < d.length; i++) {
      const v = d[i]!;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    ranges.set(t, { min, max });
  }
  return ranges;
}

/** Run the quantizer and the int8 packer; raise the opset as the kernel would. */
async function quantize(model: Model, ranges: RangeMap, opts: StaticQdqOptions = {}, ctx = context()): Promise<QuantizeResult> {
  const r = await staticQdq(opts).quantize(model, { ranges }, ctx);
  const packer = int8();
  for (const t of r.pending) packer.pack(t, ctx);
  const op = model.proto.opset_import!.find((o) => !o.domain)!;
  if (Number(op.version) < (r.minOpset ?? 0)) op.version = r.minOpset!;
  return r;
}

async function calibrated(path: string, calib: string, opts: StaticQdqOptions = {}) {
  const model = loadModel(path);
  const tensors = await staticQdq(opts).activations!(model, context());
  const c = readNpy(calib);
  const ranges = await minmaxRanges(model, tensors, c.data as Float32Array, c.dims);
  const result = await quantize(model, ranges, opts);
  return { model, tensors, ranges, result, bytes: serializeModel(model) };
}

async function logits(bytes: Uint8Array, x: { data: Float32Array; dims: number[] }): Promise<Float32Array> {
  const s = await session(bytes);
  const out = await s.run({ [s.inputNames[0]!]: new ort.Tensor("float32", x.data, x.dims) });
  return out[s.outputNames[0]!]!.data as Float32Array;
}

/** Op-type counts of the graph ONNX Runtime optimizes the model into. */
async function optimizedOps(bytes: Uint8Array): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), "static-qdq-"));
  try {
    const file = join(dir, "optimized.onnx");
    await session(bytes, { optimizedModelFilePath: file });
    const counts: Record<string, number> = {};
    for (const n of decodeModelProto(readFileSync(file)).graph!.node!) counts[n.op_type!] = (counts[n.op_type!] ?? 0) + 1;
    return counts;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const init = (m: Model, name: string): TensorProto => m.proto.graph!.initializer!.find((t) => t.name === name)!;
const nodesOf = (m: Model, op: string) => m.proto.graph!.node!.filter((n) => n.op_type === op);

describe.skipIf(!hasCorpus)("static-qdq on digits_cnn, every Conv quantized (floatStem off)", async () => {
  const q = hasCorpus ? await calibrated(corpus("digits_cnn.onnx"), corpus("digits_cnn_calib.npy"), { floatStem: false }) : undefined!;
  const test_x = hasCorpus ? readNpy(corpus("digits_cnn_test_x.npy")) : undefined!;
  const y = hasCorpus ? digitsTestSet("cnn").labels : undefined!;
  const x = () => ({ data: test_x.data as Float32Array, dims: test_x.dims });

  test("activations() asks only for tensors whose range sets a scale", () => {
    // The input, the five Relu outputs (Q moved past the Relu), GAP's output and the head's Relu; Flatten inherits.
    expect(q.tensors).toEqual([
      "image", "/f/f.0/f.0.2/Relu_output_0", "/f/f.1/f.1.2/Relu_output_0", "/f/f.2/f.2.2/Relu_output_0",
      "/f/f.3/f.3.2/Relu_output_0", "/f/f.4/f.4.2/Relu_output_0", "/f/f.5/GlobalAveragePool_output_0", "/h/h.1/Relu_output_0",
    ]);
  });

  test("per-channel minmax: accuracy ≥ 0.99 and logits SQNR ≥ 33.9 dB against fp32 in ORT", async () => {
    const ref = await logits(readFileSync(corpus("digits_cnn.onnx")), x());
    const got = await logits(q.bytes, x());
    expect(accuracy(got, y)).toBeGreaterThanOrEqual(0.99);
    expect(sqnrDb(ref, got)).toBeGreaterThanOrEqual(33.9);
  });

  test("ONNX Runtime fuses every Conv into QLinearConv, both Gemms into QGemm, and drops the Relus", async () => {
    const ops = await optimizedOps(q.bytes);
    expect(ops.QLinearConv).toBe(5);
    expect(ops.QGemm).toBe(2);
    expect(ops.QLinearGlobalAveragePool).toBe(1);
    expect(ops.Conv ?? 0).toBe(0);
    expect(ops.Relu ?? 0).toBe(0);
    expect(ops.FusedConv ?? 0).toBe(0);
  });

  test("int32 biases with scale exactly fp32(s_x · s_w[c]) and no zero point; uint8 zero point 0 after every Relu", () => {
    const m = q.model;
    const dq = new Map(nodesOf(m, "DequantizeLinear").map((n) => [n.output![0]!, n]));
    const qOf = new Map(nodesOf(m, "QuantizeLinear").map((n) => [n.output![0]!, n]));
    const convs = nodesOf(m, "Conv");
    expect(convs.length).toBe(5);
    for (const conv of convs) {
      const [xIn, wIn, bIn] = conv.input!;
      const xdq = dq.get(xIn!)!, wdq = dq.get(wIn!)!, bdq = dq.get(bIn!)!;
      const sx = tensorFloat32(m, init(m, xdq.input![1]!))[0]!;
      const sw = tensorFloat32(m, init(m, wdq.input![1]!));
      const bias = init(m, bdq.input![0]!);
      expect(bias.data_type).toBe(DataType.INT32);
      expect(bdq.input!.length).toBe(2);
      const sb = tensorFloat32(m, init(m, bdq.input![1]!));
      expect(sb.length).toBe(sw.length);
      for (let c = 0; c < sw.length; c++) expect(sb[c]).toBe(Math.fround(sx * sw[c]!));
      expect(init(m, wdq.input![0]!).data_type).toBe(DataType.INT8);
      expect(wdq.attribute!.find((a) => a.name === "axis")?.i).toBe(0);
      // The activation feeding the Conv was quantized right after a Relu (or is the model input).
      const qn = qOf.get(xdq.input![0]!)!;
      const zp = init(m, qn.input![2]!);
      expect(zp.data_type).toBe(DataType.UINT8);
      if (qn.input![0] !== "image") expect(zp.raw_data![0]).toBe(0);
    }
  });

  test("excluding a Conv by glob keeps it float and reports it; the rest still fuses", async () => {
    const model = loadModel(corpus("digits_cnn.onnx"));
    const r = await quantize(model, q.ranges, { exclude: ["*/f.2.0/Conv"], floatStem: false });
    expect(r.entries.find((e) => e.node === "/f/f.2/f.2.0/Conv")).toMatchObject({ action: "skipped", reason: "excluded" });
    // The excluded Conv reads the float Relu output (else ORT would quantize its weights itself); so the Conv before
    // it has no Q to fuse with and stays float too: 3 of 5 fuse.
    const conv = nodesOf(model, "Conv").find((n) => n.name === "/f/f.2/f.2.0/Conv")!;
    expect(conv.input).toEqual(["/f/f.1/f.1.2/Relu_output_0", "onnx::Conv_62", "onnx::Conv_63"]);
    const ops = await optimizedOps(serializeModel(model));
    expect(ops.QLinearConv).toBe(3);
    const ref = await logits(readFileSync(corpus("digits_cnn.onnx")), x());
    expect(sqnrDb(ref, await logits(serializeModel(model), x()))).toBeGreaterThan(38);
  });

  test("a missing range leaves the ops that need it float, with a reason", async () => {
    const model = loadModel(corpus("digits_cnn.onnx"));
    const ranges = new Map(q.ranges);
    ranges.delete("/f/f.3/f.3.2/Relu_output_0");
    const r = await quantize(model, ranges, { floatStem: false });
    expect(r.entries).toContainEqual(expect.objectContaining({ tensor: "/f/f.3/f.3.2/Relu_output_0", action: "skipped", reason: "no calibrated range" }));
    expect(r.entries.find((e) => e.node === "/f/f.4/f.4.0/Conv" && e.action === "skipped")?.reason).toMatch(/no range/);
    const ref = await logits(readFileSync(corpus("digits_cnn.onnx")), x());
    expect(sqnrDb(ref, await logits(serializeModel(model), x()))).toBeGreaterThan(30);
  });
});

describe.skipIf(!hasCorpus)("static-qdq on digits_cnn with the default float stem", async () => {
  const q = hasCorpus ? await calibrated(corpus("digits_cnn.onnx"), corpus("digits_cnn_calib.npy")) : undefined!;
  const test_x = hasCorpus ? readNpy(corpus("digits_cnn_test_x.npy")) : undefined!;

  test("the 1-channel stem Conv stays float (faster in fp32), so the raw input needs no range", () => {
    expect(q.tensors[0]).toBe("/f/f.0/f.0.2/Relu_output_0");
    expect(q.tensors).not.toContain("image");
    expect(q.result.entries.find((e) => e.node === "/f/f.0/f.0.0/Conv")).toMatchObject({ action: "skipped", reason: "float stem (faster in fp32)" });
  });

  test("ORT fuses the other four Convs into QLinearConv and runs the stem as one float FusedConv; more accurate too", async () => {
    const ops = await optimizedOps(q.bytes);
    expect(ops.QLinearConv).toBe(4);
    expect((ops.FusedConv ?? 0) + (ops.Conv ?? 0)).toBe(1);
    expect(ops.QGemm).toBe(2);
    expect(ops.Relu ?? 0).toBe(0);
    const x = { data: test_x.data as Float32Array, dims: test_x.dims };
    const ref = await logits(readFileSync(corpus("digits_cnn.onnx")), x);
    const got = await logits(q.bytes, x);
    expect(accuracy(got, digitsTestSet("cnn").labels)).toBeGreaterThanOrEqual(0.99);
    expect(sqnrDb(ref, got)).toBeGreaterThanOrEqual(40); // 41.7 dB measured; 38.0 dB with the stem quantized
  });
});

describe.skipIf(!hasCorpus)("static-qdq on digits_transformer", () => {
  test("MatMul/Gemm quantized, Softmax and LayerNorm float: accuracy ≥ 0.985, SQNR ≥ 32.6 dB", async () => {
    const q = await calibrated(corpus("digits_transformer.onnx"), corpus("digits_tf_calib.npy"));
    const xs = readNpy(corpus("digits_tf_test_x.npy"));
    const x = { data: xs.data as Float32Array, dims: xs.dims };
    const ref = await logits(readFileSync(corpus("digits_transformer.onnx")), x);
    const got = await logits(q.bytes, x);
    expect(accuracy(got, digitsTestSet("cnn").labels)).toBeGreaterThanOrEqual(0.985);
    expect(sqnrDb(ref, got)).toBeGreaterThanOrEqual(32.6);
    // Softmax and the LayerNorm decomposition read float values; their outputs may be quantized for a MatMul.
    const dqOut = new Set(nodesOf(q.model, "DequantizeLinear").map((n) => n.output![0]));
    const sensitive = q.model.proto.graph!.node!.filter((n) => ["Softmax", "ReduceMean", "Pow", "Sqrt", "Sub", "Div"].includes(n.op_type!));
    expect(sensitive.length).toBe(2 + 11 + 5 + 5 + 5 + 11);
    for (const n of sensitive) expect(n.input!.filter((i) => dqOut.has(i))).toEqual([]);
    const ops = await optimizedOps(q.bytes);
    expect((ops.QGemm ?? 0) + (ops.QLinearMatMul ?? 0) + (ops.MatMulIntegerToFloat ?? 0)).toBe(14);
  });
});

/** x[1,3,8,8] → Conv → Clip(0,6) → Conv(depthwise) → Clip(0,6) → Conv → y: a MobileNet block in miniature. */
function clipModel(): Model {
  const b = new GraphBuilder("clip");
  const x = b.input("x", DataType.FLOAT, [1, 3, 8, 8]);
  const w1 = b.initializer("w1", DataType.FLOAT, [8, 3, 3, 3], randomFloats(216, 3));
  const w2 = b.initializer("w2", DataType.FLOAT, [8, 1, 3, 3], randomFloats(72, 5));
  const w3 = b.initializer("w3", DataType.FLOAT, [4, 8, 1, 1], randomFloats(32, 7));
  const lo = b.initializer("lo", DataType.FLOAT, [], Float32Array.of(0));
  const hi = b.initializer("hi", DataType.FLOAT, [], Float32Array.of(6));
  const c1 = b.node("Clip", [b.node("Conv", [x, w1], { pads: [1, 1, 1, 1] }, 1, { name: "conv1" }), lo, hi], {}, ["a1"]);
  const c2 = b.node("Clip", [b.node("Conv", [c1, w2], { pads: [1, 1, 1, 1], group: 8 }, 1, { name: "conv2" }), lo, hi], {}, ["a2"]);
  b.node("Conv", [c2, w3], {}, ["y"], { name: "conv3" });
  b.output("y", DataType.FLOAT, [1, 4, 8, 8]);
  return loadModel(encodeModelProto(b.model({ opset: 13 })));
}

describe("static-qdq Clip(0,6) placement", () => {
  test("a saturated ReLU6 gets scale fp32(6/255), zero point 0, and ORT deletes both Clips", async () => {
    const model = clipModel();
    const tensors = await staticQdq({ floatStem: false }).activations!(model, context());
    expect(tensors).toEqual(["x", "a1", "a2"]);
    const ranges: RangeMap = new Map([["x", { min: -1, max: 1 }], ["a1", { min: 0, max: 6 }], ["a2", { min: 0, max: 2.5 }]]);
    await quantize(model, ranges, { floatStem: false });
    const qOf = (t: string) => nodesOf(model, "QuantizeLinear").find((n) => n.input![0] === t)!;
    expect(tensorFloat32(model, init(model, qOf("a1").input![1]!))[0]).toBe(Math.fround(6 / 255));
    expect(init(model, qOf("a1").input![2]!).raw_data![0]).toBe(0);
    // Below the bound the calibrated max sets the scale (half a step of slack, still inside the Clip).
    const s2 = tensorFloat32(model, init(model, qOf("a2").input![1]!))[0]!;
    expect(s2).toBeLessThan(2.5 / 254);
    expect(Math.fround(s2 * 255)).toBeLessThanOrEqual(6);
    const ops = await optimizedOps(serializeModel(model));
    expect(ops.Clip ?? 0).toBe(0);
    expect(ops.QLinearConv).toBe(2); // conv3 writes the float graph output: it keeps a float output on purpose
  });

  test("int8 activations: Relu's zero point is -128", async () => {
    const model = clipModel();
    await quantize(model, new Map([["x", { min: -1, max: 1 }], ["a1", { min: 0, max: 6 }], ["a2", { min: 0, max: 2.5 }]]), { activationType: "int8" });
    for (const t of ["a1", "a2"]) {
      const qn = nodesOf(model, "QuantizeLinear").find((n) => n.input![0] === t)!;
      const zp = init(model, qn.input![2]!);
      expect(zp.data_type).toBe(DataType.INT8);
      expect(new Int8Array(zp.raw_data!.buffer, zp.raw_data!.byteOffset, 1)[0]).toBe(-128);
    }
  });
});

describe("static-qdq plugin behaviour", () => {
  test("a model that is already quantized is refused with E_QUANT_ALREADY", async () => {
    const model = clipModel();
    await quantize(model, new Map([["x", { min: -1, max: 1 }], ["a1", { min: 0, max: 6 }], ["a2", { min: 0, max: 2 }]]));
    expect(() => staticQdq().activations!(model, context())).toThrow(expect.objectContaining({ code: "E_QUANT_ALREADY" }));
  });

  test("op types outside --op-types stay float with a reason; --bits 4 is refused", async () => {
    const model = clipModel();
    const r = await quantize(model, new Map([["x", { min: -1, max: 1 }]]), { opTypes: ["Gemm"], floatStem: false });
    expect(r.entries.filter((e) => e.action === "skipped").map((e) => e.reason)).toEqual(Array(3).fill("op type Conv not selected"));
    expect(r.pending).toEqual([]);
    expect(() => staticQdq().activations!(clipModel(), context({ bits: 4 }))).toThrow(expect.objectContaining({ code: "E_QUANT_OPTIONS" }));
  });

  test("nodes holding subgraphs are reported; their bodies stay float", async () => {
    const body = new GraphBuilder("then");
    body.node("Identity", ["a1"], {}, ["t"]);
    body.output("t", DataType.FLOAT, [1, 8, 8, 8]);
    const model = clipModel();
    const g = model.proto.graph!;
    g.input!.push(valueInfo("cond", DataType.BOOL, []));
    g.node!.push({ op_type: "If", name: "branch", input: ["cond"], output: ["z"], attribute: [
      { name: "then_branch", type: 5, g: body.graph }, { name: "else_branch", type: 5, g: body.graph },
    ] });
    g.output!.push(valueInfo("z", DataType.FLOAT, [1, 8, 8, 8]));
    const r = await quantize(model, new Map([["x", { min: -1, max: 1 }], ["a1", { min: 0, max: 6 }], ["a2", { min: 0, max: 2 }]]), { floatStem: false });
    expect(r.entries).toContainEqual(expect.objectContaining({ node: "branch", action: "skipped", reason: "subgraph bodies stay float" }));
    // conv2 still reads a1 through a Q/DQ pair; the If body keeps reading the float a1.
    expect(nodesOf(model, "QuantizeLinear").map((n) => n.input![0])).toEqual(["x", "a1", "a2"]);
    expect(body.graph.node![0]!.input).toEqual(["a1"]);
  });
});
