/** Small models built in code for the runtime tests. */
import { GraphBuilder } from "../../src/onnx/builder.ts";
import { encodeModelProto } from "../../src/onnx/proto.ts";
import { loadModel } from "../../src/onnx/codec.ts";
import type { Model } from "../../src/onnx/model.ts";
import { DataType } from "../../src/tensor/dtypes.ts";
import { randomFloats } from "./helpers.ts";

const F = DataType.FLOAT;
const load = (b: GraphBuilder, opset = 13): Model => loadModel(encodeModelProto(b.model({ opset })));

/**
 * x[N,2,6,6] → Conv(16 out, 3×3, pad 1) → Relu → GlobalAveragePool → Flatten → MatMul[16,3] → y[N,3],
 * plus Shape(x) as an int64 value. 16 output channels so onnxruntime runs the Conv in its NCHWc layout.
 * `batch` fixes the leading dim (e.g. 1) instead of the symbolic "N".
 */
export function convReluMatMul(opts: { opset?: number; batch?: number } = {}): Model {
  const b = new GraphBuilder("conv_relu_matmul");
  const x = b.input("x", F, [opts.batch ?? "N", 2, 6, 6]);
  const w = b.initializer("w", F, [16, 2, 3, 3], randomFloats(16 * 2 * 9, 7));
  const bias = b.initializer("bias", F, [16], randomFloats(16, 8, 0.2));
  b.node("Conv", [x, w, bias], { pads: [1, 1, 1, 1], kernel_shape: [3, 3] }, ["conv"]);
  b.node("Relu", ["conv"], {}, ["relu"]);
  b.node("GlobalAveragePool", ["relu"], {}, ["gap"]);
  b.node("Flatten", ["gap"], { axis: 1 }, ["flat"]);
  const w2 = b.initializer("w2", F, [16, 3], randomFloats(48, 9));
  b.node("MatMul", ["flat", w2], {}, ["y"]);
  b.node("Shape", [x], {}, ["xshape"]);
  b.output("y", F, [opts.batch ?? "N", 3]);
  b.output("xshape", DataType.INT64, [4]);
  return load(b, opts.opset);
}

/**
 * Two data inputs a[N,4], b[N,4] and an optional input `scale` [1] with an initializer default:
 * s = a + b; m = s * scale; h = Tanh(m) (as float16 via Cast, then back); d = Cast(m → double) → Sqrt(|d|) as double.
 */
export function twoInputs(): Model {
  const b = new GraphBuilder("two_inputs");
  b.input("a", F, ["N", 4]);
  b.input("b", F, ["N", 4]);
  b.input("scale", F, [1]);
  b.initializer("scale", F, [1], new Float32Array([1.5]));
  b.node("Add", ["a", "b"], {}, ["s"]);
  b.node("Mul", ["s", "scale"], {}, ["m"]);
  b.node("Cast", ["m"], { to: DataType.FLOAT16 }, ["m16"]);
  b.node("Tanh", ["m16"], {}, ["t16"]);
  b.node("Cast", ["t16"], { to: F }, ["t"]);
  b.node("Cast", ["m"], { to: DataType.DOUBLE }, ["m64"]);
  b.node("Abs", ["m64"], {}, ["a64"]);
  b.node("Sqrt", ["a64"], {}, ["r64"]);
  b.node("Cast", ["r64"], { to: F }, ["r"]);
  b.node("Add", ["t", "r"], {}, ["y"]);
  b.output("y", F, ["N", 4]);
  return load(b, 13);
}

/**
 * x[N,4] → Relu → r; cond = ReduceSum(x) > 0; If(cond) { then: Mul(r, 2) → inner_then; else: Neg(r) → inner_else } → y;
 * z = y + r. The branches read `r` from the outer scope.
 */
export function ifModel(): Model {
  const thenB = new GraphBuilder("then");
  const two = thenB.initializer("two", F, [], new Float32Array([2]));
  thenB.node("Mul", ["r", two], {}, ["inner_then"]);
  thenB.output("inner_then", F, ["N", 4]);
  const elseB = new GraphBuilder("else");
  elseB.node("Neg", ["r"], {}, ["inner_else"]);
  elseB.output("inner_else", F, ["N", 4]);
  const b = new GraphBuilder("with_if");
  b.input("x", F, ["N", 4]);
  b.node("Relu", ["x"], {}, ["r"]);
  b.node("ReduceSum", ["x"], { keepdims: 0 }, ["sum"]);
  const zero = b.initializer("zero", F, [], new Float32Array([0]));
  b.node("Greater", ["sum", zero], {}, ["cond"]);
  b.node("If", ["cond"], { then_branch: thenB.graph, else_branch: elseB.graph }, ["y"]);
  b.node("Add", ["y", "r"], {}, ["z"]);
  b.output("z", F, ["N", 4]);
  return load(b, 13);
}
