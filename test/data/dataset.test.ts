import { describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { InputData } from "../../src/data/convert.ts";
import { type ModelInputInfo, openDataset } from "../../src/data/dataset.ts";
import { encodeNpy, writeNpy } from "../../src/data/npy.ts";
import { writeSafetensors } from "../../src/data/safetensors.ts";
import { isQuantError } from "../../src/errors/errors.ts";
import { DataType, floatToHalf } from "../../src/tensor/dtypes.ts";
import { buildZip, codeOf, concat, tempDir } from "./helpers.ts";

const MODELS = join(import.meta.dir, "../../../shared/models");
const CALIB = join(MODELS, "digits_cnn_calib.npy");
const dir = tempDir();
const IMAGE: ModelInputInfo = { name: "image", elemType: DataType.FLOAT, shape: ["N", 1, 32, 32] };

function errorOf(fn: () => unknown): { code: string; message: string; file?: string } {
  try {
    fn();
  } catch (e) {
    if (isQuantError(e)) return { code: e.code, message: e.message, file: e.site.file };
    throw e;
  }
  throw new Error("nothing thrown");
}

describe(".npy datasets", () => {
  test("digits_cnn_calib.npy: count, batch dims and exact values from the file's bytes", () => {
    const ds = openDataset({ path: CALIB }, [IMAGE]);
    expect(ds.count).toBe(128);
    expect(ds.inputs).toEqual(["image"]);
    const b = ds.batch(40, 8).image!;
    expect(b.dims).toEqual([8, 1, 32, 32]);
    expect(b.elemType).toBe(DataType.FLOAT);
    const bytes = readFileSync(CALIB);
    const expected = new Float32Array(bytes.buffer.slice(bytes.byteOffset + 128 + 40 * 4096, bytes.byteOffset + 128 + 48 * 4096));
    expect(b.data).toEqual(expected);
    // The batch owns exactly its data: nothing of the file stays reachable through it.
    expect(b.data.buffer.byteLength).toBe(8 * 4096);
    ds.close();
  });

  test("release() recycles a consumed batch's arrays for the next batch of the same size", () => {
    const ds = openDataset({ path: CALIB }, [IMAGE]);
    const a = ds.batch(0, 4);
    const arr = a.image!.data;
    ds.release!(a);
    const b = ds.batch(4, 4);
    expect(b.image!.data).toBe(arr);
    const bytes = readFileSync(CALIB);
    expect(b.image!.data).toEqual(new Float32Array(bytes.buffer.slice(bytes.byteOffset + 128 + 4 * 4096, bytes.byteOffset + 128 + 8 * 4096)));
    ds.release!(b);
    // A different size gets a fresh array.
    expect(ds.batch(8, 2).image!.data).not.toBe(arr);
    ds.close();
    const r = openDataset({ samples: 4 }, [IMAGE]);
    const first = r.batch(1, 1).image!.data.slice();
    const x = r.batch(0, 1);
    r.release!(x);
    const y = r.batch(1, 1).image!;
    expect(y.data).toBe(x.image!.data);
    expect(y.data).toEqual(first);
  });

  test("--samples limits the count; the transformer's calibration set feeds [N, 8, 8]", () => {
    const ds = openDataset({ path: CALIB, samples: 64 }, [IMAGE]);
    expect(ds.count).toBe(64);
    expect(codeOf(() => ds.batch(60, 8))).toBe("E_CALIB_SAMPLES");
    ds.close();
    const tf = openDataset({ path: join(MODELS, "digits_tf_calib.npy") }, [{ name: "rows", elemType: DataType.FLOAT, shape: ["N", 8, 8] }]);
    expect(tf.count).toBe(128);
    expect(tf.batch(127, 1).rows!.dims).toEqual([1, 8, 8]);
    tf.close();
  });

  test("samples: exactly N or E_CALIB_SAMPLES; maxSamples is a cap, not a request", () => {
    const e = errorOf(() => openDataset({ path: CALIB, samples: 129 }, [IMAGE]));
    expect(e.code).toBe("E_CALIB_SAMPLES");
    expect(e.message).toBe("asked for 129 samples, the data has 128: ask for 128 or for all (--samples all)");
    expect(e.file).toBe(CALIB);
    const exact = openDataset({ path: CALIB, samples: 128 }, [IMAGE]);
    expect(exact.count).toBe(128);
    exact.close();
    const capped = openDataset({ path: CALIB, maxSamples: 500 }, [IMAGE]);
    expect(capped.count).toBe(128);
    capped.close();
    const few = openDataset({ path: CALIB, maxSamples: 4 }, [IMAGE]);
    expect(few.count).toBe(4);
    few.close();
    // Random data has as many samples as asked, whichever way.
    expect(openDataset({ maxSamples: 5 }, [IMAGE]).count).toBe(5);
  });

  test("shape that does not fit → E_CALIB_SHAPE naming the input, expected and got", () => {
    const e = errorOf(() => openDataset({ path: CALIB }, [{ name: "image", elemType: DataType.FLOAT, shape: ["N", 3, 32, 32] }]));
    expect(e.code).toBe("E_CALIB_SHAPE");
    expect(e.message).toContain("input 'image' expects [N, 3, 32, 32]");
    expect(e.message).toContain("got [128, 1, 32, 32]");
    expect(e.file).toBe(CALIB);
    expect(codeOf(() => openDataset({ path: CALIB }, [{ name: "x", elemType: DataType.FLOAT, shape: ["N", 1024] }]))).toBe("E_CALIB_SHAPE");
  });

  test("one sample (rank = input rank - 1) is a dataset of 1", () => {
    const p = join(dir, "one.npy");
    writeNpy(p, Float32Array.from({ length: 1024 }, (_, i) => i), [1, 32, 32]);
    const ds = openDataset({ path: p }, [IMAGE]);
    expect(ds.count).toBe(1);
    const b = ds.batch(0, 1).image!;
    expect(b.dims).toEqual([1, 1, 32, 32]);
    expect(b.data[1023]).toBe(1023);
    expect(codeOf(() => ds.batch(0, 2))).toBe("E_CALIB_SAMPLES");
    ds.close();
  });

  test("Fortran-order, big-endian data feeds the same batches", () => {
    const data = Float32Array.from({ length: 6 * 12 }, (_, i) => Math.sin(i));
    const input: ModelInputInfo = { name: "x", elemType: DataType.FLOAT, shape: [null, 3, 4] };
    writeNpy(join(dir, "c.npy"), data, [6, 3, 4]);
    writeNpy(join(dir, "f.npy"), data, [6, 3, 4], { fortran: true, bigEndian: true });
    const c = openDataset({ path: join(dir, "c.npy") }, [input]);
    const f = openDataset({ path: join(dir, "f.npy") }, [input]);
    for (const [s, n] of [[0, 6], [1, 4], [5, 1]] as const) expect(f.batch(s, n).x!.data).toEqual(c.batch(s, n).x!.data);
    expect(c.batch(2, 2).x!.data).toEqual(data.subarray(24, 48));
    c.close();
    f.close();
  });
});

describe("dtypes", () => {
  const ids = (t: number): ModelInputInfo => ({ name: "ids", elemType: t, shape: ["B", 4] });
  const file = (name: string, data: InputData) => {
    const p = join(dir, name);
    writeNpy(p, data, [2, 4]);
    return p;
  };
  test("int → int64 input (exact, negatives kept), int64 → float, uint8 0/1 → bool, f64 → f16 bits", () => {
    const i32 = file("i32.npy", Int32Array.of(-5, 0, 7, 2 ** 31 - 1, 1, 2, 3, -(2 ** 31)));
    const ds = openDataset({ path: i32 }, [ids(DataType.INT64)]);
    expect(Array.from(ds.batch(0, 2).ids!.data as BigInt64Array)).toEqual([-5n, 0n, 7n, 2147483647n, 1n, 2n, 3n, -2147483648n]);
    ds.close();
    const i64 = file("i64.npy", BigInt64Array.of(1n, -2n, 3n, 4n, 5n, 6n, 7n, 2n ** 53n));
    const asFloat = openDataset({ path: i64 }, [ids(DataType.FLOAT)]);
    expect(Array.from(asFloat.batch(1, 1).ids!.data as Float32Array)).toEqual([5, 6, 7, 2 ** 53]);
    asFloat.close();
    const mask = file("mask.npy", Uint8Array.of(1, 1, 0, 0, 1, 0, 1, 0));
    const m = openDataset({ path: mask }, [ids(DataType.BOOL)]);
    expect(Array.from(m.batch(0, 2).ids!.data as Uint8Array)).toEqual([1, 1, 0, 0, 1, 0, 1, 0]);
    m.close();
    const f64 = file("f64.npy", Float64Array.of(0.1, -2, 65504, 1e-8, 0, 1, 2, 3));
    const h = openDataset({ path: f64 }, [ids(DataType.FLOAT16)]);
    expect(Array.from(h.batch(0, 1).ids!.data as Uint16Array)).toEqual([0.1, -2, 65504, 1e-8].map(floatToHalf));
    h.close();
  });

  test("float → int input, out-of-range ints, non-0/1 bools, f64 overflowing f32 → E_CALIB_DTYPE", () => {
    const f = file("f32.npy", Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8));
    const e = errorOf(() => openDataset({ path: f }, [ids(DataType.INT64)]).batch(0, 1));
    expect(e.code).toBe("E_CALIB_DTYPE");
    expect(e.message).toContain("input 'ids'");
    const big = file("big.npy", BigInt64Array.of(1n, 2n, 3n, 4n, 5n, 2n ** 40n, 7n, 8n));
    const ds = openDataset({ path: big }, [ids(DataType.INT32)]);
    expect(Array.from(ds.batch(0, 1).ids!.data as Int32Array)).toEqual([1, 2, 3, 4]);
    const r = errorOf(() => ds.batch(1, 1));
    expect(r.code).toBe("E_CALIB_DTYPE");
    expect(r.message).toContain("sample 1");
    ds.close();
    const two = file("two.npy", Uint8Array.of(0, 1, 2, 0, 0, 0, 0, 0));
    expect(codeOf(() => openDataset({ path: two }, [ids(DataType.BOOL)]).batch(0, 1))).toBe("E_CALIB_DTYPE");
    const neg = file("neg.npy", Int8Array.of(0, 1, -1, 0, 0, 0, 0, 0));
    expect(codeOf(() => openDataset({ path: neg }, [ids(DataType.UINT64)]).batch(0, 1))).toBe("E_CALIB_DTYPE");
    const huge = file("huge.npy", Float64Array.of(1, 1e300, 0, 0, 0, 0, 0, 0));
    expect(codeOf(() => openDataset({ path: huge }, [ids(DataType.FLOAT)]).batch(0, 1))).toBe("E_CALIB_DTYPE");
    expect(codeOf(() => openDataset({ path: f }, [{ name: "s", elemType: DataType.STRING, shape: [1] }]))).toBe("E_CALIB_DTYPE");
  });

  test("NaN / Inf → E_CALIB_NONFINITE naming the sample, checked per batch", () => {
    const data = new Float32Array(4 * 4).fill(0.5);
    data[3 * 4 + 2] = Number.NaN;
    const p = join(dir, "nan.npy");
    writeNpy(p, data, [4, 4]);
    const ds = openDataset({ path: p }, [ids(DataType.FLOAT)]);
    expect(ds.batch(0, 3).ids!.dims).toEqual([3, 4]);
    const e = errorOf(() => ds.batch(2, 2));
    expect(e.code).toBe("E_CALIB_NONFINITE");
    expect(e.message).toContain("input 'ids' sample 3");
    ds.close();
    const inf = Float16Inf();
    const q = join(dir, "inf16.npy");
    writeNpy(q, inf, [2, 4], { type: DataType.FLOAT16 });
    expect(codeOf(() => openDataset({ path: q }, [ids(DataType.FLOAT)]).batch(0, 2))).toBe("E_CALIB_NONFINITE");
    expect(codeOf(() => openDataset({ path: q }, [ids(DataType.FLOAT16)]).batch(0, 2))).toBe("E_CALIB_NONFINITE");
  });
});

function Float16Inf(): Uint16Array {
  const a = Uint16Array.from({ length: 8 }, (_, i) => floatToHalf(i));
  a[6] = 0xfc00; // -Inf
  return a;
}

describe(".npz and .safetensors datasets", () => {
  const X: ModelInputInfo = { name: "x", elemType: DataType.FLOAT, shape: ["N", 3] };
  const IDS: ModelInputInfo = { name: "input_ids", elemType: DataType.INT64, shape: ["N", 2] };
  const x = Float32Array.from({ length: 12 }, (_, i) => i / 4);
  const ids = Int32Array.from({ length: 8 }, (_, i) => i * 10);

  test("npz: one array per input by name, stored and deflated", () => {
    for (const deflate of [false, true]) {
      const p = join(dir, `multi-${deflate}.npz`);
      writeFileSync(p, buildZip([{ name: "input_ids.npy", data: concat(encodeNpy(ids, [4, 2])), deflate }, { name: "x.npy", data: concat(encodeNpy(x, [4, 3])), deflate }, { name: "labels.npy", data: concat(encodeNpy(ids, [8])) }]));
      const ds = openDataset({ path: p }, [X, IDS]);
      expect(ds.count).toBe(4);
      const b = ds.batch(1, 2);
      expect(Array.from(b.x!.data as Float32Array)).toEqual([0.75, 1, 1.25, 1.5, 1.75, 2]);
      expect(Array.from(b.input_ids!.data as BigInt64Array)).toEqual([20n, 30n, 40n, 50n]);
      expect(b.input_ids!.dims).toEqual([2, 2]);
      ds.close();
    }
  });

  test("npz: arr_0 (np.savez(f, a)) feeds a single-input model; missing input → E_DATA_FORMAT; unequal counts → E_CALIB_SHAPE", () => {
    const p = join(dir, "arr0.npz");
    writeFileSync(p, buildZip([{ name: "arr_0.npy", data: concat(encodeNpy(x, [4, 3])) }, { name: "arr_1.npy", data: concat(encodeNpy(x, [12])) }]));
    const ds = openDataset({ path: p }, [X]);
    expect(ds.batch(3, 1).x!.data).toEqual(x.subarray(9));
    ds.close();
    const e = errorOf(() => openDataset({ path: p }, [X, IDS]));
    expect(e.code).toBe("E_DATA_FORMAT");
    expect(e.message).toContain("no array for input 'x'");
    const q = join(dir, "unequal.npz");
    writeFileSync(q, buildZip([{ name: "x.npy", data: concat(encodeNpy(x, [4, 3])) }, { name: "input_ids.npy", data: concat(encodeNpy(ids.subarray(0, 6), [3, 2])) }]));
    expect(codeOf(() => openDataset({ path: q }, [X, IDS]))).toBe("E_CALIB_SHAPE");
  });

  test("safetensors: one tensor per input by name", () => {
    const p = join(dir, "multi.safetensors");
    writeSafetensors(p, { input_ids: { data: BigInt64Array.from(ids, BigInt), dims: [4, 2] }, x: { data: x, dims: [4, 3] } });
    const ds = openDataset({ path: p }, [X, IDS]);
    const b = ds.batch(0, 4);
    expect(b.x!.data).toEqual(x);
    expect(Array.from(b.input_ids!.data as BigInt64Array, Number)).toEqual(Array.from(ids));
    ds.close();
  });
});

describe("random data", () => {
  const IDS: ModelInputInfo = { name: "ids", elemType: DataType.INT64, shape: ["batch", "seq"] };
  test("static shapes, deterministic, the same samples whatever the batching", () => {
    const ds = openDataset({ samples: 6, seed: 3 }, [IMAGE]);
    expect(ds.count).toBe(6);
    const all = ds.batch(0, 6).image!;
    expect(all.dims).toEqual([6, 1, 32, 32]);
    const parts = [ds.batch(0, 2).image!.data, ds.batch(2, 3).image!.data, ds.batch(5, 1).image!.data] as Float32Array[];
    const joined = new Float32Array(6 * 1024);
    joined.set(parts[0]!, 0);
    joined.set(parts[1]!, 2 * 1024);
    joined.set(parts[2]!, 5 * 1024);
    expect(all.data as Float32Array).toEqual(joined);
    expect(openDataset({ samples: 6, seed: 3 }, [IMAGE]).batch(4, 1).image!.data).toEqual((all.data as Float32Array).subarray(4 * 1024, 5 * 1024));
    expect(openDataset({ samples: 6, seed: 4 }, [IMAGE]).batch(4, 1).image!.data).not.toEqual((all.data as Float32Array).subarray(4 * 1024, 5 * 1024));
    expect(openDataset({}, [IMAGE]).count).toBe(16);
  });

  test("dynamic dims need a declared shape (E_CALIB_SHAPE); declared shapes are checked; int inputs need data unless intRange opts in", () => {
    const e = errorOf(() => openDataset({}, [{ ...IDS, elemType: DataType.FLOAT }]));
    expect(e.code).toBe("E_CALIB_SHAPE");
    expect(e.message).toContain("--shape ids=1,1");
    const req = errorOf(() => openDataset({ shapes: { ids: [1, 128] } }, [IDS]));
    expect(req.code).toBe("E_DATA_REQUIRED");
    expect(req.message).toContain("input ids (int64 [batch, seq]) needs a value: --input ids=");
    const ds = openDataset({ samples: 2, shapes: { ids: [1, 128] }, intRange: [0, 2] }, [IDS]);
    const b = ds.batch(0, 2).ids!;
    expect(b.dims).toEqual([2, 128]);
    expect(b.data).toBeInstanceOf(BigInt64Array);
    expect(new Set(Array.from(b.data as BigInt64Array))).toEqual(new Set([0n, 1n]));
    expect(codeOf(() => openDataset({ shapes: { image: [1, 3, 32, 32] } }, [IMAGE]))).toBe("E_CALIB_SHAPE");
    expect(codeOf(() => openDataset({ shapes: { other: [1, 3] } }, [IMAGE]))).toBe("E_CALIB_SHAPE");
    expect(codeOf(() => openDataset({ samples: 0 }, [IMAGE]))).toBe("E_CALIB_SAMPLES");
  });

  test("a fixed batch dim > 1 takes batches of exactly that size", () => {
    const fixed: ModelInputInfo = { name: "x", elemType: DataType.FLOAT, shape: [4, 3] };
    const ds = openDataset({ samples: 8 }, [fixed]);
    expect(ds.batch(4, 4).x!.dims).toEqual([4, 3]);
    expect(codeOf(() => ds.batch(0, 2))).toBe("E_CALIB_SHAPE");
  });
});

describe("paths", () => {
  test("missing file → E_DATA_READ; unknown extension → E_DATA_FORMAT; .npy for two inputs → E_DATA_FORMAT; folder → openDatasetAsync", () => {
    expect(codeOf(() => openDataset({ path: join(dir, "nope.npy") }, [IMAGE]))).toBe("E_DATA_READ");
    writeFileSync(join(dir, "data.csv"), "1,2,3\n");
    expect(codeOf(() => openDataset({ path: join(dir, "data.csv") }, [IMAGE]))).toBe("E_DATA_FORMAT");
    const two = [IMAGE, { ...IMAGE, name: "other" }];
    expect(codeOf(() => openDataset({ path: CALIB }, two))).toBe("E_DATA_FORMAT");
    mkdirSync(join(dir, "imgs"), { recursive: true });
    expect(codeOf(() => openDataset({ path: join(dir, "imgs") }, [IMAGE]))).toBe("E_USAGE");
    const empty = join(dir, "empty.npy");
    writeNpy(empty, new Float32Array(0), [0, 1, 32, 32]);
    expect(codeOf(() => openDataset({ path: empty }, [IMAGE]))).toBe("E_CALIB_SAMPLES");
  });
});
