/**
 * The one definition of "already quantized" (isQuantized), on models in every quantized form: QDQ weights,
 * ConvInteger + DynamicQuantizeLinear, MatMulInteger, QLinearConv, com.microsoft MatMulNBits, QAT-style Q→DQ on float
 * weights — and partly quantized models, whose float weights (also behind a Transpose) are counted.
 */
import { describe, expect, test } from "bun:test";
import { GraphBuilder } from "../../src/onnx/builder.ts";
import { isQuantized, describeQuantOps } from "../../src/onnx/quantized.ts";
import { DataType } from "../../src/tensor/dtypes.ts";
import { f32, twoMatMuls } from "../helpers/quantized-models.ts";

describe("isQuantized", () => {
  test("a float model: none", () => {
    expect(isQuantized(twoMatMuls(false, false))).toEqual({ state: "none", already: false, ops: {}, integerWeights: { count: 0, bytes: 0 }, floatWeights: { count: 0, bytes: 0 } });
  });
  test("every weight behind DequantizeLinear: full", () => {
    const s = isQuantized(twoMatMuls(true, true));
    expect(s).toEqual({ state: "full", already: true, ops: { DequantizeLinear: 2 }, integerWeights: { count: 2, bytes: 28 }, floatWeights: { count: 0, bytes: 0 } });
  });
  test("one weight quantized, one float (also when read through a Transpose): partial, the float one counted", () => {
    expect(isQuantized(twoMatMuls(true, false)).floatWeights).toEqual({ count: 1, bytes: 48 });
    expect(isQuantized(twoMatMuls(true, false)).state).toBe("partial");
    const t = isQuantized(twoMatMuls(true, false, { transposeW2: true }));
    expect(t.state).toBe("partial");
    expect(t.floatWeights.count).toBe(1);
  });
  test("ConvInteger + DynamicQuantizeLinear (ORT's dynamic quantization of a CNN): full; float scales and biases are not weights", () => {
    const b = new GraphBuilder();
    b.input("x", DataType.FLOAT, [1, 3, 8, 8]);
    b.initializer("w_q", DataType.INT8, [4, 3, 3, 3], new Int8Array(108).fill(1));
    b.initializer("w_zp", DataType.INT8, [], new Int8Array(1));
    b.initializer("w_s", DataType.FLOAT, [], f32(1, 0.02));
    b.initializer("bias", DataType.FLOAT, [1, 4, 1, 1], f32(4));
    b.initializer("shape", DataType.INT64, [4], new BigInt64Array([1n, 4n, 1n, 1n]));
    b.node("DynamicQuantizeLinear", ["x"], {}, ["xq", "xs", "xzp"]);
    b.node("ConvInteger", ["xq", "w_q", "xzp", "w_zp"], {}, ["acc"]);
    b.node("Cast", ["acc"], { to: DataType.FLOAT }, ["accf"]);
    b.node("Mul", ["xs", "w_s"], {}, ["scale"]);
    b.node("Mul", ["accf", "scale"], {}, ["deq"]);
    b.node("Reshape", ["bias", "shape"], {}, ["b4"]);
    b.node("Add", ["deq", "b4"], {}, ["y"]);
    b.output("y", DataType.FLOAT, [1, 4, 6, 6]);
    const s = isQuantized(b.model({ opset: 13 }));
    expect(s.state).toBe("full");
    expect(s.ops).toEqual({ DynamicQuantizeLinear: 1, ConvInteger: 1 });
    expect(s.integerWeights).toEqual({ count: 1, bytes: 108 });
    expect(describeQuantOps(s)).toBe("ConvInteger 1, DynamicQuantizeLinear 1");
  });
  test("MatMulInteger, QLinearConv and com.microsoft MatMulNBits models: full", () => {
    const mm = new GraphBuilder();
    mm.input("x", DataType.UINT8, [2, 4]);
    mm.initializer("w", DataType.INT8, [4, 3], new Int8Array(12));
    mm.node("MatMulInteger", ["x", "w"], {}, ["y"]);
    mm.output("y", DataType.INT32, [2, 3]);
    expect(isQuantized(mm.model({ opset: 13 }))).toMatchObject({ state: "full", ops: { MatMulInteger: 1 }, integerWeights: { count: 1, bytes: 12 } });

    const qc = new GraphBuilder();
    qc.input("x", DataType.UINT8, [1, 1, 4, 4]);
    qc.initializer("s", DataType.FLOAT, [], f32(1, 0.1));
    qc.initializer("zp", DataType.UINT8, [], new Uint8Array(1));
    qc.initializer("w", DataType.INT8, [1, 1, 1, 1], new Int8Array([3]));
    qc.initializer("wzp", DataType.INT8, [], new Int8Array(1));
    qc.node("QLinearConv", ["x", "s", "zp", "w", "s", "wzp", "s", "zp"], {}, ["y"]);
    qc.output("y", DataType.UINT8, [1, 1, 4, 4]);
    expect(isQuantized(qc.model({ opset: 13 }))).toMatchObject({ state: "full", ops: { QLinearConv: 1 }, integerWeights: { count: 1, bytes: 1 } });

    const nb = new GraphBuilder();
    nb.input("x", DataType.FLOAT, [2, 64]);
    nb.initializer("w", DataType.UINT8, [8, 2, 16], new Uint8Array(256));
    nb.initializer("scales", DataType.FLOAT, [16], f32(16));
    nb.node("MatMulNBits", ["x", "w", "scales"], { K: 64, N: 8, bits: 4, block_size: 32 }, ["y"], { domain: "com.microsoft" });
    nb.output("y", DataType.FLOAT, [2, 8]);
    expect(isQuantized(nb.model({ opset: 13, extraOpsets: [{ domain: "com.microsoft", version: 1 }] }))).toMatchObject({ state: "full", ops: { MatMulNBits: 1 } });
  });
  test("QAT-style Q → DQ on a float weight: the float weight feeds QuantizeLinear, not the Conv, so the model is fully quantized", () => {
    const b = new GraphBuilder();
    b.input("x", DataType.FLOAT, [1, 1, 4, 4]);
    b.initializer("w", DataType.FLOAT, [2, 1, 3, 3], f32(18));
    b.initializer("s", DataType.FLOAT, [], f32(1, 0.01));
    b.initializer("zp", DataType.INT8, [], new Int8Array(1));
    b.node("QuantizeLinear", ["w", "s", "zp"], {}, ["wq"]);
    b.node("DequantizeLinear", ["wq", "s", "zp"], {}, ["wd"]);
    b.node("Conv", ["x", "wd"], {}, ["y"]);
    b.output("y", DataType.FLOAT, [1, 2, 2, 2]);
    expect(isQuantized(b.model({ opset: 13 }))).toMatchObject({ state: "full", floatWeights: { count: 0, bytes: 0 } });
  });
});
