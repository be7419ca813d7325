import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { convertRaw } from "../../src/data/convert.ts";
import { RowReader } from "../../src/data/rows.ts";
import { openSafetensors, writeSafetensors } from "../../src/data/safetensors.ts";
import { DataType, floatToBf16, floatToHalf } from "../../src/tensor/dtypes.ts";
import { codeOf, tempDir } from "./helpers.ts";

const dir = tempDir();
const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** A safetensors file assembled by hand: `header` JSON text as given (padding and order included), then `data`. */
function handMade(name: string, header: string, data: Uint8Array): string {
  const h = new TextEncoder().encode(header);
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(h.length), true);
  const p = join(dir, name);
  writeFileSync(p, Buffer.concat([len, h, data]));
  return p;
}

describe("reads", () => {
  test("offsets are honoured exactly: padded header, tensors out of offset order, a gap, metadata ignored", () => {
    // data buffer: [0,8) unused gap, [8,20) 'b' as 3 x F32, [20,24) 'a' as 2 x BF16, [24,30) 'c' as 3 x F16.
    const data = new Uint8Array(30).fill(0xee);
    const dv = new DataView(data.buffer);
    [1.5, -2.25, 1e-3].forEach((v, i) => dv.setFloat32(8 + 4 * i, v, true));
    [3.0, -0.5].forEach((v, i) => dv.setUint16(20 + 2 * i, floatToBf16(v), true));
    [0.5, 65504, -1 / 1024].forEach((v, i) => dv.setUint16(24 + 2 * i, floatToHalf(v), true));
    const header =
      `{"c":{"dtype":"F16","shape":[3],"data_offsets":[24,30]},"__metadata__":{"format":"pt"},` +
      `"a":{"dtype":"BF16","shape":[1,2],"data_offsets":[20,24]},"b":{"dtype":"F32","shape":[3,1],"data_offsets":[8,20]}}      `;
    const f = openSafetensors(handMade("hand.safetensors", header, data));
    expect(f.names).toEqual(["c", "a", "b"]);
    expect(f.metadata).toEqual({ format: "pt" });
    expect(Array.from(f.read("b").data as Float32Array)).toEqual([1.5, -2.25, Math.fround(1e-3)]);
    const a = f.read("a");
    expect(a.dims).toEqual([1, 2]);
    expect(a.type).toBe(DataType.BFLOAT16);
    expect(Array.from(convertRaw(DataType.BFLOAT16, DataType.FLOAT, bytesOf(a.data), { input: "a", firstSample: 0, sampleElems: 2 }) as Float32Array)).toEqual([3, -0.5]);
    const c = f.read("c");
    expect(Array.from(convertRaw(DataType.FLOAT16, DataType.FLOAT, bytesOf(c.data), { input: "c", firstSample: 0, sampleElems: 1 }) as Float32Array)).toEqual([0.5, 65504, -1 / 1024]);
    // Row slices of a tensor read from its own offset.
    expect(Array.from(new Float32Array(new RowReader().read(f.array("b"), 1, 2).slice().buffer))).toEqual([-2.25, Math.fround(1e-3)]);
    f.close();
  });

  test("F8 tensors: the file opens, reading one is a clear E_DATA_FORMAT", () => {
    const p = handMade("f8.safetensors", `{"w":{"dtype":"F8_E4M3","shape":[2,2],"data_offsets":[0,4]},"x":{"dtype":"I32","shape":[],"data_offsets":[4,8]}}`, Uint8Array.of(1, 2, 3, 4, 7, 0, 0, 0));
    const f = openSafetensors(p);
    expect(f.entry("w").dtype).toBe("F8_E4M3");
    expect(f.read("x")).toEqual({ data: Int32Array.of(7), dims: [], type: DataType.INT32 });
    expect(codeOf(() => f.read("w"))).toBe("E_DATA_FORMAT");
    expect(() => f.read("w")).toThrow(/F8_E4M3/);
    expect(codeOf(() => f.read("nope"))).toBe("E_DATA_FORMAT");
    f.close();
  });
});

const TENSORS = () => ({
  f64: { data: Float64Array.of(Math.PI, -1e300, 0), dims: [3] },
  f32: { data: Float32Array.of(1, 2, 3, 4, 5, 6), dims: [2, 3] },
  f16: { data: Uint16Array.from([1, -2, 0.099975586, 65504].map(floatToHalf)), dims: [2, 2], type: DataType.FLOAT16 },
  bf16: { data: Uint16Array.from([1, -2, 3.140625].map(floatToBf16)), dims: [3, 1], type: DataType.BFLOAT16 },
  i64: { data: BigInt64Array.of(-(2n ** 62n), 5n), dims: [2] },
  i32: { data: Int32Array.of(-7, 2 ** 31 - 1), dims: [1, 2] },
  i16: { data: Int16Array.of(-32768), dims: [1] },
  i8: { data: Int8Array.of(-128, 127, 0), dims: [3] },
  u64: { data: BigUint64Array.of(2n ** 64n - 1n), dims: [1] },
  u32: { data: Uint32Array.of(4e9), dims: [1] },
  u16: { data: Uint16Array.of(65535, 1), dims: [2] },
  u8: { data: Uint8Array.of(255, 0, 9), dims: [3] },
  bool: { data: Uint8Array.of(1, 0, 1, 1), dims: [2, 2], type: DataType.BOOL },
  scalar: { data: Float32Array.of(-0.25), dims: [] },
  empty: { data: new Float32Array(0), dims: [0, 4] },
});

describe("write", () => {
  test("every dtype round trips; the header follows the spec (u64 length, 8-byte aligned, contiguous offsets)", () => {
    const t = TENSORS();
    const p = join(dir, "all.safetensors");
    writeSafetensors(p, t, { producer: "quant" });
    // Independent parse of the file.
    const bytes = readFileSync(p);
    const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString("utf8"));
    expect(header.__metadata__).toEqual({ producer: "quant" });
    expect(header.f16).toEqual({ dtype: "F16", shape: [2, 2], data_offsets: [3 * 8 + 6 * 4, 3 * 8 + 6 * 4 + 8] });
    expect(header.bf16.dtype).toBe("BF16");
    expect(header.bool.dtype).toBe("BOOL");
    expect(bytes.length).toBe(8 + n + Object.values(t).reduce((s, x) => s + x.data.byteLength, 0));
    expect(new Float32Array(bytes.buffer.slice(bytes.byteOffset + 8 + n + 24, bytes.byteOffset + 8 + n + 48))).toEqual(t.f32.data);
    const f = openSafetensors(p);
    expect(f.names).toEqual(Object.keys(t));
    for (const [name, x] of Object.entries(t)) {
      const back = f.read(name);
      expect(back.dims).toEqual(x.dims);
      expect(bytesOf(back.data)).toEqual(bytesOf(x.data));
    }
    f.close();
  });

  test("property: random tensors round trip", () => {
    const types = [
      [DataType.FLOAT, 4], [DataType.DOUBLE, 8], [DataType.FLOAT16, 2], [DataType.BFLOAT16, 2], [DataType.INT64, 8], [DataType.UINT8, 1], [DataType.INT16, 2], [DataType.BOOL, 1],
    ] as const;
    const ctor: Record<number, new (b: ArrayBuffer) => ArrayBufferView> = { 1: Float32Array, 11: Float64Array, 10: Uint16Array, 16: Uint16Array, 7: BigInt64Array, 2: Uint8Array, 5: Int16Array, 9: Uint8Array };
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }).filter((s) => s !== "__metadata__" && s !== "__proto__"), fc.tuple(fc.constantFrom(...types), fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }), fc.integer())),
        (spec) => {
          const tensors: Record<string, { data: never; dims: number[]; type: number }> = {};
          for (const [name, [[type, isz], dims, seed]] of Object.entries(spec)) {
            const raw = new Uint8Array(dims.reduce((a, b) => a * b, 1) * isz);
            for (let i = 0; i < raw.length; i++) raw[i] = (seed * 31 + i * 7) & (type === DataType.BOOL ? 1 : 255);
            tensors[name] = { data: new ctor[type]!(raw.buffer) as never, dims, type };
          }
          const p = join(dir, "prop.safetensors");
          writeSafetensors(p, tensors);
          const f = openSafetensors(p);
          for (const [name, t] of Object.entries(tensors)) {
            const back = f.read(name);
            expect(back.dims).toEqual(t.dims);
            expect(back.type).toBe(t.type);
            expect(bytesOf(back.data)).toEqual(bytesOf(t.data as ArrayBufferView));
          }
          f.close();
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe("bad files", () => {
  const t = (header: string, data = new Uint8Array(16)) => codeOf(() => openSafetensors(handMade("bad.safetensors", header, data)));
  test("missing → E_DATA_READ; too short, huge header length, bad JSON → E_DATA_FORMAT", () => {
    expect(codeOf(() => openSafetensors(join(dir, "none.safetensors")))).toBe("E_DATA_READ");
    writeFileSync(join(dir, "short.safetensors"), Uint8Array.of(1, 2, 3));
    expect(codeOf(() => openSafetensors(join(dir, "short.safetensors")))).toBe("E_DATA_FORMAT");
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 2n ** 40n, true);
    writeFileSync(join(dir, "huge.safetensors"), huge);
    expect(codeOf(() => openSafetensors(join(dir, "huge.safetensors")))).toBe("E_DATA_FORMAT");
    const past = new Uint8Array(16);
    new DataView(past.buffer).setBigUint64(0, 100n, true);
    writeFileSync(join(dir, "past.safetensors"), past);
    expect(codeOf(() => openSafetensors(join(dir, "past.safetensors")))).toBe("E_DATA_FORMAT");
    expect(t(`{"a": {"dtype": "F32", `)).toBe("E_DATA_FORMAT");
    expect(t(`[1, 2]`)).toBe("E_DATA_FORMAT");
  });
  test("offsets past the file, size ≠ shape × itemsize, reversed offsets, unknown dtype, bad shape → E_DATA_FORMAT", () => {
    expect(t(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[4,20]}}`)).toBe("E_DATA_FORMAT");
    expect(t(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}`)).toBe("E_DATA_FORMAT");
    expect(t(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}`)).toBe("E_DATA_FORMAT");
    expect(t(`{"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}`)).toBe("E_DATA_FORMAT");
    expect(t(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`)).toBe("E_DATA_FORMAT");
    // A correct header over the same 16 bytes opens.
    const ok = openSafetensors(handMade("ok.safetensors", `{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, new Uint8Array(16)));
    expect(ok.names).toEqual(["a"]);
    ok.close();
  });
});
