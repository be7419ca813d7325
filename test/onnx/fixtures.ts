/**
 * Small models built in code that exercise the corners of ONNX: local functions, If/Loop bodies reading outer
 * values, Constant-node weights, Identity-shared weights, shadowed initializers and sparse initializers.
 * All take x: FLOAT [2, 4] (plus `cond` where noted) and give y.
 */
import { GraphBuilder, valueInfo } from "../../src/onnx/builder.ts";
import { makeTensor } from "../../src/onnx/tensor-data.ts";
import type { ModelProto } from "../../src/onnx/types.ts";
import { DataType } from "../../src/tensor/dtypes.ts";
import { rng } from "./ort.ts";

const F = DataType.FLOAT;

/** Seeded random floats in [-1, 1). */
export function randf(n: number, seed: number): Float32Array {
  const r = rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = r() * 2 - 1;
  return a;
}

/** y = Relu(x @ W + b) through a local function `local.AffineRelu`. */
export function functionModel(): ModelProto {
  const b = new GraphBuilder("fn_main");
  const x = b.input("x", F, [2, 4]);
  b.initializer("W", F, [4, 3], randf(12, 1));
  b.initializer("B", F, [3], randf(3, 2));
  b.node("AffineRelu", [x, "W", "B"], {}, ["y"], { domain: "local", name: "call" });
  b.output("y", F, [2, 3]);
  const m = b.model({ opset: 13, extraOpsets: [{ domain: "local", version: 1 }] });
  m.functions = [
    {
      name: "AffineRelu",
      domain: "local",
      input: ["X", "Wf", "Bf"],
      output: ["Y"],
      opset_import: [{ domain: "", version: 13 }],
      node: [
        { op_type: "MatMul", input: ["X", "Wf"], output: ["T"], name: "fn_mm" },
        { op_type: "Add", input: ["T", "Bf"], output: ["U"], name: "fn_add" },
        { op_type: "Relu", input: ["U"], output: ["Y"], name: "fn_relu" },
      ],
    },
  ];
  return m;
}

/**
 * y = If(cond): then x @ W (W: outer main-graph initializer, read through an Identity inside the branch),
 * else x @ W2 (W2: the else branch's own initializer) + Wc (a Constant node inside the branch).
 */
export function ifModel(): ModelProto {
  const then = new GraphBuilder("then_g");
  then.node("Identity", ["W"], {}, ["W_then"], { name: "then_id" });
  then.node("MatMul", ["x", "W_then"], {}, ["then_y"], { name: "then_mm" });
  then.output("then_y", F, [2, 3]);
  const els = new GraphBuilder("else_g");
  els.initializer("W2", F, [4, 3], randf(12, 4));
  els.node("Constant", [], { value: makeTensor("", F, [3], randf(3, 5)) }, ["Wc"], { name: "else_const" });
  els.node("MatMul", ["x", "W2"], {}, ["else_mm"], { name: "else_mm" });
  els.node("Add", ["else_mm", "Wc"], {}, ["else_y"], { name: "else_add" });
  els.output("else_y", F, [2, 3]);
  const b = new GraphBuilder("if_main");
  b.input("x", F, [2, 4]);
  b.input("cond", DataType.BOOL, []);
  b.initializer("W", F, [4, 3], randf(12, 3));
  b.node("If", ["cond"], { then_branch: then.graph, else_branch: els.graph }, ["y"], { name: "if" });
  b.output("y", F, [2, 3]);
  return b.model({ opset: 13 });
}

/** y = 3 iterations of v = Tanh(v @ W + Bl) starting from x, W outer, Bl a body initializer; an If nested in the body reads W too. */
export function loopModel(): ModelProto {
  const inner = new GraphBuilder("inner_then");
  inner.node("MatMul", ["v_in", "W"], {}, ["inner_y"], { name: "inner_mm" });
  inner.output("inner_y", F, [2, 4]);
  const innerElse = new GraphBuilder("inner_else");
  innerElse.node("Identity", ["v_in"], {}, ["inner_e"], { name: "inner_id" });
  innerElse.output("inner_e", F, [2, 4]);
  const body = new GraphBuilder("body");
  body.input("iter", DataType.INT64, []);
  body.input("cond_in", DataType.BOOL, []);
  body.input("v_in", F, [2, 4]);
  body.initializer("Bl", F, [4], randf(4, 7));
  body.node("If", ["cond_in"], { then_branch: inner.graph, else_branch: innerElse.graph }, ["mm"], { name: "body_if" });
  body.node("Add", ["mm", "Bl"], {}, ["pre"], { name: "body_add" });
  body.node("Tanh", ["pre"], {}, ["v_out"], { name: "body_tanh" });
  body.node("Identity", ["cond_in"], {}, ["cond_out"], { name: "body_cond" });
  body.output("cond_out", DataType.BOOL, []);
  body.output("v_out", F, [2, 4]);
  const b = new GraphBuilder("loop_main");
  b.input("x", F, [2, 4]);
  b.initializer("W", F, [4, 4], randf(16, 6));
  b.initializer("M", DataType.INT64, [], new BigInt64Array([3n]));
  b.initializer("C", DataType.BOOL, [], new Uint8Array([1]));
  b.node("Loop", ["M", "C", "x"], { body: body.graph }, ["y"], { name: "loop" });
  b.output("y", F, [2, 4]);
  return b.model({ opset: 13 });
}

/** Weights held by Constant nodes: `value` (a [4,3] tensor), `value_float` and `value_floats`; shape via `value_ints`. */
export function constantModel(): ModelProto {
  const b = new GraphBuilder("const_main");
  const x = b.input("x", F, [2, 4]);
  b.node("Constant", [], { value: makeTensor("ignored_name", F, [4, 3], randf(12, 8)) }, ["Wc"], { name: "c_w" });
  b.node("Constant", [], { value_float: { float: 0.5 } }, ["s"], { name: "c_s" });
  b.node("Constant", [], { value_floats: { floats: [0.25, -1, 2] } }, ["bias"], { name: "c_b" });
  b.node("Constant", [], { value_ints: [3, 2] }, ["shape"], { name: "c_shape" });
  b.node("MatMul", [x, "Wc"], {}, ["mm"], { name: "mm" });
  b.node("Mul", ["mm", "s"], {}, ["scaled"], { name: "mul" });
  b.node("Add", ["scaled", "bias"], {}, ["sum"], { name: "add" });
  b.node("Reshape", ["sum", "shape"], {}, ["y"], { name: "reshape" });
  b.output("y", F, [3, 2]);
  return b.model({ opset: 13 });
}

/**
 * One weight W shared through Identity nodes (as torch exports de-duplicated tensors): a chain W → w1 → w2,
 * a second branch W → w3, and an Identity W → w_out that is itself a graph output.
 */
export function identityModel(): ModelProto {
  const b = new GraphBuilder("id_main");
  const x = b.input("x", F, [2, 4]);
  b.initializer("W", F, [4, 4], randf(16, 9));
  b.node("Identity", ["W"], {}, ["w1"], { name: "id1" });
  b.node("Identity", ["w1"], {}, ["w2"], { name: "id2" });
  b.node("Identity", ["W"], {}, ["w3"], { name: "id3" });
  b.node("Identity", ["W"], {}, ["w_out"], { name: "id_out" });
  b.node("MatMul", [x, "w2"], {}, ["a"], { name: "mm_a" });
  b.node("MatMul", ["a", "w3"], {}, ["y"], { name: "mm_b" });
  b.graph.value_info!.push(valueInfo("w2", F, [4, 4]));
  b.output("y", F, [2, 4]);
  b.output("w_out", F, [4, 4]);
  return b.model({ opset: 13 });
}

/** W is an initializer and also a graph input (an overridable default), read through an Identity. */
export function shadowedModel(): ModelProto {
  const b = new GraphBuilder("shadow_main");
  const x = b.input("x", F, [2, 4]);
  b.input("W", F, [4, 3]);
  b.initializer("W", F, [4, 3], randf(12, 10));
  b.initializer("V", F, [3], randf(3, 11));
  b.node("Identity", ["W"], {}, ["w_id"], { name: "id_w" });
  b.node("MatMul", [x, "w_id"], {}, ["mm"], { name: "mm" });
  b.node("Add", ["mm", "V"], {}, ["y"], { name: "add" });
  b.output("y", F, [2, 3]);
  return b.model({ opset: 13 });
}

/** y = x @ S with S a [4,3] sparse initializer (3 non-zeros). */
export function sparseModel(): ModelProto {
  const b = new GraphBuilder("sparse_main");
  const x = b.input("x", F, [2, 4]);
  b.graph.sparse_initializer = [
    {
      values: makeTensor("S", F, [3], new Float32Array([1.5, -2, 0.25])),
      indices: makeTensor("S_indices", DataType.INT64, [3], new BigInt64Array([0n, 4n, 11n])),
      dims: [4, 3],
    },
  ];
  b.node("MatMul", [x, "S"], {}, ["y"], { name: "mm" });
  b.output("y", F, [2, 3]);
  return b.model({ opset: 13 });
}

/** A chain x @ W0 @ W1 … + tiny, with `n` [dim, dim] weights and one small bias, for external-data tests. */
export function chainModel(n = 3, dim = 64): ModelProto {
  const b = new GraphBuilder("chain");
  let v = b.input("x", F, [2, dim]);
  for (let i = 0; i < n; i++) {
    b.initializer(`W${i}`, F, [dim, dim], randf(dim * dim, 20 + i).map((a) => a / Math.sqrt(dim)));
    v = b.node("MatMul", [v, `W${i}`], {}, [`h${i}`], { name: `mm${i}` });
  }
  b.initializer("tiny", F, [dim], randf(dim, 99));
  b.node("Add", [v, "tiny"], {}, ["y"], { name: "add_tiny" });
  b.output("y", F, [2, dim]);
  return b.model({ opset: 13 });
}
