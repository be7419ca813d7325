/**
 * Weight-only quantization of weights consumed through data-movement chains, by LSTM/GRU/RNN and as embedding tables:
 * exact quantized values and scales, the DequantizeLinear placed at the weight (before the chain), the axis traced
 * through the chain or per-tensor where it cannot be, and outputs checked in onnxruntime-node.
 */
import { describe, expect, test } from "bun:test";
import * as ort from "onnxruntime-node";
import {
  DataType, GraphBuilder, encodeModelProto, loadModel, quantizeWeights, runPipeline, serializeModel, sqnrDb, tensorFloat32, type ModelProto, type ReportEntry,
} from "../../../src/index.ts";
import normalize from "../../../plugins/passes/normalize.ts";
import weightOnly from "../../../plugins/quantizers/weight-only.ts";
import int8 from "../../../plugins/packers/int8.ts";
import int4 from "../../../plugins/packers/int4.ts";
import { randf } from "../../onnx/fixtures.ts";
import { randomFeeds } from "../../onnx/ort.ts";
import { recurrentOpModel } from "../../helpers/recurrent.ts";

const F = DataType.FLOAT;

async function outputs(bytes: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<Float32Array[]> {
  const s = await ort.InferenceSession.create(bytes);
  const out = await s.run(feeds);
  return s.outputNames.map((n) => out[n]!.data).filter((d): d is Float32Array => d instanceof Float32Array);
}

/** Quantize weight-only; return the model, the entries by tensor and the worst output SQNR in ORT. */
async function quantize(proto: ModelProto, options: Record<string, unknown>, feeds = randomFeeds(proto, 5)) {
  const bytes = encodeModelProto(proto);
  const r = await runPipeline({ model: loadModel(bytes), plugins: [normalize(), weightOnly(), int8(), int4()], options });
  const q = serializeModel(r.model);
  const [a, b] = [await outputs(bytes, feeds), await outputs(q, feeds)];
  const entries = new Map<string, ReportEntry>(r.entries.map((e) => [e.tensor, e]));
  return { model: r.model, entries, sqnr: Math.min(...a.map((x, i) => sqnrDb(x, b[i]!))) };
}

const init = (m: { proto: ModelProto }, name: string) => m.proto.graph!.initializer!.find((t) => t.name === name)!;
const node = (m: { proto: ModelProto }, output: string) => m.proto.graph!.node!.find((n) => n.output?.includes(output))!;
const readers = (m: { proto: ModelProto }, value: string) => m.proto.graph!.node!.filter((n) => n.input?.includes(value)).map((n) => n.op_type);

describe("weight-only: embeddings per row", () => {
  test("Gather table: one scale per row (max|row| / 127), exact int8 values; the tied projection agrees", async () => {
    const E = Float32Array.of(0.5, -1.27, 0.25, 2.54, 1, -0.5, 0.1, 0.2, -0.3, -4, 2.2, 1);
    const b = new GraphBuilder();
    b.input("ids", DataType.INT64, [2, 3]);
    b.initializer("E", F, [4, 3], E);
    b.node("Gather", ["E", "ids"], {}, ["emb"], { name: "embed" });
    b.node("Transpose", ["E"], { perm: [1, 0] }, ["Et"], { name: "tie" });
    b.node("MatMul", ["emb", "Et"], {}, ["logits"], { name: "head" });
    b.output("logits", F, [2, 3, 4]);
    const ids = new ort.Tensor("int64", BigInt64Array.of(0n, 1n, 2n, 3n, 2n, 1n), [2, 3]);
    const r = await quantize(b.model({ opset: 13 }), { perChannel: true }, { ids });
    const e = r.entries.get("E")!;
    expect([e.action, e.granularity, e.opType, e.via]).toEqual(["quantized", "per-channel axis 0", "head", "Transpose"].map((v, i) => (i === 2 ? "MatMul" : v)));
    const dq = node(r.model, "E");
    expect(dq.op_type).toBe("DequantizeLinear");
    expect(readers(r.model, "E").sort()).toEqual(["Gather", "Transpose"]); // the DQ sits before both uses
    const [qName, sName] = dq.input!;
    // One scale per row, each the row's own per-tensor scale (symmetric int8 spends the whole [-128, 127] range).
    const scales = tensorFloat32(r.model, init(r.model, sName!));
    for (let row = 0; row < 4; row++) expect(scales[row]).toBe(quantizeWeights(E.subarray(row * 3, row * 3 + 3), [3], { type: "int8", symmetric: true, granularity: { kind: "tensor" } }).scale[0]!);
    expect([...scales]).toEqual([1.27 / 128.5, 2.54 / 127.5, 0.3 / 128.5, 4 / 128.5].map(Math.fround));
    expect([...new Int8Array(init(r.model, qName!).raw_data!.slice().buffer)]).toEqual([51, -128, 25, 127, 50, -25, 43, 86, -128, -128, 71, 32]);
    expect(r.sqnr).toBeGreaterThan(40);
  });
});

describe("weight-only: axes through chains", () => {
  const x = (dims: number[], seed = 3) => new ort.Tensor("float32", randf(dims.reduce((a, c) => a * c, 1), seed), dims);

  test("Slice along another axis keeps the channel axis; the DQ is at the initializer, before the Slice", async () => {
    const b = new GraphBuilder();
    b.input("x", F, [2, 4]);
    b.initializer("W", F, [6, 16], randf(96, 7));
    b.initializer("s", DataType.INT64, [1], BigInt64Array.of(1n));
    b.initializer("e", DataType.INT64, [1], BigInt64Array.of(5n));
    b.initializer("ax", DataType.INT64, [1], BigInt64Array.of(0n));
    b.node("Slice", ["W", "s", "e", "ax"], {}, ["Ws"], { name: "rows" });
    b.node("MatMul", ["x", "Ws"], {}, ["y"], { name: "mm" });
    b.output("y", F, [2, 16]);
    const r = await quantize(b.model({ opset: 13 }), { perChannel: true }, { x: x([2, 4]) });
    expect(r.entries.get("W")).toMatchObject({ action: "quantized", granularity: "per-channel axis 1", opType: "MatMul", via: "Slice" });
    expect(node(r.model, "W").op_type).toBe("DequantizeLinear");
    expect(readers(r.model, "W")).toEqual(["Slice"]);
    expect(r.sqnr).toBeGreaterThan(40);
  });

  test("Reshape that keeps the channel axis, then Transpose: traced; block-wise INT4 follows the reduction axis", async () => {
    const build = () => {
      const b = new GraphBuilder();
      b.input("x", F, [2, 3, 16]);
      b.initializer("W", F, [24, 16], randf(384, 8)); // → [2, 12, 16] → Transpose(0, 2, 1) → [2, 16, 12]: channels 12 ← W axis 0? no: 24 split
      b.initializer("shape", DataType.INT64, [3], BigInt64Array.of(2n, 12n, 16n));
      b.node("Reshape", ["W", "shape"], {}, ["W3"], { name: "reshape" });
      b.node("Transpose", ["W3"], { perm: [0, 2, 1] }, ["W3t"], { name: "t" });
      b.node("MatMul", ["x", "W3t"], {}, ["y"], { name: "mm" });
      b.output("y", F, [2, 3, 12]);
      return b.model({ opset: 21 });
    };
    // MatMul B [2, 16, 12]: channels axis 2 (12) ← Transpose axis 1 of [2, 12, 16] ← Reshape: W's axis 0 (24) is split
    // into 2 × 12, so no axis of W carries the channel alone → per-tensor. Blocks: K axis 1 (16) ← axis 2 ← W axis 1.
    const pc = await quantize(build(), { perChannel: true }, { x: x([2, 3, 16]) });
    expect(pc.entries.get("W")).toMatchObject({ action: "quantized", granularity: "per-tensor", via: "Reshape → Transpose" });
    expect(pc.entries.get("W")!.reason).toContain("mixes the channel axis of MatMul");
    expect(pc.sqnr).toBeGreaterThan(35);
    const blk = await quantize(build(), { bits: 4, blockSize: 8, nativeInt4: true, opTypes: ["MatMul"] }, { x: x([2, 3, 16]) });
    expect(blk.entries.get("W")).toMatchObject({ action: "quantized", granularity: "block 8 axis 1", type: "int4" });
    expect(blk.sqnr).toBeGreaterThan(15);
  });

  test("Reshape that merges the channel axis with inner ones and Squeeze/Unsqueeze keep it traceable", async () => {
    const b = new GraphBuilder();
    b.input("x", F, [2, 16]);
    b.initializer("W", F, [1, 4, 4, 8], randf(128, 9)); // Squeeze → [4, 4, 8] → Reshape [16, 8] → MatMul channels 8
    b.initializer("ax", DataType.INT64, [1], BigInt64Array.of(0n));
    b.initializer("shape", DataType.INT64, [2], BigInt64Array.of(-1n, 8n));
    b.node("Squeeze", ["W", "ax"], {}, ["W3"], { name: "sq" });
    b.node("Reshape", ["W3", "shape"], {}, ["W2"], { name: "flat" });
    b.node("MatMul", ["x", "W2"], {}, ["y"], { name: "mm" });
    b.output("y", F, [2, 8]);
    const r = await quantize(b.model({ opset: 13 }), { perChannel: true }, { x: x([2, 16]) });
    expect(r.entries.get("W")).toMatchObject({ action: "quantized", granularity: "per-channel axis 3", via: "Squeeze → Reshape" });
    expect(r.sqnr).toBeGreaterThan(40);
  });

  test("a weight also read by an elementwise op through its chain stays float; one read only by Shape is no weight", async () => {
    const b = new GraphBuilder();
    b.input("x", F, [4, 4]);
    b.initializer("W", F, [4, 4], randf(16, 10));
    b.node("Transpose", ["W"], {}, ["Wt"], { name: "t" });
    b.node("MatMul", ["x", "Wt"], {}, ["m"], { name: "mm" });
    b.node("Add", ["m", "Wt"], {}, ["y"], { name: "add" });
    b.initializer("S", F, [3, 5], randf(15, 11));
    b.node("Shape", ["S"], {}, ["shape"], { name: "shape" });
    b.output("y", F, [4, 4]);
    b.output("shape", DataType.INT64, [2]);
    const r = await quantize(b.model({ opset: 13 }), { perChannel: true }, { x: x([4, 4]) });
    expect(r.entries.get("W")).toMatchObject({ action: "skipped", reason: "not a weight input (Add input 1 via Transpose)" });
    expect(r.entries.get("S")).toMatchObject({ action: "skipped", reason: "only its shape is read" });
  });
});

describe("weight-only: LSTM / GRU / RNN", () => {
  for (const op of ["LSTM", "GRU", "RNN"] as const) {
    test(`${op}: W and R per channel on the gate axis (exact scales), B stays float, ≥ 35 dB in ORT`, async () => {
      const proto = recurrentOpModel(op, { input: 8, hidden: 6, steps: 5, directions: 2 });
      const W = tensorFloat32(undefined, proto.graph!.initializer!.find((t) => t.name === "W")!);
      const r = await quantize(proto, { perChannel: true });
      expect(r.entries.get("W")).toMatchObject({ action: "quantized", granularity: "per-channel axis 1", opType: op });
      expect(r.entries.get("R")).toMatchObject({ action: "quantized", granularity: "per-channel axis 1", opType: op });
      expect(r.entries.get("B")).toMatchObject({ action: "skipped", reason: "bias" });
      const dq = node(r.model, "W");
      const scale = tensorFloat32(r.model, init(r.model, dq.input![1]!));
      const G = { LSTM: 4, GRU: 3, RNN: 1 }[op] * 6;
      expect(scale.length).toBe(G);
      // Channel c groups W[d, c, :] over both directions d: its scale is exactly that slice's own per-tensor scale.
      for (let c = 0; c < G; c++) {
        const slice = new Float32Array(16);
        for (let d = 0; d < 2; d++) slice.set(W.subarray((d * G + c) * 8, (d * G + c) * 8 + 8), d * 8);
        expect(scale[c]).toBe(quantizeWeights(slice, [16], { type: "int8", symmetric: true, granularity: { kind: "tensor" } }).scale[0]!);
      }
      expect(r.sqnr).toBeGreaterThan(35);
    });
  }
});

describe("weight-only: chains in subgraphs and Concat", () => {
  test("If: an outer weight transposed inside a branch, a branch Constant weight behind Reshape — each DQ in the weight's own scope", async () => {
    const then = new GraphBuilder("then_g");
    then.node("Transpose", ["W"], { perm: [1, 0] }, ["Wt"], { name: "then_t" }); // outer W [3, 4] → [4, 3]
    then.node("MatMul", ["x", "Wt"], {}, ["then_y"], { name: "then_mm" });
    then.output("then_y", F, [2, 3]);
    const els = new GraphBuilder("else_g");
    els.node("Constant", [], { value: { name: "", data_type: F, dims: [12], raw_data: new Uint8Array(randf(12, 21).buffer) } }, ["Wc"], { name: "else_const" });
    els.initializer("shape", DataType.INT64, [2], BigInt64Array.of(4n, 3n));
    els.node("Reshape", ["Wc", "shape"], {}, ["Wc2"], { name: "else_reshape" });
    els.node("MatMul", ["x", "Wc2"], {}, ["else_y"], { name: "else_mm" });
    els.output("else_y", F, [2, 3]);
    const b = new GraphBuilder("if_main");
    b.input("x", F, [2, 4]);
    b.input("cond", DataType.BOOL, []);
    b.initializer("W", F, [3, 4], randf(12, 20));
    b.node("If", ["cond"], { then_branch: then.graph, else_branch: els.graph }, ["y"], { name: "if" });
    b.output("y", F, [2, 3]);
    for (const cond of [true, false]) {
      const r = await quantize(b.model({ opset: 13 }), { perChannel: true }, { x: new ort.Tensor("float32", randf(8, 2), [2, 4]), cond: new ort.Tensor("bool", [cond], []) });
      expect(r.entries.get("W")).toMatchObject({ action: "quantized", granularity: "per-channel axis 0", via: "Transpose" });
      // Reshape [12] → [4, 3]: MatMul's channels (3) are the inner stride of the flat constant, not one of its axes.
      expect(r.entries.get("Wc")).toMatchObject({ action: "quantized", granularity: "per-tensor", via: "Reshape" });
      expect(node(r.model, "W").op_type).toBe("DequantizeLinear");
      const elseBranch = r.model.proto.graph!.node![0]!.op_type === "If" ? r.model.proto.graph!.node![0]! : r.model.proto.graph!.node!.find((n) => n.op_type === "If")!;
      const g = elseBranch.attribute!.find((a) => a.name === "else_branch")!.g!;
      expect(g.node!.find((n) => n.output?.[0] === "Wc")!.op_type).toBe("DequantizeLinear");
      expect(r.sqnr).toBeGreaterThan(35);
    }
  });

  test("Concat of two weights along the channel axis: each keeps its own per-channel scales", async () => {
    const b = new GraphBuilder();
    b.input("x", F, [2, 8]);
    b.initializer("Wa", F, [8, 5], randf(40, 30));
    b.initializer("Wb", F, [8, 3], randf(24, 31));
    b.node("Concat", ["Wa", "Wb"], { axis: 1 }, ["W"], { name: "cat" });
    b.node("MatMul", ["x", "W"], {}, ["y"], { name: "mm" });
    b.output("y", F, [2, 8]);
    const r = await quantize(b.model({ opset: 13 }), { perChannel: true }, { x: new ort.Tensor("float32", randf(16, 3), [2, 8]) });
    expect(r.entries.get("Wa")).toMatchObject({ action: "quantized", granularity: "per-channel axis 1", via: "Concat" });
    expect(r.entries.get("Wb")).toMatchObject({ action: "quantized", granularity: "per-channel axis 1", via: "Concat" });
    expect(tensorFloat32(r.model, init(r.model, node(r.model, "Wb").input![1]!)).length).toBe(3);
    expect(r.sqnr).toBeGreaterThan(40);
  });
});

describe("weight-only: outputs onnxruntime loads", () => {
  test("a Transpose without perm after a per-channel weight gets its default perm written (ORT 1.30 aborts otherwise)", async () => {
    const b = new GraphBuilder();
    b.input("x", F, [2, 8]);
    b.initializer("W", F, [16, 8], randf(128, 40));
    b.node("Transpose", ["W"], {}, ["Wt"], { name: "t" });
    b.node("MatMul", ["x", "Wt"], {}, ["y"], { name: "mm" });
    b.output("y", F, [2, 16]);
    const r = await quantize(b.model({ opset: 13 }), { perChannel: true }, { x: new ort.Tensor("float32", randf(16, 41), [2, 8]) });
    expect(r.entries.get("W")).toMatchObject({ granularity: "per-channel axis 0", via: "Transpose" });
    expect(node(r.model, "Wt").attribute!.find((a) => a.name === "perm")!.ints!.map(Number)).toEqual([1, 0]);
    expect(r.sqnr).toBeGreaterThan(40);
  });
});
