/**
 * int4 packer: native opset-21 INT4/UINT4, two values per byte (element 2i in the low nibble), exact bytes, the types
 * it takes, and a packed model that ONNX Runtime runs to the float product with the dequantized weight.
 */
import { describe, expect, test } from "bun:test";
import { DataType, dequantizeWeights, quantizeWeights, runPipeline, unpackInt4, type IntArray, type IntType, type PendingTensor, type TensorProto } from "../../../src/index.ts";
import int4 from "../../../plugins/packers/int4.ts";
import int8 from "../../../plugins/packers/int8.ts";
import weightOnly from "../../../plugins/quantizers/weight-only.ts";
import { ctx, initializerOf, matmul, matmulModel, maxDiff, quiet, runY } from "../fixtures.ts";

const pending = (type: IntType, values: IntArray): PendingTensor => ({ tensor: { name: "t", dims: [values.length] } as TensorProto, values, type, role: "weight" });

describe("int4 packer", () => {
  const p = int4();

  test("two values per byte, low nibble first; an odd count leaves the last high nibble 0", () => {
    const s = pending("int4", Int8Array.of(-8, 7, 1, -1, 3));
    expect(p.pack(s, ctx)).toEqual({ minOpset: 21 });
    expect([s.tensor.data_type, Array.from(s.tensor.raw_data!)]).toEqual([DataType.INT4, [0x78, 0xf1, 0x03]]);
    const u = pending("uint4", Uint8Array.of(0, 15, 5));
    p.pack(u, ctx);
    expect([u.tensor.data_type, Array.from(u.tensor.raw_data!)]).toEqual([DataType.UINT4, [0xf0, 0x05]]);
  });

  test("takes only 4-bit tensors and declares opset 21 for them", () => {
    expect(["int4", "uint4", "int8", "uint8", "int16", "int32"].map((t) => p.accepts(pending(t as IntType, new Int8Array(1)), ctx))).toEqual([true, true, false, false, false, false]);
    expect(["int4", "uint4", "int8", "int32"].map((t) => p.minOpset!(t as IntType, ctx))).toEqual([21, 21, undefined, undefined]);
  });

  test("a value out of the 4-bit range is refused, not wrapped", () => {
    expect(() => p.pack(pending("int4", Int8Array.of(8)), ctx)).toThrow(/does not fit 4 bits/);
  });

  test("weight-only INT4 blocks: native INT4 bytes, opset 21, ORT computes x · dequantized W, half the INT8-widened bytes", async () => {
    const K = 32, N = 8, B = 2;
    const { bytes, W } = matmulModel(K, N, 9);
    const options = { bits: 4 as const, blockSize: 16, layerBits: { W: 4 } };
    const r = await runPipeline({ model: bytes, plugins: [weightOnly({ sensitivity: false }), int4(), int8()], options: { ...options, nativeInt4: true }, write: false, logger: quiet });
    const q = quantizeWeights(W, [K, N], { type: "int4", symmetric: true, granularity: { kind: "block", axis: 0, blockSize: 16 } });
    const stored = initializerOf(r.model, "DequantizeLinear", 0);
    expect(stored.data_type).toBe(DataType.INT4);
    expect(stored.raw_data!.length).toBe(K * N / 2);
    expect(Array.from(unpackInt4(stored.raw_data!, K * N))).toEqual(Array.from(q.values));
    expect(r.opset.to).toBe(21);
    const x = Float32Array.from({ length: B * K }, (_, i) => Math.cos(i * 0.7));
    expect(maxDiff(await runY(r.model, x, [B, K]), matmul(x, dequantizeWeights(q, [K, N]), B, K, N))).toBeLessThan(1e-5);
    const widened = await runPipeline({ model: bytes, plugins: [weightOnly({ sensitivity: false }), int8()], options: { ...options, nativeInt4: false }, write: false, logger: quiet });
    expect(initializerOf(widened.model, "DequantizeLinear", 0).raw_data!.length).toBe(K * N);
  });
});
