/**
 * matmulnbits packer: exact B / scales / zero-point bytes on small cases, the packing round trip as a property, and
 * ONNX Runtime outputs byte-identical to quant's own DequantizeLinear INT4 block form of the same quantized weights.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { consola } from "consola";
import * as ort from "onnxruntime-node";
import {
  DataType, GraphBuilder, dequantizeMatMulNBits, dequantizeWeights, encodeModelProto, loadModel, packMatMulNBits,
  quantizeWeights, runPipeline, serializeModel, tensorBytes, type Model, type QuantOptions,
} from "../../../src/index.ts";
import weightOnly from "../../../plugins/quantizers/weight-only.ts";
import matmulnbits, { type MatMulNBitsOptions } from "../../../plugins/packers/matmulnbits.ts";
import int4 from "../../../plugins/packers/int4.ts";
import int8 from "../../../plugins/packers/int8.ts";
import { randomFloats } from "../../helpers/models.ts";

const quiet = consola.create({ level: 0 });
const same = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

function matmulModel(k: number, n: number, seed = 1) {
  const b = new GraphBuilder();
  b.input("x", DataType.FLOAT, ["b", 3, k]);
  b.initializer("W", DataType.FLOAT, [k, n], randomFloats(k * n, seed));
  b.node("MatMul", ["x", "W"], {}, ["h"], { name: "mm" });
  b.node("Relu", ["h"], {}, ["y"]);
  b.output("y", DataType.FLOAT, ["b", 3, n]);
  return encodeModelProto(b.model({ opset: 21 }));
}

async function quantize(bytes: Uint8Array, options: Partial<QuantOptions>, nbits?: MatMulNBitsOptions): Promise<Model> {
  const plugins = [weightOnly({ sensitivity: false }), ...(nbits ? [matmulnbits(nbits)] : []), int4(), int8()];
  const r = await runPipeline({ model: bytes, plugins, options: { nativeInt4: true, ...options }, write: false, logger: quiet });
  return r.model;
}

/**
 * Run in ORT. `qdqLevel`: the accuracy_level ORT gives the MatMulNBits it fuses from DequantizeLinear → MatMul at load
 * (its default is 4: A quantized to int8 per block; 0 computes in fp32 as the ONNX spec's DequantizeLinear does).
 */
async function run(m: Model, x: Float32Array, dims: number[], qdqLevel?: number) {
  const extra = qdqLevel === undefined ? {} : { extra: { session: { qdq_matmulnbits_accuracy_level: String(qdqLevel) } } };
  const s = await ort.InferenceSession.create(serializeModel(m), { intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 3, ...extra });
  try {
    return (await s.run({ x: new ort.Tensor("float32", x, dims) })).y!.data as Float32Array;
  } finally {
    await s.release();
  }
}

describe("MatMulNBits packing", () => {
  test("4-bit signed, K = 20 with block 16: codes + 8, even k low nibble, last block padded with the zero point, scales per column", () => {
    const K = 20, N = 2;
    const values = Int8Array.from({ length: K * N }, (_, i) => ((i * 3) % 16) - 8); // [K, N] row-major
    const scale = Float32Array.of(0.5, 0.25, 2, 4); // [blocks=2, N]
    const w = packMatMulNBits(values, new Int8Array(4), scale, K, N, 4, 16, true);
    expect([w.blocks, w.blobSize]).toEqual([2, 8]);
    expect(w.zeroPoints).toBeUndefined(); // all 8: the default
    expect(Array.from(w.scales)).toEqual([0.5, 2, 0.25, 4]);
    const code = (k: number, n: number) => (k < K ? values[k * N + n]! + 8 : 8);
    const want = new Uint8Array(N * 2 * 8);
    for (let n = 0; n < N; n++) for (let k = 0; k < 32; k += 2) want[n * 16 + (k >> 1)] = code(k, n) | (code(k + 1, n) << 4);
    expect(Array.from(w.b)).toEqual(Array.from(want));
    // Column 0 starts with values[0] = -8 → 0 and values[2] = -2 → 6: byte 0x60.
    expect(w.b[0]).toBe(0x60);
    expect(w.b[8 + 2]).toBe(0x88); // k = 20, 21: padding
  });

  test("4-bit unsigned asymmetric: zero points packed two per byte per column, even block low; 8-bit one per byte", () => {
    const K = 48, N = 2;
    const values = Uint8Array.from({ length: K * N }, (_, i) => i % 16);
    const zp = Uint8Array.of(1, 2, 3, 4, 5, 6); // [3 blocks, N]
    const w = packMatMulNBits(values, zp, new Float32Array(6).fill(1), K, N, 4, 16, false);
    expect(Array.from(w.zeroPoints!)).toEqual([1 | (3 << 4), 5, 2 | (4 << 4), 6]);
    const w8 = packMatMulNBits(Int8Array.from(values, (v) => v - 100), Int8Array.of(1, 2, 3, 4, 5, 6), new Float32Array(6).fill(1), K, N, 8, 16, true);
    expect(Array.from(w8.zeroPoints!)).toEqual([129, 131, 133, 130, 132, 134]);
    expect(w8.b[0]).toBe(0 - 100 + 128);
  });

  test("property: MatMulNBits dequantizes to exactly the DequantizeLinear block form", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 70 }), fc.integer({ min: 1, max: 5 }), fc.constantFrom(16, 32, 64), fc.constantFrom("int4", "uint4", "int8", "uint8"),
        fc.boolean(), fc.integer({ min: 1, max: 1000 }),
        (K, N, block, type, symmetric, seed) => {
          const data = randomFloats(K * N, seed);
          const q = quantizeWeights(data, [K, N], { type: type as "int4", symmetric, granularity: { kind: "block", axis: 0, blockSize: block } });
          const bits = type.endsWith("4") ? 4 : 8;
          const w = packMatMulNBits(q.values, q.zeroPoint, q.scale, K, N, bits, block, type.startsWith("int"));
          expect(dequantizeMatMulNBits(w, K, N, bits, block)).toEqual(dequantizeWeights(q, [K, N]));
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("matmulnbits packer in ONNX Runtime", () => {
  const x = randomFloats(2 * 3 * 80, 21);
  const dims = [2, 3, 80];

  test("INT4 symmetric block 32: MatMulNBits outputs byte-identical to the native-INT4 DequantizeLinear form", async () => {
    const bytes = matmulModel(80, 24);
    const dq = await quantize(bytes, { bits: 4, blockSize: 32, symmetric: true });
    const nb = await quantize(bytes, { bits: 4, blockSize: 32, symmetric: true }, { accuracyLevel: 0 });
    const g = nb.proto.graph!;
    const node = g.node!.find((n) => n.op_type === "MatMulNBits")!;
    expect(node.domain).toBe("com.microsoft");
    expect(node.input!.length).toBe(3); // symmetric: no zero points
    expect(Object.fromEntries(node.attribute!.map((a) => [a.name, Number(a.i)]))).toEqual({ K: 80, N: 24, bits: 4, block_size: 32, accuracy_level: 0 });
    const B = g.initializer!.find((t) => t.name === node.input![1])!;
    expect(B.dims!.map(Number)).toEqual([24, 3, 16]);
    expect(tensorBytes(nb, B).length).toBe(24 * 3 * 16);
    expect(g.node!.some((n) => n.op_type === "DequantizeLinear")).toBe(false);
    expect(nb.proto.opset_import!.some((o) => o.domain === "com.microsoft")).toBe(true);
    // accuracy_level 0 ≡ the DQ form computed in fp32; accuracy_level 4 ≡ what ORT makes of the DQ form by default.
    expect(same(await run(nb, x, dims), await run(dq, x, dims, 0))).toBe(true);
    const nb4 = await quantize(bytes, { bits: 4, blockSize: 32, symmetric: true }, { accuracyLevel: 4 });
    expect(same(await run(nb4, x, dims), await run(dq, x, dims))).toBe(true);
    expect(same(await run(nb4, x, dims), await run(nb, x, dims))).toBe(false);
  });

  test("UINT4 asymmetric (packed zero points) and INT8 blocks: byte-identical to the DequantizeLinear form too", async () => {
    const bytes = matmulModel(80, 24, 3);
    for (const options of [{ bits: 4 as const, blockSize: 16, symmetric: false, weightType: "uint8" as const }, { bits: 8 as const, blockSize: 32, symmetric: true }]) {
      const dq = await quantize(bytes, options);
      const nb = await quantize(bytes, options, {});
      const node = nb.proto.graph!.node!.find((n) => n.op_type === "MatMulNBits")!;
      expect(node).toBeDefined();
      expect(node.input!.length).toBe(options.symmetric ? 3 : 4);
      expect(same(await run(nb, x, dims), await run(dq, x, dims))).toBe(true); // default level 4 ≡ ORT's own DQ fusion
    }
  });

  test("a vector-matrix MatMul (1-D A) keeps its DequantizeLinear form", async () => {
    const b = new GraphBuilder();
    b.input("x", DataType.FLOAT, [64]);
    b.initializer("W", DataType.FLOAT, [64, 64], randomFloats(4096, 2));
    b.node("MatMul", ["x", "W"], {}, ["y"]);
    b.output("y", DataType.FLOAT, [64]);
    const m = await quantize(encodeModelProto(b.model({ opset: 21 })), { bits: 4, blockSize: 32 }, {});
    expect(m.proto.graph!.node!.map((n) => n.op_type)).toEqual(["DequantizeLinear", "MatMul"]);
  });
});
