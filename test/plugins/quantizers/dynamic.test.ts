/**
 * dynamic quantizer: the exact integer form (weights, zero points, scales), ONNX Runtime outputs against an
 * emulation of DynamicQuantizeLinear + integer matmul, Gemm/Conv/subgraph/exclusion cases, and digits acceptance.
 */
import { describe, expect, test } from "bun:test";
import { consola } from "consola";
import * as ort from "onnxruntime-node";
import {
  DataType, GraphBuilder, defaultOptions, encodeModelProto, loadModel, serializeModel, sqnrDb, tensorBytes, tensorFloat32,
  type Model, type PluginContext, type QuantOptions, type TensorProto,
} from "../../../src/index.ts";
import dynamic, { type DynamicOptions } from "../../../plugins/quantizers/dynamic.ts";
import int8 from "../../../plugins/packers/int8.ts";
import { randomFloats } from "../../helpers/models.ts";

function ctx(options: Partial<QuantOptions> = {}): PluginContext {
  return { logger: consola.withTag("dynamic"), options: { ...defaultOptions, ...options }, progress() {}, at() {} };
}

/** Quantize and pack a model in place; returns the report entries. */
async function quantize(model: Model, opts: DynamicOptions = {}, options: Partial<QuantOptions> = {}) {
  const c = ctx(options);
  const r = await dynamic(opts).quantize(model, { ranges: new Map() }, c);
  const packer = int8();
  for (const t of r.pending) packer.pack(t, c);
  return r;
}

const reload = (m: Model) => loadModel(serializeModel(m));
const init = (m: Model, name: string) => m.proto.graph!.initializer!.find((t) => t.name === name) as TensorProto;

async function run(m: Model, feeds: Record<string, ort.Tensor>) {
  const s = await ort.InferenceSession.create(serializeModel(m), { intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 3 });
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

function matmulModel(k: number, n: number, w: Float32Array) {
  const b = new GraphBuilder();
  b.input("x", DataType.FLOAT, ["b", k]);
  b.initializer("W", DataType.FLOAT, [k, n], w);
  b.node("MatMul", ["x", "W"], {}, ["y"], { name: "mm" });
  b.output("y", DataType.FLOAT, ["b", n]);
  return loadModel(encodeModelProto(b.model({ opset: 13 })));
}

/** DynamicQuantizeLinear as the ONNX spec defines it, then the integer matmul and the scales, in float64. */
function emulate(x: Float32Array, m: number, k: number, q: Int8Array, zp: number, wScale: Float32Array, n: number): Float64Array {
  let lo = 0, hi = 0;
  for (const v of x) (lo = Math.min(lo, v), hi = Math.max(hi, v));
  const s = Math.fround((hi - lo) / 255);
  const xzp = Math.min(255, Math.max(0, Math.round(-lo / s)));
  const xq = x.map((v) => Math.min(255, Math.max(0, Math.round(v / s) + xzp)));
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let t = 0; t < k; t++) acc += (xq[i * k + t]! - xzp) * (q[t * n + j]! - zp);
      out[i * n + j] = acc * s * wScale[wScale.length === 1 ? 0 : j]!;
    }
  return out;
}

describe("dynamic quantizer", () => {
  test("MatMul: exact int8 per-channel weights, scalar zero point, DynamicQuantizeLinear → MatMulInteger → Cast → Mul", async () => {
    // Column maxima 1, 0.5, 2: symmetric scales max / 127.5 (the end values saturate onto ±127/−128).
    const w = Float32Array.of(1, 0.5, -2, -0.25, -0.5, 1, 0.5, 0.125, 0.5, 0, 0.25, 2);
    const m = matmulModel(4, 3, w);
    const r = await quantize(m, { clipSearch: false });
    const g = m.proto.graph!;
    expect(g.node!.map((n) => n.op_type)).toEqual(["DynamicQuantizeLinear", "MatMulInteger", "Cast", "Mul", "Mul"]);
    expect(g.initializer!.some((t) => t.name === "W")).toBe(false);
    const q = init(m, "W_quantized");
    expect(q.data_type).toBe(DataType.INT8);
    const scales = tensorFloat32(m, init(m, "W_scale"));
    [1, 0.5, 2].forEach((max, j) => expect(Math.abs(scales[j]! - max / 127.5)).toBeLessThan(1e-7 * max));
    // q = saturate(round_half_even(fp32(w / s))), as QuantizeLinear computes it.
    const rne = (v: number) => (Math.abs(v % 1) === 0.5 ? 2 * Math.round(v / 2) : Math.round(v));
    const want = Array.from(w, (v, i) => Math.max(-128, Math.min(127, rne(Math.fround(v / scales[i % 3]!)))));
    expect(Array.from(new Int8Array(tensorBytes(m, q).slice().buffer))).toEqual(want);
    expect(want.slice(0, 6)).toEqual([127, 127, -127, -32, -127, 64]);
    const zp = init(m, "W_zero_point");
    expect(zp.dims).toEqual([]);
    expect(zp.data_type).toBe(DataType.INT8);
    expect(r.minOpset).toBe(11);
    expect(r.entries.filter((e) => e.action === "quantized").map((e) => e.kind)).toEqual(["weight", "activation"]);

    // ONNX Runtime's output equals the emulation of the spec to float32 rounding.
    const x = randomFloats(8, 3);
    const out = (await run(reload(m), { x: new ort.Tensor("float32", x, [2, 4]) })).y!.data as Float32Array;
    const ref = emulate(x, 2, 4, new Int8Array(tensorBytes(m, q).slice().buffer), 0, tensorFloat32(m, init(m, "W_scale")), 3);
    for (let i = 0; i < 6; i++) expect(Math.abs(out[i]! - ref[i]!)).toBeLessThan(1e-5 * (1 + Math.abs(ref[i]!)));
  });

  test("asymmetric weights: per-column zero points for MatMulInteger; clip search raises the weight SQNR", async () => {
    const w = randomFloats(64 * 16, 5).map((v, i) => v + (i % 16) * 0.1);
    const a = matmulModel(64, 16, w);
    await quantize(a, { symmetric: false, clipSearch: false });
    expect(init(a, "W_zero_point").dims).toEqual([16]);
    expect(init(a, "W_zero_point").data_type).toBe(DataType.INT8);
    const x = randomFloats(64 * 4, 9);
    const f = (await run(matmulModel(64, 16, w), { x: new ort.Tensor("float32", x, [4, 64]) })).y!.data as Float32Array;
    const y = (await run(reload(a), { x: new ort.Tensor("float32", x, [4, 64]) })).y!.data as Float32Array;
    expect(sqnrDb(f, y)).toBeGreaterThan(35);
    const plain = await quantize(matmulModel(64, 16, w), { clipSearch: false });
    const clip = await quantize(matmulModel(64, 16, w));
    expect(clip.entries[0]!.sqnrDb!).toBeGreaterThan(plain.entries[0]!.sqnrDb!);
  });

  test("Gemm transB with alpha, beta and a bias; Conv with bias and groups (uint8 weights by default); outputs close to float", async () => {
    const b = new GraphBuilder();
    b.input("x", DataType.FLOAT, [2, 2, 6, 6]);
    b.initializer("CW", DataType.FLOAT, [4, 1, 3, 3], randomFloats(36, 2));
    b.initializer("CB", DataType.FLOAT, [4], Float32Array.of(0.5, -0.25, 1, 0));
    const c = b.node("Conv", ["x", "CW", "CB"], { group: 2, pads: [1, 1, 1, 1] }, ["c"], { name: "conv" });
    const flat = b.node("Flatten", [c], {}, ["f"]);
    b.initializer("GW", DataType.FLOAT, [5, 144], randomFloats(720, 4, 0.1));
    b.initializer("GC", DataType.FLOAT, [5], Float32Array.of(1, 2, 3, 4, 5));
    b.node("Gemm", [flat, "GW", "GC"], { transB: 1, alpha: { float: 0.5 }, beta: { float: 2 } }, ["h"], { name: "gemm" });
    b.node("Relu", ["h"], {}, ["y"]);
    b.output("y", DataType.FLOAT, [2, 5]);
    const float = loadModel(encodeModelProto(b.model({ opset: 13 })));
    const m = loadModel(serializeModel(float));
    await quantize(m);
    const ops = m.proto.graph!.node!.map((n) => n.op_type);
    expect(ops.filter((o) => o === "DynamicQuantizeLinear").length).toBe(2);
    expect(ops).toContain("ConvInteger");
    expect(ops).toContain("MatMulInteger");
    expect(init(m, "CW_quantized").data_type).toBe(DataType.UINT8);
    expect(init(m, "GW_quantized").dims).toEqual([144, 5]); // transposed for MatMulInteger
    expect(init(m, "CW_scale").dims).toEqual([4, 1, 1]);
    const conv = m.proto.graph!.node!.find((n) => n.op_type === "ConvInteger")!;
    expect(conv.attribute!.find((a) => a.name === "group")!.i).toBe(2);
    const x = randomFloats(144, 7);
    const feeds = { x: new ort.Tensor("float32", x, [2, 2, 6, 6]) };
    const ref = (await run(float, feeds)).y!.data as Float32Array;
    const got = (await run(reload(m), feeds)).y!.data as Float32Array;
    expect(sqnrDb(ref, got)).toBeGreaterThan(30);
  });

  test("weights read inside an If branch are quantized there; exclusions, op types and int activations are respected", async () => {
    const then = new GraphBuilder("then");
    then.node("MatMul", ["x", "W"], {}, ["t"], { name: "inner" });
    then.output("t", DataType.FLOAT, [1, 8]);
    const els = new GraphBuilder("else");
    els.node("MatMul", ["x", "W2"], {}, ["e"], { name: "inner2" });
    els.output("e", DataType.FLOAT, [1, 8]);
    const b = new GraphBuilder();
    b.input("x", DataType.FLOAT, [1, 8]);
    b.input("cond", DataType.BOOL, []);
    b.initializer("W", DataType.FLOAT, [8, 8], randomFloats(64, 11));
    b.initializer("W2", DataType.FLOAT, [8, 8], randomFloats(64, 12));
    b.node("If", ["cond"], { then_branch: then.graph, else_branch: els.graph }, ["y"], { name: "if" });
    b.output("y", DataType.FLOAT, [1, 8]);
    const proto = b.model({ opset: 13 });
    const float = loadModel(encodeModelProto(proto));
    const m = loadModel(encodeModelProto(proto));
    const r = await quantize(m, {}, { exclude: ["W2"] });
    expect(then.graph.node).toBeDefined();
    const ifNode = m.proto.graph!.node!.find((n) => n.op_type === "If")!;
    const thenOps = ifNode.attribute!.find((a) => a.name === "then_branch")!.g!.node!.map((n) => n.op_type);
    const elseOps = ifNode.attribute!.find((a) => a.name === "else_branch")!.g!.node!.map((n) => n.op_type);
    expect(thenOps).toEqual(["DynamicQuantizeLinear", "MatMulInteger", "Cast", "Mul", "Mul"]);
    expect(elseOps).toEqual(["MatMul"]);
    expect(r.entries.find((e) => e.tensor === "W2")!.reason).toBe("excluded (W2)");
    const x = randomFloats(8, 13);
    for (const c of [true, false]) {
      const feeds = { x: new ort.Tensor("float32", x, [1, 8]), cond: new ort.Tensor("bool", Uint8Array.of(c ? 1 : 0), []) };
      const ref = (await run(float, feeds)).y!.data as Float32Array;
      const got = (await run(reload(m), feeds)).y!.data as Float32Array;
      if (c) expect(sqnrDb(ref, got)).toBeGreaterThan(30);
      else expect(Array.from(got)).toEqual(Array.from(ref));
    }
    // --op-types Conv: nothing to do here, the model is left as it was.
    const again = loadModel(encodeModelProto(proto));
    const none = await quantize(again, {}, { opTypes: ["Conv"] });
    expect(none.pending.length).toBe(0);
    expect(serializeModel(again)).toEqual(serializeModel(loadModel(encodeModelProto(proto))));
  });

  test("a small classifier head stays float unless floatHeadShare is 0", async () => {
    const b = new GraphBuilder();
    b.input("x", DataType.FLOAT, [1, 64]);
    b.initializer("W1", DataType.FLOAT, [64, 64], randomFloats(4096, 1));
    b.initializer("Wh", DataType.FLOAT, [64, 2], randomFloats(128, 2));
    b.node("MatMul", ["x", "W1"], {}, ["h"]);
    b.node("MatMul", ["h", "Wh"], {}, ["y"]);
    b.output("y", DataType.FLOAT, [1, 2]);
    const proto = b.model({ opset: 13 });
    const kept = await quantize(loadModel(encodeModelProto(proto)));
    expect(kept.entries.find((e) => e.tensor === "Wh")!.action).toBe("skipped");
    const all = await quantize(loadModel(encodeModelProto(proto)), { floatHeadShare: 0 });
    expect(all.entries.filter((e) => e.kind === "weight" && e.action === "quantized").length).toBe(2);
  });

  test("a weight reached through a Transpose stays float (integer kernels read the stored tensor); --op-types-exclude is honoured", async () => {
    const build = () => {
      const b = new GraphBuilder();
      b.input("x", DataType.FLOAT, ["b", 16]);
      b.initializer("W", DataType.FLOAT, [8, 16], randomFloats(128, 3)); // stored [N, K], read as [K, N]
      b.node("Transpose", ["W"], { perm: [1, 0] }, ["Wt"], { name: "t" });
      b.node("MatMul", ["x", "Wt"], {}, ["h"], { name: "mm" });
      b.initializer("V", DataType.FLOAT, [8, 8], randomFloats(64, 4));
      b.node("MatMul", ["h", "V"], {}, ["y"], { name: "mm2" });
      b.output("y", DataType.FLOAT, ["b", 8]);
      return loadModel(encodeModelProto(b.model({ opset: 13 })));
    };
    const m = build();
    const r = await quantize(m);
    const w = r.entries.find((e) => e.tensor === "W")!;
    expect(w.action).toBe("skipped");
    expect(w.reason).toBe("reached through Transpose; integer kernels read weights directly");
    expect(init(m, "W").data_type).toBe(DataType.FLOAT);
    expect(m.proto.graph!.node!.map((n) => n.op_type)).toContain("Transpose");
    expect(m.proto.graph!.node!.filter((n) => n.op_type === "MatMulInteger")).toHaveLength(1);
    const x = randomFloats(32, 5);
    const feeds = { x: new ort.Tensor("float32", x, [2, 16]) };
    const ref = (await run(build(), feeds)).y!.data as Float32Array;
    const out = (await run(reload(m), feeds)).y!.data as Float32Array;
    expect(sqnrDb(ref, out)).toBeGreaterThan(30);
    // The global block list removes MatMul from the dynamic quantizer's op types: nothing is rewritten.
    const m2 = build();
    await quantize(m2, {}, { opTypesExclude: ["MatMul"] });
    expect(m2.proto.graph!.node!.some((n) => n.op_type === "MatMulInteger")).toBe(false);
  });
  test("an opset-9 model is raised to opset 11 before the rewrite and runs in ONNX Runtime", async () => {
    const { runPipeline } = await import("../../../src/index.ts");
    const m = matmulModel(8, 8, randomFloats(64, 1));
    m.proto.opset_import = [{ domain: "", version: 9 }];
    const r = await runPipeline({ model: serializeModel(m), plugins: [dynamic(), int8()], write: false, logger: consola.create({ level: 0 }) });
    expect(r.opset).toEqual({ from: 9, to: 11, needs: [{ plugin: "dynamic", opset: 11, reason: "DynamicQuantizeLinear" }] });
    const x = randomFloats(16, 2);
    const out = (await run(r.model, { x: new ort.Tensor("float32", x, [2, 8]) })).y!.data as Float32Array;
    expect(out.length).toBe(16);
  });
});
