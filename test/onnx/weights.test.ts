import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findWeights, quantizableWeights, type Weight } from "../../src/onnx/weights.ts";
import { loadModel, saveModel } from "../../src/onnx/codec.ts";
import { encodeModelProto } from "../../src/onnx/proto.ts";
import { GraphBuilder } from "../../src/onnx/builder.ts";
import { DataType } from "../../src/tensor/dtypes.ts";
import { chainModel, constantModel, functionModel, identityModel, ifModel, loopModel, shadowedModel } from "./fixtures.ts";
import { CORPUS_DIR } from "../helpers/corpus.ts";

/** Bytes of resnet18's 26 fp32 weights (11.68 M parameters × 4). */
const R18_BYTES = 46_723_488;

const brief = (w: Weight) => ({
  name: w.name,
  location: w.location,
  scope: w.scope,
  shadowed: w.shadowed,
  outerScope: w.outerScope,
  dims: w.dims,
  consumers: w.consumers.map((c) => [c.node.name, c.input, c.opType, c.via.join(">")]),
});

describe("findWeights", () => {
  test("Constant-node weights: value, value_float, value_floats (integer constants are not weights)", () => {
    const ws = findWeights(constantModel()).map(brief);
    expect(ws).toEqual([
      { name: "Wc", location: "constant", scope: "main", shadowed: false, outerScope: false, dims: [4, 3], consumers: [["mm", 1, "MatMul", ""]] },
      { name: "s", location: "constant", scope: "main", shadowed: false, outerScope: false, dims: [], consumers: [["mul", 1, "Mul", ""]] },
      { name: "bias", location: "constant", scope: "main", shadowed: false, outerScope: false, dims: [3], consumers: [["add", 1, "Add", ""]] },
    ]);
    const wc = findWeights(constantModel())[0]!;
    expect(wc.bytes).toBe(48);
    expect(wc.node?.name).toBe("c_w");
  });

  test("Identity-shared weights: consumers through chains, an Identity graph output counts as a reader", () => {
    expect(findWeights(identityModel()).map(brief)).toEqual([
      {
        name: "W",
        location: "initializer",
        scope: "main",
        shadowed: false,
        outerScope: false,
        dims: [4, 4],
        consumers: [
          ["mm_a", 1, "MatMul", "w1>w2"],
          ["mm_b", 1, "MatMul", "w3"],
          ["id_out", 0, "Identity", ""],
        ],
      },
    ]);
  });

  test("If: outer-scope weight read through an Identity in a branch, a branch initializer, a branch Constant", () => {
    expect(findWeights(ifModel()).map(brief)).toEqual([
      { name: "W", location: "initializer", scope: "main", shadowed: false, outerScope: true, dims: [4, 3], consumers: [["then_mm", 1, "MatMul", "W_then"]] },
      { name: "W2", location: "subgraph", scope: "main/if.else_branch", shadowed: false, outerScope: false, dims: [4, 3], consumers: [["else_mm", 1, "MatMul", ""]] },
      { name: "Wc", location: "constant", scope: "main/if.else_branch", shadowed: false, outerScope: false, dims: [3], consumers: [["else_add", 1, "Add", ""]] },
    ]);
  });

  test("Loop: a weight read two graphs down, and a body initializer", () => {
    const ws = findWeights(loopModel());
    expect(ws.map(brief)).toEqual([
      { name: "W", location: "initializer", scope: "main", shadowed: false, outerScope: true, dims: [4, 4], consumers: [["inner_mm", 1, "MatMul", ""]] },
      { name: "Bl", location: "subgraph", scope: "main/loop.body", shadowed: false, outerScope: false, dims: [4], consumers: [["body_add", 1, "Add", ""]] },
    ]);
    expect(ws[0]!.consumers[0]!.graph.name).toBe("inner_then");
  });

  test("an initializer shadowed by a graph input is reported, not quantizable (except before IR 4)", () => {
    const m = shadowedModel();
    expect(findWeights(m).map((w) => [w.name, w.shadowed, w.consumers.map((c) => c.node.name)])).toEqual([
      ["W", true, ["mm"]],
      ["V", false, ["add"]],
    ]);
    expect(quantizableWeights(m).map((w) => w.name)).toEqual(["V"]);
    m.ir_version = 3;
    expect(quantizableWeights(m).map((w) => w.name)).toEqual(["W", "V"]);
  });

  test("weights passed to a local function call", () => {
    expect(findWeights(functionModel()).map((w) => [w.name, w.consumers.map((c) => [c.opType, c.input])])).toEqual([
      ["W", [["AffineRelu", 1]]],
      ["B", [["AffineRelu", 2]]],
    ]);
  });

  test("float types only: fp16, bf16 and fp64 are weights; int8 and unread tensors are not", () => {
    const b = new GraphBuilder();
    const x = b.input("x", DataType.FLOAT16, [2, 2]);
    b.initializer("h", DataType.FLOAT16, [2, 2], new Uint16Array(4));
    b.initializer("bf", DataType.BFLOAT16, [2], new Uint16Array(2));
    b.initializer("d", DataType.DOUBLE, [2], new Float64Array(2));
    b.initializer("q", DataType.INT8, [2], new Int8Array(2));
    b.initializer("unused", DataType.FLOAT, [2], new Float32Array(2));
    b.node("MatMul", [x, "h"], {}, ["a"]);
    b.node("Cast", ["bf"], { to: 10 }, ["bfh"]);
    b.node("Cast", ["d"], { to: 10 }, ["dh"]);
    b.node("Cast", ["q"], { to: 10 }, ["qh"]);
    b.node("Add", ["a", "bfh"], {}, ["y"]);
    b.output("y", DataType.FLOAT16, [2, 2]);
    expect(findWeights(b.model()).map((w) => [w.name, w.dataType, w.bytes])).toEqual([
      ["h", DataType.FLOAT16, 8],
      ["bf", DataType.BFLOAT16, 4],
      ["d", DataType.DOUBLE, 16],
    ]);
  });

  test("external weights are found with their stored size", () => {
    const dir = mkdtempSync(join(tmpdir(), "quant-w-"));
    try {
      const path = join(dir, "m.onnx");
      saveModel(loadModel(encodeModelProto(chainModel(2, 32))), path, { externalData: { threshold: 1024 } });
      expect(findWeights(loadModel(path)).map((w) => [w.name, w.external, w.bytes])).toEqual([
        ["W0", true, 4096],
        ["W1", true, 4096],
        ["tiny", false, 128],
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("corpus: torch's Identity de-duplication in squeezenet / resnet18 and Constant scalars in mobilenet", () => {
    const sq = findWeights(loadModel(`${CORPUS_DIR}/squeezenet1_1.onnx`));
    expect(sq.length).toBe(34);
    expect(sq.filter((w) => w.consumers.some((c) => c.via.length)).length).toBe(7);
    // 18 Identity outputs feed Convs: every Conv weight/bias input is reached.
    expect(sq.reduce((n, w) => n + w.consumers.length, 0)).toBe(26 * 2);
    expect(new Set(sq.flatMap((w) => w.consumers.map((c) => c.opType)))).toEqual(new Set(["Conv"]));
    const mb = findWeights(loadModel(`${CORPUS_DIR}/mobilenet_v2.onnx`));
    expect(mb.filter((w) => w.location === "constant").length).toBe(70);
    expect(mb.filter((w) => w.location === "constant").every((w) => w.dims.length === 0 && w.consumers[0]!.opType === "Clip")).toBe(true);
    const r18 = findWeights(loadModel(`${CORPUS_DIR}/resnet18.onnx`));
    expect(r18.length).toBe(26);
    expect(r18.filter((w) => w.consumers.some((c) => c.via.length)).length).toBe(4);
    expect(r18.reduce((n, w) => n + w.consumers.length, 0)).toBe(42); // 20 Conv × (W, B) + Gemm W + Gemm B
    for (const w of r18) expect(w.bytes).toBe(w.dims.reduce((a, b) => a * b, 1) * 4);
    expect(r18.reduce((n, w) => n + w.bytes, 0)).toBe(R18_BYTES);
  });
});
