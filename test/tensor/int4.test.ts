import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import * as ort from "onnxruntime-node";
import protobuf from "protobufjs";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { DataType } from "../../src/tensor/dtypes.ts";
import { int4ByteLength, packInt4, unpackInt4, unpackUint4 } from "../../src/tensor/int4.ts";

const ModelProto = protobuf.parse(readFileSync(resolve(import.meta.dir, "../../src/onnx/onnx.proto"), "utf8")).root.lookupType("onnx.ModelProto");

const codeOf = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return (e as { code?: string }).code ?? "not a QuantError";
  }
  return "no error";
};

/** DequantizeLinear(q, 0.5, zp) in onnxruntime-node, with q and zp stored as packed 4-bit initializers. */
async function ortDequantize4(values: Int8Array | Uint8Array, zp: number): Promise<Float32Array> {
  const signed = values instanceof Int8Array;
  const type = signed ? DataType.INT4 : DataType.UINT4;
  const zpArr = signed ? Int8Array.of(zp) : Uint8Array.of(zp);
  const model = ModelProto.create({
    irVersion: 10,
    opsetImport: [{ domain: "", version: 21 }],
    graph: {
      name: "dq4",
      node: [{ opType: "DequantizeLinear", input: ["q", "s", "z"], output: ["y"] }],
      initializer: [
        { name: "q", dataType: type, dims: [values.length], rawData: packInt4(values) },
        { name: "s", dataType: DataType.FLOAT, dims: [], rawData: new Uint8Array(Float32Array.of(0.5).buffer) },
        { name: "z", dataType: type, dims: [], rawData: packInt4(zpArr) },
      ],
      output: [{ name: "y", type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: [{ dimValue: values.length }] } } } }],
    },
  });
  const session = await ort.InferenceSession.create(ModelProto.encode(model).finish());
  return (await session.run({})).y!.data as Float32Array;
}

describe("4-bit packing in ONNX nibble order", () => {
  test("element 2k → low nibble, 2k+1 → high nibble, odd count pads the last high nibble with 0", () => {
    expect(Array.from(packInt4(Int8Array.of(1, -1, 7, -8, 0)))).toEqual([0xf1, 0x87, 0x00]);
    expect(Array.from(packInt4(Int8Array.of(-3)))).toEqual([0x0d]);
    expect(Array.from(packInt4(Uint8Array.of(0, 15, 3)))).toEqual([0xf0, 0x03]);
    expect(packInt4(new Int8Array(0)).length).toBe(0);
    expect([0, 1, 2, 7, 8].map(int4ByteLength)).toEqual([0, 1, 1, 4, 4]);
  });

  test("unpacking sign-extends INT4 and zero-extends UINT4", () => {
    expect(Array.from(unpackInt4(Uint8Array.of(0xf1, 0x87, 0x00), 5))).toEqual([1, -1, 7, -8, 0]);
    expect(Array.from(unpackUint4(Uint8Array.of(0xf1, 0x87, 0x00), 5))).toEqual([1, 15, 7, 8, 0]);
  });

  test("out-of-range values and short buffers are E_QUANT_OPTIONS, never silently wrapped", () => {
    expect(codeOf(() => packInt4(Int8Array.of(0, 8)))).toBe("E_QUANT_OPTIONS");
    expect(codeOf(() => packInt4(Int8Array.of(-9)))).toBe("E_QUANT_OPTIONS");
    expect(codeOf(() => packInt4(Uint8Array.of(16, 0, 0)))).toBe("E_QUANT_OPTIONS");
    expect(codeOf(() => packInt4(Int8Array.of(1, 2, 3), new Uint8Array(1)))).toBe("E_QUANT_OPTIONS");
    expect(codeOf(() => unpackInt4(new Uint8Array(2), 5))).toBe("E_QUANT_OPTIONS");
  });

  test("pack then unpack is the identity (INT4 and UINT4, any length)", () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: -8, max: 7 }), { maxLength: 257 }), (xs) => {
      const v = Int8Array.from(xs);
      const packed = packInt4(v);
      expect(packed.length).toBe(int4ByteLength(v.length));
      expect(Array.from(unpackInt4(packed, v.length))).toEqual(xs);
    }), { numRuns: 300 });
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 15 }), { maxLength: 257 }), (xs) => {
      expect(Array.from(unpackUint4(packInt4(Uint8Array.from(xs)), xs.length))).toEqual(xs);
    }), { numRuns: 300 });
  });

  test("unpack then pack is the identity on bytes (odd counts: high nibble of the last byte is 0)", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), fc.boolean(), (bytes, odd) => {
      const count = bytes.length * 2 - (odd && bytes.length > 0 ? 1 : 0);
      const expected = Uint8Array.from(bytes);
      if (count & 1) expected[expected.length - 1]! &= 0x0f;
      expect(Array.from(packInt4(unpackInt4(bytes, count)))).toEqual(Array.from(expected));
      expect(Array.from(packInt4(unpackUint4(bytes, count)))).toEqual(Array.from(expected));
    }), { numRuns: 200 });
  });

  test("onnxruntime-node reads our packed INT4/UINT4 initializers as the same values", async () => {
    const signed = Int8Array.of(-8, -7, -1, 0, 1, 6, 7); // odd count: exercises the padding nibble
    expect(Array.from(await ortDequantize4(signed, -3))).toEqual(Array.from(signed, (v) => (v + 3) * 0.5));
    const unsigned = Uint8Array.of(0, 1, 8, 9, 14, 15, 3, 12);
    expect(Array.from(await ortDequantize4(unsigned, 9))).toEqual(Array.from(unsigned, (v) => (v - 9) * 0.5));
  });
});
