import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { InputData } from "../../src/data/convert.ts";
import { encodeNpy, npyArray, openNpy, readNpy, readNpyHeader, writeNpy } from "../../src/data/npy.ts";
import { RowReader } from "../../src/data/rows.ts";
import { FileSource } from "../../src/data/source.ts";
import { DataType, floatToHalf } from "../../src/tensor/dtypes.ts";
import { codeOf, concat, tempDir } from "./helpers.ts";

const MODELS = join(import.meta.dir, "../../../shared/models");
const dir = tempDir();

/** Files numpy 2.4 wrote (np.save / write_array), for a = np.arange(12).reshape(2, 3, 2). */
const NUMPY = {
  // np.asfortranarray((a*-300+7).astype('>i2'))
  fbei2: "k05VTVBZAQB2AHsnZGVzY3InOiAnPmkyJywgJ2ZvcnRyYW5fb3JkZXInOiBUcnVlLCAnc2hhcGUnOiAoMiwgMywgMiksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAB/j//a/2p/tX9E/+2/fT/IP1e/or8yM=",
  // (a/8-0.75).astype('<f2')
  f2: "k05VTVBZAQB2AHsnZGVzY3InOiAnPGYyJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMsIDIpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAugC5ALgAtgC0ALAAAAAwADQANgA4ADk=",
  // a%3==0
  b1: "k05VTVBZAQB2AHsnZGVzY3InOiAnfGIxJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMsIDIpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoBAAABAAABAAABAAA=",
  // a.astype('<u4')*1000003, format 2.0
  v2: "k05VTVBZAgB0AAAAeydkZXNjcic6ICc8dTQnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMiwgMywgMiksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAQ0IPAIaEHgDJxi0ADAk9AE9LTACSjVsA1c9qABgSegBbVIkAnpaYAOHYpwA=",
  // a.astype('<i8')-5, format 3.0
  v3: "k05VTVBZAwB0AAAAeydkZXNjcic6ICc8aTgnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMiwgMywgMiksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAr7//////////z//////////f/////////+////////////////////AAAAAAAAAAABAAAAAAAAAAIAAAAAAAAAAwAAAAAAAAAEAAAAAAAAAAUAAAAAAAAABgAAAAAAAAA=",
  // np.asfortranarray((a*1.5-2).astype('>f8'))
  fbef8: "k05VTVBZAQB2AHsnZGVzY3InOiAnPmY4JywgJ2ZvcnRyYW5fb3JkZXInOiBUcnVlLCAnc2hhcGUnOiAoMiwgMywgMiksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIArAAAAAAAAAAEAcAAAAAAAAP/AAAAAAAABAJAAAAAAAAEAQAAAAAAAAQCoAAAAAAAC/4AAAAAAAAEAhAAAAAAAAQAQAAAAAAABAJwAAAAAAAEAWAAAAAAAAQC0AAAAAAAA=",
};

function numpyFile(name: keyof typeof NUMPY): string {
  const p = join(dir, `numpy-${name}.npy`);
  writeFileSync(p, Buffer.from(NUMPY[name], "base64"));
  return p;
}

const arange = (f: (i: number) => number) => Array.from({ length: 12 }, (_, i) => f(i));

describe("reads files numpy wrote", () => {
  test("digits_cnn_calib.npy: shape, dtype and values match the raw bytes", () => {
    const path = join(MODELS, "digits_cnn_calib.npy");
    const f = openNpy(path);
    try {
      expect(f.array.shape).toEqual([128, 1, 32, 32]);
      expect(f.array.type).toBe(DataType.FLOAT);
      expect(f.array.header.dataOffset).toBe(128);
      // Independent decode: float32 LE after the 128-byte header.
      const bytes = readFileSync(path);
      const dv = new DataView(bytes.buffer, bytes.byteOffset);
      const rows = new RowReader().read(f.array, 5, 3);
      const got = new Float32Array(rows.buffer, rows.byteOffset, 3 * 1024);
      for (const i of [0, 528, 1023, 2048 + 17, 3071]) expect(got[i]).toBe(dv.getFloat32(128 + (5 * 1024 + i) * 4, true));
      // Values numpy printed: a[5,0,16,16] = 0.55078125, a[0,0,16,8:12] = .6865234375 .8955078125 .951171875 .853515625
      expect(got[16 * 32 + 16]).toBe(0.55078125);
    } finally {
      f.close();
    }
    const all = readNpy(path).data as Float32Array;
    expect(Array.from(all.subarray(16 * 32 + 8, 16 * 32 + 12))).toEqual([0.6865234375, 0.8955078125, 0.951171875, 0.853515625]);
    // numpy: a.sum() == 39593.0, a[64:72].sum() == 2546.0 (values are multiples of 2^-10: sums are exact).
    let s = 0;
    for (const v of all) s += v;
    expect(s).toBe(39593);
    let s2 = 0;
    for (const v of all.subarray(64 * 1024, 72 * 1024)) s2 += v;
    expect(s2).toBe(2546);
  });

  test("digits_test_y.npy: int64 labels", () => {
    const { data, dims, type } = readNpy(join(MODELS, "digits_test_y.npy"));
    expect(dims).toEqual([469]);
    expect(type).toBe(DataType.INT64);
    const y = data as BigInt64Array;
    expect(Array.from(y.subarray(0, 10), Number)).toEqual([3, 2, 4, 3, 4, 3, 3, 5, 4, 7]);
    expect(Array.from(y.subarray(466), Number)).toEqual([7, 7, 8]);
    const counts = new Array(10).fill(0);
    for (const v of y) counts[Number(v)]++;
    expect(counts).toEqual([43, 47, 50, 47, 57, 36, 47, 55, 40, 47]);
  });

  test("Fortran big-endian int16, fp16, bool, v2 uint32, v3 int64, Fortran big-endian float64", () => {
    expect(Array.from(readNpy(numpyFile("fbei2")).data as Int16Array)).toEqual(arange((i) => i * -300 + 7));
    const h = readNpy(numpyFile("f2"));
    expect(h.type).toBe(DataType.FLOAT16);
    expect(Array.from(h.data as Uint16Array)).toEqual(arange((i) => floatToHalf(i / 8 - 0.75)));
    expect(Array.from(readNpy(numpyFile("b1")).data as Uint8Array)).toEqual(arange((i) => (i % 3 === 0 ? 1 : 0)));
    const v2 = readNpy(numpyFile("v2"));
    expect(v2.type).toBe(DataType.UINT32);
    expect(Array.from(v2.data as Uint32Array)).toEqual(arange((i) => i * 1000003));
    const v3 = readNpy(numpyFile("v3"));
    expect(Array.from(v3.data as BigInt64Array, Number)).toEqual(arange((i) => i - 5));
    const f8 = readNpy(numpyFile("fbef8"));
    expect(f8.dims).toEqual([2, 3, 2]);
    expect(Array.from(f8.data as Float64Array)).toEqual(arange((i) => i * 1.5 - 2));
  });

  test("Fortran row slices gather the right elements", () => {
    const f = openNpy(numpyFile("fbef8"));
    const r = new RowReader();
    const rows = r.read(f.array, 1, 1);
    expect(Array.from(new Float64Array(rows.buffer, 0, 6))).toEqual([6, 7, 8, 9, 10, 11].map((i) => i * 1.5 - 2));
    f.close();
  });
});

/** Every stored type with a typed array of 60 distinct values for shape [5, 3, 4]. */
function sample(type: number): InputData {
  const n = 60;
  const v = (i: number) => (i * 37) % 61 - 30; // distinct, both signs
  switch (type) {
    case DataType.FLOAT: return Float32Array.from({ length: n }, (_, i) => v(i) / 7);
    case DataType.DOUBLE: return Float64Array.from({ length: n }, (_, i) => v(i) / 7);
    case DataType.FLOAT16: return Uint16Array.from({ length: n }, (_, i) => floatToHalf(v(i) / 8));
    case DataType.INT8: return Int8Array.from({ length: n }, (_, i) => v(i) * 4);
    case DataType.INT16: return Int16Array.from({ length: n }, (_, i) => v(i) * 1000);
    case DataType.INT32: return Int32Array.from({ length: n }, (_, i) => v(i) * 70000000);
    case DataType.INT64: return BigInt64Array.from({ length: n }, (_, i) => BigInt(v(i)) * 300000000000n);
    case DataType.UINT8: return Uint8Array.from({ length: n }, (_, i) => v(i) + 200);
    case DataType.UINT16: return Uint16Array.from({ length: n }, (_, i) => v(i) * 1000 + 32768);
    case DataType.UINT32: return Uint32Array.from({ length: n }, (_, i) => (v(i) + 31) * 130000000);
    case DataType.UINT64: return BigUint64Array.from({ length: n }, (_, i) => BigInt(v(i) + 31) * 600000000000000000n);
    default: return Uint8Array.from({ length: n }, (_, i) => (v(i) > 0 ? 1 : 0));
  }
}
const TYPES = [DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.INT8, DataType.INT16, DataType.INT32, DataType.INT64, DataType.UINT8, DataType.UINT16, DataType.UINT32, DataType.UINT64, DataType.BOOL];
const bytesOf = (a: InputData) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

describe("write → read round trips", () => {
  for (const type of TYPES) {
    for (const fortran of [false, true]) {
      for (const bigEndian of [false, true]) {
        test(`type ${type} ${fortran ? "F" : "C"} ${bigEndian ? "BE" : "LE"}`, () => {
          const data = sample(type);
          const p = join(dir, `rt-${type}-${fortran}-${bigEndian}.npy`);
          writeNpy(p, data, [5, 3, 4], { fortran, bigEndian, type });
          const back = readNpy(p);
          expect(back.type).toBe(type);
          expect(back.dims).toEqual([5, 3, 4]);
          expect(bytesOf(back.data)).toEqual(bytesOf(data));
          // Row slices (the streaming path) equal the matching C-order slice.
          const f = openNpy(p);
          const r = new RowReader();
          const rowBytes = 12 * bytesOf(data).length / 60;
          for (const [s, c] of [[0, 5], [1, 2], [4, 1], [2, 3]] as const) {
            expect(r.read(f.array, s, c)).toEqual(bytesOf(data).subarray(s * rowBytes, (s + c) * rowBytes));
          }
          f.close();
        });
      }
    }
  }

  test("the writer puts Fortran big-endian elements where the format says", () => {
    const data = Int32Array.from({ length: 24 }, (_, i) => i * 1000 - 7);
    const p = join(dir, "layout.npy");
    writeNpy(p, data, [2, 3, 4], { fortran: true, bigEndian: true });
    const bytes = readFileSync(p);
    expect(bytes.subarray(0, 128).toString("latin1")).toContain("{'descr': '>i4', 'fortran_order': True, 'shape': (2, 3, 4), }");
    expect(bytes.length).toBe(128 + 96);
    const dv = new DataView(bytes.buffer, bytes.byteOffset);
    for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 4; k++) {
      expect(dv.getInt32(128 + (i + 2 * (j + 3 * k)) * 4, false)).toBe(data[(i * 3 + j) * 4 + k]!);
    }
  });

  test("versions 2.0 and 3.0, scalars, empty arrays, 1-D", () => {
    const d = Float32Array.of(1.5, -2, 3);
    for (const version of [2, 3] as const) {
      const p = join(dir, `v${version}.npy`);
      writeNpy(p, d, [3], { version });
      const f = new FileSource(p);
      expect(readNpyHeader(f).version).toEqual([version, 0]);
      f.close();
      expect(Array.from(readNpy(p).data as Float32Array)).toEqual([1.5, -2, 3]);
    }
    writeNpy(join(dir, "scalar.npy"), Float64Array.of(Math.PI), []);
    expect(readNpy(join(dir, "scalar.npy"))).toEqual({ data: Float64Array.of(Math.PI), dims: [], type: DataType.DOUBLE });
    writeNpy(join(dir, "empty.npy"), new Float32Array(0), [0, 3]);
    expect(readNpy(join(dir, "empty.npy")).dims).toEqual([0, 3]);
  });

  test("Fortran gathers in small chunks equal the C-order rows", () => {
    const data = Float64Array.from({ length: 7 * 3 * 5 }, (_, i) => i * 0.5 - 9);
    const p = join(dir, "fchunks.npy");
    writeNpy(p, data, [7, 3, 5], { fortran: true });
    const f = openNpy(p);
    for (const chunk of [1, 8, 7 * 8 * 2, 7 * 8 * 4 + 3, 1 << 20]) {
      const r = new RowReader(chunk);
      for (const [s, c] of [[0, 7], [2, 3], [6, 1]] as const) {
        const rows = r.read(f.array, s, c);
        expect(Array.from(new Float64Array(rows.buffer, 0, c * 15))).toEqual(Array.from(data.subarray(s * 15, (s + c) * 15)));
      }
    }
    f.close();
  });

  test("a slice reads only its rows", () => {
    const rows = 512;
    const p = join(dir, "big.npy");
    writeNpy(p, new Float32Array(rows * 256), [rows, 256]);
    const src = new FileSource(p);
    const a = npyArray(src, "big");
    const before = src.bytesRead;
    new RowReader().read(a, 300, 8);
    expect(src.bytesRead - before).toBe(8 * 256 * 4);
    src.close();
  });

  test("property: random arrays of any type, shape and layout round trip", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...TYPES),
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        (type, dims, fortran, bigEndian, seed) => {
          const n = dims.reduce((a, b) => a * b, 1);
          const isz = type === DataType.DOUBLE || type === DataType.INT64 || type === DataType.UINT64 ? 8 : [DataType.FLOAT, DataType.INT32, DataType.UINT32].includes(type as 1) ? 4 : [DataType.FLOAT16, DataType.INT16, DataType.UINT16].includes(type as 10) ? 2 : 1;
          const raw = new Uint8Array(n * isz);
          let x = seed;
          for (let i = 0; i < raw.length; i++) raw[i] = (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24;
          if (type === DataType.BOOL) for (let i = 0; i < n; i++) raw[i]! &= 1;
          const p = join(dir, "prop.npy");
          const view = { [DataType.FLOAT]: Float32Array, [DataType.DOUBLE]: Float64Array, [DataType.INT64]: BigInt64Array, [DataType.UINT64]: BigUint64Array, [DataType.INT32]: Int32Array, [DataType.UINT32]: Uint32Array, [DataType.INT16]: Int16Array, [DataType.UINT16]: Uint16Array, [DataType.FLOAT16]: Uint16Array, [DataType.INT8]: Int8Array } as Record<number, new (b: ArrayBuffer) => InputData>;
          const data = view[type] ? new view[type]!(raw.buffer) : raw;
          writeNpy(p, data, dims, { fortran, bigEndian, type });
          const back = readNpy(p);
          expect(back.dims).toEqual(dims);
          expect(bytesOf(back.data)).toEqual(raw);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe("bad files", () => {
  const good = concat(encodeNpy(Float32Array.of(1, 2, 3, 4), [2, 2]));
  const put = (name: string, bytes: Uint8Array | string) => {
    const p = join(dir, name);
    writeFileSync(p, bytes);
    return p;
  };
  test("missing file → E_DATA_READ", () => expect(codeOf(() => openNpy(join(dir, "nope.npy")))).toBe("E_DATA_READ"));
  test("bad magic, truncated header, truncated data, junk header → E_DATA_FORMAT", () => {
    expect(codeOf(() => openNpy(put("magic.npy", "not a numpy file at all")))).toBe("E_DATA_FORMAT");
    expect(codeOf(() => openNpy(put("short.npy", good.subarray(0, 40))))).toBe("E_DATA_FORMAT");
    expect(codeOf(() => openNpy(put("trunc.npy", good.subarray(0, good.length - 1))))).toBe("E_DATA_FORMAT");
    const junk = good.slice();
    junk.set(new TextEncoder().encode("{'descr': <f4"), 10);
    expect(codeOf(() => openNpy(put("junk.npy", junk)))).toBe("E_DATA_FORMAT");
  });
  test("unsupported dtypes (complex, unicode, structured) → E_DATA_FORMAT naming the dtype", () => {
    for (const descr of ["'<c8'", "'<U4'", "[('a', '<f4')]", "'|O'"]) {
      const head = `{'descr': ${descr}, 'fortran_order': False, 'shape': (1,), }`.padEnd(117, " ") + "\n";
      const p = put("dtype.npy", concat([Uint8Array.of(0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 118, 0), new TextEncoder().encode(head), new Uint8Array(16)]));
      expect(codeOf(() => openNpy(p))).toBe("E_DATA_FORMAT");
    }
    const p = put("c8.npy", concat([Uint8Array.of(0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 118, 0), new TextEncoder().encode(`{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }`.padEnd(117) + "\n"), new Uint8Array(8)]));
    expect(() => openNpy(p)).toThrow(/c8\.npy: unsupported dtype '<c8'/);
  });
  test("version 4 → E_DATA_FORMAT", () => {
    const v4 = good.slice();
    v4[6] = 4;
    expect(codeOf(() => openNpy(put("v4.npy", v4)))).toBe("E_DATA_FORMAT");
  });
});
