/**
 * static-qdq with weights behind data-movement chains: a chain that only moves values is folded into the weight of
 * the integer kernel it feeds (ONNX Runtime then fuses it: QGemm with an int32 bias sliced from a packed one), and
 * the packed float weight leaves the file; a weight also read elsewhere keeps one DequantizeLinear at the weight.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { DataType, GraphBuilder, decodeModelProto, encodeModelProto, loadModel, sqnrDb, type ModelProto } from "../../../../src/index.ts";
import { PlacementGraph } from "../../../../plugins/quantizers/static-qdq/placement-graph.ts";
import { quant } from "../../../cli/helpers.ts";
import { randf } from "../../../onnx/fixtures.ts";

const F = DataType.FLOAT;
const dir = mkdtempSync(join(tmpdir(), "quant-static-chains-"));

/** An LSTM-gate-like layer: packed W [4H, I] and bias [4H], sliced per gate into Gemm(transB=1) → Sigmoid. */
function packedGemm(H = 32, I = 16): ModelProto {
  const b = new GraphBuilder();
  b.input("x", F, [4, I]);
  b.initializer("W", F, [4 * H, I], randf(4 * H * I, 50));
  b.initializer("B", F, [4 * H], randf(4 * H, 51));
  b.initializer("ax", DataType.INT64, [1], BigInt64Array.of(0n));
  const outs: string[] = [];
  for (let k = 0; k < 4; k++) {
    b.initializer(`s${k}`, DataType.INT64, [1], BigInt64Array.of(BigInt(k * H)));
    b.initializer(`e${k}`, DataType.INT64, [1], BigInt64Array.of(BigInt((k + 1) * H)));
    const w = b.node("Slice", ["W", `s${k}`, `e${k}`, "ax"], {}, [`W_${k}`]);
    const bias = b.node("Slice", ["B", `s${k}`, `e${k}`, "ax"], {}, [`B_${k}`]);
    outs.push(b.node("Sigmoid", [b.node("Gemm", ["x", w, bias], { transB: 1 }, [`g_${k}`], { name: `gemm_${k}` })]));
  }
  b.node("Concat", outs, { axis: 1 }, ["y"]);
  b.output("y", F, [4, 4 * H]);
  return b.model({ opset: 13 });
}

async function calibrate(proto: ModelProto, name: string, extra: Record<string, ort.Tensor> = {}) {
  const src = join(dir, `${name}.onnx`), out = join(dir, `${name}.qdq.onnx`);
  writeFileSync(src, encodeModelProto(proto));
  // Integer inputs (ids) are not random data: calibrate on the values the outputs are compared on.
  const values = Object.entries(extra).flatMap(([k, t]) => ["--input", `${k}=${Array.from(t.data as BigInt64Array).join(",")}`]);
  const r = quant(["calibrate", src, "-o", out, "--seed", "1", ...values, "--format", "json"]);
  if (r.code !== 0) throw new Error(r.stderr);
  const x = new ort.Tensor("float32", randf(4 * 16, 52), [4, 16]);
  const run = async (p: string, opt?: string) => {
    const s = await ort.InferenceSession.create(p, { graphOptimizationLevel: "all", ...(opt ? { optimizedModelFilePath: opt } : {}) });
    return (await s.run({ x, ...extra })).y!.data as Float32Array;
  };
  const optimized = join(dir, `${name}.opt.onnx`);
  const sqnr = sqnrDb(await run(src), await run(out, optimized));
  const fused: Record<string, number> = {};
  for (const n of decodeModelProto(readFileSync(optimized)).graph!.node ?? []) fused[n.op_type!] = (fused[n.op_type!] ?? 0) + 1;
  return { report: JSON.parse(r.stdout), graph: decodeModelProto(readFileSync(out)).graph!, sqnr, fused };
}

describe("static-qdq: weights behind chains", () => {
  test("packed weight and bias sliced per gate: folded, one int8 weight and int32 bias per gate, fused into QGemm", async () => {
    const r = await calibrate(packedGemm(), "packed");
    const weights = r.report.tensors.filter((t: { kind?: string; action: string }) => t.kind === "weight" && t.action === "quantized");
    expect(weights.map((t: { tensor: string; type: string; reason?: string }) => [t.tensor, t.type, t.reason])).toEqual([
      ["W_0", "int8", "folded from W"], ["B_0", "int32", undefined], ["W_1", "int8", "folded from W"], ["B_1", "int32", undefined],
      ["W_2", "int8", "folded from W"], ["B_2", "int32", undefined], ["W_3", "int8", "folded from W"], ["B_3", "int32", undefined],
    ]);
    // The packed float tensors and their Slices are gone; each gate's weight is [H, I] int8 behind its own DQ.
    expect(r.graph.initializer!.filter((t) => t.name === "W" || t.name === "B")).toEqual([]);
    expect(r.graph.node!.filter((n) => n.op_type === "Slice")).toEqual([]);
    expect(r.graph.initializer!.filter((t) => t.data_type === DataType.INT8 && t.dims?.length === 2).map((t) => t.dims!.map(Number))).toEqual([[32, 16], [32, 16], [32, 16], [32, 16]]);
    expect(r.fused.QGemm).toBe(4);
    expect(r.sqnr).toBeGreaterThan(40);
  });

  test("a weight also looked up by a Gather is not folded: one DQ at the weight, per row, before the Slices", async () => {
    const m = packedGemm();
    // W is also an embedding table: folding would store the gate slices twice (int8 slices + the table).
    m.graph!.input!.push({ name: "ids", type: { tensor_type: { elem_type: DataType.INT64, shape: { dim: [{ dim_value: 4 }] } } } });
    m.graph!.node!.push({ op_type: "Gather", input: ["W", "ids"], output: ["z"], name: "lookup" });
    m.graph!.output!.push({ name: "z", type: { tensor_type: { elem_type: F, shape: { dim: [{ dim_value: 4 }, { dim_value: 16 }] } } } });
    const r = await calibrate(m, "shared", { ids: new ort.Tensor("int64", BigInt64Array.of(0n, 5n, 127n, 64n), [4]) });
    expect(r.graph.initializer!.some((t) => t.name === "W")).toBe(false);
    const dq = r.graph.node!.find((n) => n.output?.[0] === "W")!;
    expect([dq.op_type, dq.attribute!.find((a) => a.name === "axis")!.i]).toEqual(["DequantizeLinear", 0]);
    expect(r.report.tensors.find((t: { tensor: string }) => t.tensor === "W")).toMatchObject({ action: "quantized", type: "int8", granularity: "per-channel axis 0", via: "Slice" });
    expect(r.report.tensors.some((t: { reason?: string }) => t.reason === "folded from W")).toBe(false);
    expect(r.sqnr).toBeGreaterThan(35);
  });

  test("a chain that also feeds activations (a ViT's expanded class token → Concat) stays an activation candidate", () => {
    const b = new GraphBuilder();
    b.input("x", F, [4, 16]);
    b.initializer("cls", F, [1, 16], randf(16, 60));
    b.initializer("shape", DataType.INT64, [2], BigInt64Array.of(4n, 16n));
    b.initializer("P", F, [16, 16], randf(256, 61));
    b.node("MatMul", ["x", "P"], {}, ["pe"], { name: "patch" });
    b.node("Expand", ["cls", "shape"], {}, ["cls_e"], { name: "expand" });
    b.node("Concat", ["cls_e", "pe"], { axis: 1 }, ["y"], { name: "cat" });
    b.output("y", F, [4, 32]);
    const g = new PlacementGraph(loadModel(encodeModelProto(b.model({ opset: 13 }))));
    expect([g.isChainConstant("cls_e"), g.isChainWeight("cls_e"), g.foldable("cls_e")]).toEqual([true, false, false]);
    const p = new PlacementGraph(loadModel(encodeModelProto(packedGemm())));
    expect([p.isChainWeight("W_0"), p.foldable("W_0"), p.isChainWeight("B_3"), p.foldable("B_3")]).toEqual([true, true, true, true]);
    expect(p.chainSources("W_2")).toEqual(["W"]);
    expect(p.chainOps("W_2")).toBe("Slice");
  });
});
