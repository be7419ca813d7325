/**
 * int8 packer: the exact storage type and bytes of every integer type it takes (INT4 widened to one value per byte),
 * the opset each needs, and a packed model whose ONNX Runtime output is the float product with the dequantized weight.
 */
import { describe, expect, test } from "bun:test";
import {
  DataType, dequantizeWeights, quantizeWeights, runPipeline, tensorBytes, type IntArray, type IntType, type PendingTensor, type TensorProto,
} from "../../../src/index.ts";
import int8 from "../../../plugins/packers/int8.ts";
import weightOnly from "../../../plugins/quantizers/weight-only.ts";
import { ctx, initializerOf, matmul, matmulModel, maxDiff, quiet, runY } from "../fixtures.ts";

const pending = (type: IntType, values: IntArray, role: PendingTensor["role"] = "weight"): PendingTensor => ({ tensor: { name: "t", dims: [values.length] } as TensorProto, values, type, role });
const raw = (t: TensorProto) => Array.from(t.raw_data ?? []);

describe("int8 packer", () => {
  const p = int8();

  test("storage type and little-endian bytes per integer type", () => {
    const cases: [IntType, IntArray, number, number[]][] = [
      ["int8", Int8Array.of(-128, -1, 0, 127), DataType.INT8, [0x80, 0xff, 0x00, 0x7f]],
      ["uint8", Uint8Array.of(0, 128, 255), DataType.UINT8, [0, 128, 255]],
      ["int4", Int8Array.of(-8, 7, -1), DataType.INT8, [0xf8, 0x07, 0xff]], // widened: one value per byte
      ["uint4", Uint8Array.of(0, 15, 9), DataType.UINT8, [0, 15, 9]],
      ["int16", Int16Array.of(-2, 258), DataType.INT16, [0xfe, 0xff, 0x02, 0x01]],
      ["uint16", Uint16Array.of(65535, 1), DataType.UINT16, [0xff, 0xff, 0x01, 0x00]],
      ["int32", Int32Array.of(-2, 0x01020304), DataType.INT32, [0xfe, 0xff, 0xff, 0xff, 0x04, 0x03, 0x02, 0x01]],
    ];
    for (const [type, values, dataType, bytes] of cases) {
      const t = pending(type, values);
      expect(p.accepts(t, ctx)).toBe(true);
      p.pack(t, ctx);
      expect([type, t.tensor.data_type, raw(t.tensor)]).toEqual([type, dataType, bytes]);
    }
  });

  test("int32 values given in a wider array are converted, not reinterpreted", () => {
    const t = pending("int8", Int32Array.of(-3, 5) as unknown as Int8Array);
    p.pack(t, ctx);
    expect(raw(t.tensor)).toEqual([0xfd, 0x05]);
  });

  test("opset: 16-bit Q/DQ need 21, 8-bit and int32 biases work from 10", () => {
    expect(["int4", "uint4", "int8", "uint8", "int16", "uint16", "int32"].map((t) => p.minOpset!(t as IntType, ctx))).toEqual([0, 0, 0, 0, 21, 21, 0]);
    expect(p.pack(pending("int16", Int16Array.of(1)), ctx)).toEqual({ minOpset: 21 });
    expect(p.pack(pending("int16", Int16Array.of(1), "bias"), ctx)).toEqual({ minOpset: 0 });
    expect(p.pack(pending("int32", Int32Array.of(1), "bias"), ctx)).toEqual({ minOpset: 0 });
  });

  test("a weight-only INT8 model: stored bytes are the quantized values, ORT computes x · dequantized W", async () => {
    const K = 16, N = 6, B = 3;
    const { bytes, W } = matmulModel(K, N);
    const r = await runPipeline({ model: bytes, plugins: [weightOnly({ sensitivity: false }), int8()], options: { perChannel: true }, write: false, logger: quiet });
    const q = quantizeWeights(W, [K, N], { type: "int8", symmetric: true, granularity: { kind: "channel", axis: 1 } });
    const stored = initializerOf(r.model, "DequantizeLinear", 0);
    expect(stored.data_type).toBe(DataType.INT8);
    expect(Array.from(new Int8Array(tensorBytes(r.model, stored).slice().buffer))).toEqual(Array.from(q.values));
    const x = Float32Array.from({ length: B * K }, (_, i) => Math.sin(i));
    const want = matmul(x, dequantizeWeights(q, [K, N]), B, K, N);
    expect(maxDiff(await runY(r.model, x, [B, K]), want)).toBeLessThan(1e-5);
  });

  test("INT4 without native storage: INT8 bytes holding values in [-8, 7], block-wise scales", async () => {
    const K = 8, N = 4;
    const { bytes, W } = matmulModel(K, N, 5);
    const r = await runPipeline({ model: bytes, plugins: [weightOnly({ sensitivity: false }), int8()], options: { bits: 4, blockSize: 4, nativeInt4: false, layerBits: { W: 4 } }, write: false, logger: quiet });
    const q = quantizeWeights(W, [K, N], { type: "int4", symmetric: true, granularity: { kind: "block", axis: 0, blockSize: 4 } });
    const stored = initializerOf(r.model, "DequantizeLinear", 0);
    expect(stored.data_type).toBe(DataType.INT8);
    const v = new Int8Array(tensorBytes(r.model, stored).slice().buffer);
    expect(Array.from(v)).toEqual(Array.from(q.values));
    expect(Math.min(...v) >= -8 && Math.max(...v) <= 7).toBe(true);
    expect(r.entries.find((e) => e.tensor === "W")!.granularity).toBe("block 4 axis 0");
  });
});
