/**
 * Multi-input data: per-input batch axes (given or inferred), the five data layouts, values given per input,
 * folders of <input>.npy files, and which inputs random data may stand for. Values are checked exactly.
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { layoutOf, type ModelInputInfo, openDataset } from "../../src/data/dataset.ts";
import { fitData, inferBatchAxis } from "../../src/data/layout.ts";
import { encodeNpy, writeNpy } from "../../src/data/npy.ts";
import { parseInputFlags } from "../../src/data/values.ts";
import { isQuantError } from "../../src/errors/errors.ts";
import { DataType } from "../../src/tensor/dtypes.ts";
import { buildZip, codeOf, concat, tempDir } from "./helpers.ts";

const dir = tempDir();
const H = 3;
const AUDIO: ModelInputInfo = { name: "input", elemType: DataType.FLOAT, shape: ["batch", 4] };
const STATE: ModelInputInfo = { name: "h", elemType: DataType.FLOAT, shape: [2, "batch", H] };
const SR: ModelInputInfo = { name: "sr", elemType: DataType.INT64, shape: [] };
const VAD = [AUDIO, STATE, SR];
const iota = (n: number, from = 0) => Float32Array.from({ length: n }, (_, i) => from + i);

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (isQuantError(e)) return `${e.code}: ${e.message}`;
    throw e;
  }
  throw new Error("nothing thrown");
}

/** Element [d, n, k] of a C-order [2, N, H] state. */
const stateAt = (N: number) => (d: number, n: number, k: number) => (d * N + n) * H + k;

describe("batch axis inference", () => {
  test("a batch-named dim, a dim shared with another input's leading dim, none for scalars, else 0", () => {
    expect(inferBatchAxis(STATE, VAD)).toBe(1);
    expect(inferBatchAxis(SR, VAD)).toBeNull();
    const a: ModelInputInfo = { name: "a", elemType: DataType.FLOAT, shape: ["unk__0", 64] };
    const s: ModelInputInfo = { name: "s", elemType: DataType.FLOAT, shape: [2, "unk__0", 128] };
    expect(inferBatchAxis(s, [a, s])).toBe(1);
    expect(inferBatchAxis(a, [a, s])).toBe(0);
    expect(inferBatchAxis({ name: "x", elemType: DataType.FLOAT, shape: [8, "d1"] }, [a])).toBe(0);
    expect(inferBatchAxis({ name: "x", elemType: DataType.FLOAT, shape: ["seq", "batch_size", 8] }, [])).toBe(1);
  });

  test("five layouts; a fully static shape matched exactly is a constant; one other axis when the guess does not fit", () => {
    expect(fitData(STATE, [2, 7, H], undefined, 1)).toEqual({ kind: "samples", batchAxis: 1, count: 7, sampleDims: [2, H] });
    expect(fitData(STATE, [7, 2, 1, H], undefined, 1)).toEqual({ kind: "rows", batchAxis: 1, count: 7, sampleDims: [2, H], perRow: 1 });
    expect(fitData(STATE, [2, H], undefined, 1)).toEqual({ kind: "one", batchAxis: 1, count: undefined, sampleDims: [2, H] });
    expect(fitData(SR, [], undefined, null)).toEqual({ kind: "constant", batchAxis: null, count: undefined, sampleDims: [] });
    expect(fitData(SR, [5], undefined, null)).toEqual({ kind: "rows", batchAxis: null, count: 5, sampleDims: [] });
    const fixed: ModelInputInfo = { name: "h", elemType: DataType.FLOAT, shape: [2, 1, H] };
    expect(fitData(fixed, [2, 1, H], undefined, 0).kind).toBe("constant");
    // Inferred axis 0 of [2, 1, 3] cannot hold [2, 9, 3]; axis 1 (declared 1) can.
    expect(fitData(fixed, [2, 9, H], undefined, 0)).toEqual({ kind: "samples", batchAxis: 1, count: 9, sampleDims: [2, H] });
    // Given axes are not second-guessed, and the error says which layouts would fit.
    const m = messageOf(() => fitData(STATE, [7, 2, H], 1, 1, "calib.npz"));
    expect(m).toBe(
      "E_CALIB_SHAPE: input 'h' expects [2, N, 3] (samples along axis 1), one per row [N, 2, 1, 3] or one sample [2, 3], got [7, 2, 3]; if the samples run along another axis, say so with --sample-axis h=AXIS",
    );
    expect(codeOf(() => fitData(STATE, [2, 7, H], 3, 1))).toBe("E_USAGE");
    expect(codeOf(() => fitData(SR, [2, 2], undefined, null))).toBe("E_CALIB_SHAPE");
  });
});

describe("datasets over several inputs", () => {
  const N = 5;
  const audio = iota(N * 4, 100);
  const state = iota(2 * N * H);
  const npz = join(dir, "vad.npz");
  writeFileSync(npz, buildZip([
    { name: "input.npy", data: concat(encodeNpy(audio, [N, 4])) },
    { name: "h.npy", data: concat(encodeNpy(state, [2, N, H])) },
    { name: "sr.npy", data: concat(encodeNpy(BigInt64Array.of(16000n), [])), deflate: true },
  ]));

  test(".npz by input name: the state's samples on axis 1 (batches stacked there), a scalar fed as-is", () => {
    const ds = openDataset({ path: npz }, VAD);
    expect(ds.count).toBe(N);
    expect(layoutOf(ds, "h")).toEqual({ batchAxis: 1, varies: true });
    expect(layoutOf(ds, "sr")).toEqual({ batchAxis: null, varies: false });
    const b = ds.batch(1, 3);
    expect(b.input!.dims).toEqual([3, 4]);
    expect(Array.from(b.input!.data as Float32Array)).toEqual(Array.from(audio.subarray(4, 16)));
    expect(b.h!.dims).toEqual([2, 3, H]);
    const at = stateAt(N);
    const want: number[] = [];
    for (let d = 0; d < 2; d++) for (let n = 1; n < 4; n++) for (let k = 0; k < H; k++) want.push(state[at(d, n, k)]!);
    expect(Array.from(b.h!.data as Float32Array)).toEqual(want);
    expect(b.sr!.dims).toEqual([]);
    expect(Array.from(b.sr!.data as BigInt64Array)).toEqual([16000n]);
    // The constant is reused as it is: a released batch never hands it out to be overwritten.
    ds.release!(b);
    const again = ds.batch(0, 3);
    expect(again.sr!.data).toBe(b.sr!.data);
    expect(Array.from(again.sr!.data as BigInt64Array)).toEqual([16000n]);
    expect(ds.describe!()).toEqual([
      `input 'input' [batch, 4]: 5 samples along axis 0, from ${npz}`,
      `input 'h' [2, batch, 3]: 5 samples along axis 1, from ${npz}`,
      `input 'sr' []: one value [] fed as-is to every run, from ${npz}`,
    ]);
    ds.close();
  });

  test("a folder of <input>.npy: rows moved onto the batch axis, Fortran order on axis 1, per-sample scalars one at a time", () => {
    const folder = join(dir, "vad");
    mkdirSync(folder, { recursive: true });
    writeNpy(join(folder, "input.npy"), audio, [N, 4], { fortran: true });
    // Rows [N, 2, 1, H]: row n is sample n's state in the model's layout.
    const rows = new Float32Array(N * 2 * H);
    const at = stateAt(N);
    for (let n = 0; n < N; n++) for (let d = 0; d < 2; d++) for (let k = 0; k < H; k++) rows[(n * 2 + d) * H + k] = state[at(d, n, k)]!;
    writeNpy(join(folder, "h.npy"), rows, [N, 2, 1, H]);
    writeNpy(join(folder, "sr.npy"), BigInt64Array.from({ length: N }, (_, i) => BigInt(8000 * (1 + (i % 2)))), [N]);
    writeNpy(join(folder, "labels.npy"), iota(N), [N]);
    const ds = openDataset({ path: folder }, VAD);
    expect(ds.count).toBe(N);
    expect(layoutOf(ds, "sr")).toEqual({ batchAxis: null, varies: true });
    expect(Array.from(ds.batch(3, 1).sr!.data as BigInt64Array)).toEqual([16000n]);
    expect(ds.batch(3, 1).sr!.dims).toEqual([]);
    expect(codeOf(() => ds.batch(0, 2))).toBe("E_CALIB_SHAPE");
    ds.close();
    // Without the per-sample scalar, batches of 3 stack the rows on axis 1: the same values as the [2, N, H] file.
    const two = openDataset({ path: folder, inputs: { sr: 16000 } }, VAD);
    const ref = openDataset({ path: npz }, VAD);
    for (const name of ["input", "h"]) {
      expect(two.batch(1, 3)[name]!.dims).toEqual(ref.batch(1, 3)[name]!.dims);
      expect(Array.from(two.batch(1, 3)[name]!.data as Float32Array)).toEqual(Array.from(ref.batch(1, 3)[name]!.data as Float32Array));
    }
    two.close();
    ref.close();
    // A state stored Fortran-order with samples on axis 1.
    const f = join(dir, "fortran");
    mkdirSync(f, { recursive: true });
    writeNpy(join(f, "input.npy"), audio, [N, 4]);
    writeNpy(join(f, "h.npy"), state, [2, N, H], { fortran: true, bigEndian: true });
    const fd = openDataset({ path: f, inputs: { sr: 16000n } }, VAD);
    const want: number[] = [];
    for (let d = 0; d < 2; d++) for (let n = 2; n < 5; n++) for (let k = 0; k < H; k++) want.push(state[at(d, n, k)]!);
    expect(Array.from(fd.batch(2, 3).h!.data as Float32Array)).toEqual(want);
    fd.close();
    const missing = join(dir, "missing");
    mkdirSync(missing, { recursive: true });
    writeNpy(join(missing, "input.npy"), audio, [N, 4]);
    expect(messageOf(() => openDataset({ path: missing }, VAD))).toBe(
      "E_DATA_FORMAT: missing has no h.npy, sr.npy (found: input.npy); name each file after its input, or give it with --input NAME=VALUE",
    );
  });

  test("values per input: one sample repeated on the batch axis, library arrays, scalars checked against the input type", () => {
    const one = iota(2 * H, 50);
    const ds = openDataset({ inputs: { input: { dims: [N, 4], data: audio }, h: { shape: [2, H], data: one }, sr: 16000 } }, VAD);
    expect(ds.count).toBe(N);
    expect(layoutOf(ds, "h")).toEqual({ batchAxis: 1, varies: false });
    const b = ds.batch(0, 2);
    expect(b.h!.dims).toEqual([2, 2, H]);
    expect(Array.from(b.h!.data as Float32Array)).toEqual([50, 51, 52, 50, 51, 52, 53, 54, 55, 53, 54, 55]);
    ds.close();
    expect(messageOf(() => openDataset({ inputs: { input: iota(4), sr: 0.5 } }, [AUDIO, SR]))).toContain("E_CALIB_DTYPE: input 'sr': float data (DOUBLE) for integer input");
    expect(codeOf(() => openDataset({ inputs: { input: { shape: [N, 4], data: audio, stride: [1, N] } } }, [AUDIO]))).toBe("E_DATA_FORMAT");
    expect(codeOf(() => openDataset({ inputs: { input: { dims: [N, 5], data: audio } } }, [AUDIO]))).toBe("E_DATA_FORMAT");
    expect(codeOf(() => openDataset({ inputs: { nope: 1 } }, [AUDIO]))).toBe("E_USAGE");
    expect(codeOf(() => openDataset({ path: npz, inputs: { input: audio, h: one, sr: 1 } }, VAD))).toBe("E_USAGE");
    expect(parseInputFlags(["sr=16000", "mask=1,0,1", "flag=true", "t=0.5", "big=9007199254740993"])).toEqual({
      sr: 16000,
      mask: [1, 0, 1],
      flag: true,
      t: 0.5,
      big: 9007199254740993n,
    });
    expect(codeOf(() => parseInputFlags(["sr"]))).toBe("E_USAGE");
    expect(codeOf(() => parseInputFlags(["sr=abc"]))).toBe("E_USAGE");
  });

  test("random data: float inputs on their batch axis, sample-wise the same whatever the batching; scalars and ints need values", () => {
    expect(messageOf(() => openDataset({}, VAD))).toBe(
      "E_DATA_REQUIRED: input sr (int64 scalar) needs a value: --input sr=... (or an array 'sr' in --data); a scalar input is a setting (a sample rate, a threshold, a step), not noise",
    );
    const ds = openDataset({ samples: 4, inputs: { sr: 16000 } }, VAD);
    expect(ds.count).toBe(4);
    const all = ds.batch(0, 4).h!;
    expect(all.dims).toEqual([2, 4, H]);
    const s2 = ds.batch(2, 1).h!.data as Float32Array;
    const a = all.data as Float32Array;
    // Sample 2 of the batch of 4 is [d, 2, :] for both directions.
    expect(Array.from(s2)).toEqual([...a.subarray(2 * H, 3 * H), ...a.subarray((4 + 2) * H, (4 + 3) * H)]);
    ds.close();
    const ids: ModelInputInfo = { name: "ids", elemType: DataType.INT64, shape: ["batch", 8] };
    expect(codeOf(() => openDataset({}, [ids]))).toBe("E_DATA_REQUIRED");
    expect(codeOf(() => openDataset({}, [{ name: "t", elemType: DataType.FLOAT, shape: [] }]))).toBe("E_DATA_REQUIRED");
  });

  test("counts agree by moving an inferred axis only when exactly one choice works; given axes and batch names stay", () => {
    const a: ModelInputInfo = { name: "a", elemType: DataType.FLOAT, shape: ["d0", 8] };
    const b: ModelInputInfo = { name: "b", elemType: DataType.FLOAT, shape: [8, "d1"] };
    const p = join(dir, "ab.npz");
    const bData = iota(8 * 12);
    writeFileSync(p, buildZip([{ name: "a.npy", data: concat(encodeNpy(iota(12 * 8), [12, 8])) }, { name: "b.npy", data: concat(encodeNpy(bData, [8, 12])) }]));
    const ds = openDataset({ path: p }, [a, b]);
    expect(ds.count).toBe(12);
    expect(layoutOf(ds, "b")).toEqual({ batchAxis: 1, varies: true });
    expect(Array.from(ds.batch(5, 1).b!.data as Float32Array)).toEqual(Array.from({ length: 8 }, (_, r) => r * 12 + 5));
    ds.close();
    expect(openDataset({ path: p, sampleAxis: { b: 1 } }, [a, b]).count).toBe(12);
    expect(messageOf(() => openDataset({ path: p, sampleAxis: { b: 0 } }, [a, b]))).toBe(
      `E_CALIB_SHAPE: inputs have different sample counts: 'a' has 12 along axis 0, 'b' has 8 along axis 0; if the samples of an input run along another axis, say so with --sample-axis NAME=AXIS`,
    );
    const named: ModelInputInfo = { name: "b", elemType: DataType.FLOAT, shape: ["batch", "seq"] };
    expect(codeOf(() => openDataset({ path: p }, [a, named]))).toBe("E_CALIB_SHAPE");
  });
});

test("random data asks for every input it cannot stand for in one error", () => {
  const ids: ModelInputInfo = { name: "input_ids", elemType: DataType.INT64, shape: ["batch", "seq"] };
  const mask: ModelInputInfo = { name: "attention_mask", elemType: DataType.BOOL, shape: ["batch", "seq"] };
  const emb: ModelInputInfo = { name: "emb", elemType: DataType.FLOAT, shape: ["batch", 4] };
  expect(messageOf(() => openDataset({}, [emb, ids, mask]))).toBe(
    "E_DATA_REQUIRED: input input_ids (int64 [batch, seq]) needs a value: --input input_ids=... (or an array 'input_ids' in --data); random integers are not valid token ids, masks or indices; also without a value: attention_mask (bool [batch, seq])",
  );
});

test("one number fills a sample of a tensor input (--input h=0); a .npy path per input", () => {
  const p = join(dir, "audio.npy");
  writeNpy(p, iota(3 * 4), [3, 4]);
  const ds = openDataset({ inputs: { input: p, h: 0.25, sr: 16000 } }, VAD);
  expect(ds.count).toBe(3);
  const b = ds.batch(1, 2);
  expect(b.h!.dims).toEqual([2, 2, H]);
  expect(Array.from(b.h!.data as Float32Array)).toEqual(new Array(2 * 2 * H).fill(0.25));
  expect(Array.from(b.input!.data as Float32Array)).toEqual([4, 5, 6, 7, 8, 9, 10, 11]);
  ds.close();
  const fixed: ModelInputInfo = { name: "h", elemType: DataType.FLOAT, shape: [2, 1, H] };
  expect(fitData(fixed, [], undefined, 0)).toEqual({ kind: "constant", batchAxis: null, count: undefined, sampleDims: [2, 1, H] });
  expect(codeOf(() => openDataset({ inputs: { input: 0 } }, [{ name: "input", elemType: DataType.FLOAT, shape: ["batch", "T"] }]))).toBe("E_CALIB_SHAPE");
});

describe("reading along any axis", () => {
  /** Reference: the sub-array [.., start:start+count, ..] on `axis` of a C-order array, element by element. */
  function reference(data: Float32Array, shape: number[], axis: number, start: number, count: number): number[] {
    const out: number[] = [];
    const dims = shape.slice();
    dims[axis] = count;
    const total = dims.reduce((a, b) => a * b, 1);
    for (let i = 0; i < total; i++) {
      let rem = i;
      let src = 0;
      let stride = 1;
      for (let k = shape.length - 1; k >= 0; k--) {
        let idx = rem % dims[k]!;
        rem = Math.floor(rem / dims[k]!);
        if (k === axis) idx += start;
        src += idx * stride;
        stride *= shape[k]!;
      }
      out.push(data[src]!);
    }
    return out;
  }

  test("every axis of rank-1..4 arrays, C and Fortran order, little and big endian: exact values", () => {
    const shapes = [[7], [3, 5], [2, 4, 3], [2, 3, 4, 5]];
    let checked = 0;
    for (const shape of shapes) {
      const n = shape.reduce((a, b) => a * b, 1);
      const data = Float32Array.from({ length: n }, (_, i) => i * 1.5 - 7);
      for (const order of [{}, { fortran: true }, { fortran: true, bigEndian: true }, { bigEndian: true }]) {
        const p = join(dir, `axes-${shape.join("x")}-${JSON.stringify(order).replace(/\W/g, "")}.npy`);
        writeNpy(p, data, shape, order);
        for (let axis = 0; axis < shape.length; axis++) {
          const want = shape.map((d) => d as number | string | null);
          want[axis] = "batch";
          const input: ModelInputInfo = { name: "x", elemType: DataType.FLOAT, shape: want };
          const ds = openDataset({ inputs: { x: p }, sampleAxis: { x: axis } }, [input]);
          expect(ds.count).toBe(shape[axis]!);
          for (const [start, count] of [[0, 1], [1, Math.max(1, shape[axis]! - 2)], [shape[axis]! - 1, 1]] as const) {
            const b = ds.batch(start, count).x!;
            const dims = shape.slice();
            dims[axis] = count;
            expect(b.dims).toEqual(dims);
            expect(Array.from(b.data as Float32Array)).toEqual(reference(data, shape, axis, start, count));
            checked++;
          }
          ds.close();
        }
      }
    }
    expect(checked).toBe(4 * 3 * (1 + 2 + 3 + 4));
  });

  test("rows of a state with a fixed batch of 1 ([2, 1, H]) fit on axis 1 even though axis 0 was the guess", () => {
    const fixed: ModelInputInfo = { name: "h", elemType: DataType.FLOAT, shape: [2, 1, H] };
    expect(fitData(fixed, [6, 2, 1, H], undefined, 0)).toEqual({ kind: "rows", batchAxis: 1, count: 6, sampleDims: [2, H], perRow: 1 });
  });
});

test("a state [2, ?, 128] with unknown dims (as Silero VAD v5 declares it) infers axis 1; [1, ?] keeps axis 0", () => {
  const state: ModelInputInfo = { name: "state", elemType: DataType.FLOAT, shape: [2, null, 128] };
  const audio: ModelInputInfo = { name: "input", elemType: DataType.FLOAT, shape: [null, null] };
  expect(inferBatchAxis(state, [audio, state])).toBe(1);
  expect(inferBatchAxis(audio, [audio, state])).toBe(0);
  expect(inferBatchAxis({ name: "x", elemType: DataType.FLOAT, shape: [1, null] }, [])).toBe(0);
  const ds = openDataset({ samples: 3, shapes: { input: [1, 512] }, inputs: { sr: 16000 } }, [audio, state, SR]);
  expect(ds.batch(0, 3).state!.dims).toEqual([2, 3, 128]);
  expect(ds.batch(0, 3).input!.dims).toEqual([3, 512]);
  ds.close();
});

test("a folder of images feeds the image input; the model's other inputs take values", async () => {
  const { default: sharp } = await import("sharp");
  const { openDatasetAsync } = await import("../../src/data/dataset.ts");
  const imgs = join(dir, "imgs");
  mkdirSync(imgs, { recursive: true });
  for (let i = 0; i < 3; i++) {
    const px = Uint8Array.from({ length: 8 * 8 * 3 }, (_, k) => (k * (i + 3)) % 256);
    await sharp(px, { raw: { width: 8, height: 8, channels: 3 } }).png().toFile(join(imgs, `${i}.png`));
  }
  const image: ModelInputInfo = { name: "image", elemType: DataType.FLOAT, shape: ["batch", 3, 8, 8] };
  const gain: ModelInputInfo = { name: "gain", elemType: DataType.FLOAT, shape: [] };
  const ds = await openDatasetAsync({ path: imgs, inputs: { gain: 0.5 }, images: { preset: "unit" } }, [image, gain]);
  expect(ds.count).toBe(3);
  const b = ds.batch(2, 1);
  expect(b.image!.dims).toEqual([1, 3, 8, 8]);
  // unit preset: pixel / 255, NCHW; pixel (0,0) channel 0 of image 2 is 0, channel 1 is 5.
  expect((b.image!.data as Float32Array)[0]).toBe(0);
  expect((b.image!.data as Float32Array)[64]).toBe(Math.fround(5 / 255));
  expect(Array.from(b.gain!.data as Float32Array)).toEqual([0.5]);
  ds.close();
  const e = await (async () => {
    try {
      await openDatasetAsync({ path: imgs, images: { preset: "unit" } }, [image, gain]);
    } catch (err) {
      return (err as Error).message;
    }
    return "";
  })();
  expect(e).toContain("a folder of images feeds one input, the model has 2 without a value (image, gain): give the others with --input NAME=VALUE");
});

test("rows of a model exported with a fixed batch may each hold a whole batch", () => {
  const ids: ModelInputInfo = { name: "ids", elemType: DataType.INT64, shape: [2, 8] };
  const rows = BigInt64Array.from({ length: 3 * 2 * 8 }, (_, i) => BigInt(i));
  const ds = openDataset({ inputs: { ids: { dims: [3, 2, 8], data: rows } } }, [ids]);
  expect(ds.count).toBe(6);
  expect(ds.describe!()).toEqual(["input 'ids' [2, 8]: 6 samples, 2 (a whole batch) per row (batch axis 0), from the value of ids"]);
  const b = ds.batch(2, 2).ids!;
  expect(b.dims).toEqual([2, 8]);
  expect(Array.from(b.data as BigInt64Array)).toEqual(Array.from(rows.subarray(16, 32)));
  expect(codeOf(() => ds.batch(1, 2))).toBe("E_CALIB_SHAPE");
  ds.close();
});
