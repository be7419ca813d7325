/**
 * Corrupted calibration files: bit flips, cuts, and overwritten size fields in .npy, .npz (stored and deflated) and
 * safetensors files. Opening them and reading every batch must give data or a QuantError — never another exception,
 * and never an allocation driven by a corrupt size (each case runs in bounded time, the process in bounded memory).
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type ModelInputInfo, openDataset } from "../../src/data/dataset.ts";
import { encodeNpy } from "../../src/data/npy.ts";
import { encodeSafetensors } from "../../src/data/safetensors.ts";
import { isQuantError } from "../../src/errors/errors.ts";
import { DataType } from "../../src/tensor/dtypes.ts";
import { buildZip, concat, tempDir } from "./helpers.ts";

const dir = tempDir("quant-data-fuzz-");
const X: ModelInputInfo = { name: "x", elemType: DataType.FLOAT, shape: ["N", 3, 4] };
const data = Float32Array.from({ length: 5 * 12 }, (_, i) => Math.sin(i));
const npy = concat(encodeNpy(data, [5, 3, 4]));
const files: Record<string, Uint8Array> = {
  "a.npy": npy,
  "stored.npz": buildZip([{ name: "x.npy", data: npy }]),
  "deflated.npz": buildZip([{ name: "x.npy", data: npy, deflate: true }]),
  "numpy-style.npz": buildZip([{ name: "x.npy", data: npy, deflate: true }], { zip64Local: true }),
  "a.safetensors": concat(encodeSafetensors({ x: { data, dims: [5, 3, 4] } })),
};

let n = 0;
/** Open `bytes` as `name` and read every sample: data or a QuantError, within 2 s, and no more memory than a few MB. */
function survives(name: string, bytes: Uint8Array): void {
  const path = join(dir, `${n++}-${name}`);
  writeFileSync(path, bytes);
  const t0 = performance.now();
  const rss0 = process.memoryUsage().rss;
  try {
    const ds = openDataset({ path }, [X]);
    try {
      for (let i = 0; i < ds.count; i++) ds.batch(i, 1);
    } finally {
      ds.close();
    }
  } catch (e) {
    if (!isQuantError(e)) throw new Error(`${name}: non-QuantError ${(e as Error)?.stack ?? e}`);
  }
  expect(performance.now() - t0).toBeLessThan(2000);
  expect(process.memoryUsage().rss - rss0).toBeLessThan(64 * 2 ** 20);
}

describe("corrupted calibration files", () => {
  for (const [name, bytes] of Object.entries(files)) {
    test(`${name}: intact, it reads`, () => {
      const path = join(dir, `intact-${name}`);
      writeFileSync(path, bytes);
      const ds = openDataset({ path }, [X]);
      expect(ds.count).toBe(5);
      expect(ds.batch(4, 1).x!.data).toEqual(data.subarray(48, 60));
      ds.close();
    });
    test(`${name}: bit flips`, () => {
      fc.assert(
        fc.property(fc.array(fc.tuple(fc.nat(bytes.length - 1), fc.nat(7)), { minLength: 1, maxLength: 8 }), (flips) => {
          const b = bytes.slice();
          for (const [pos, bit] of flips) b[pos]! ^= 1 << bit;
          survives(name, b);
        }),
        { numRuns: 60, seed: 11 },
      );
    });
    test(`${name}: cuts`, () => {
      fc.assert(fc.property(fc.nat(bytes.length - 1), (cut) => survives(name, bytes.subarray(0, cut))), { numRuns: 40, seed: 12 });
    });
    test(`${name}: 4-byte words overwritten with huge or negative sizes`, () => {
      fc.assert(
        fc.property(fc.nat(bytes.length - 4), fc.constantFrom(0xffffffff, 0xfffffffe, 0x7fffffff, 0x80000000, 1e9, 0), (at, v) => {
          const b = bytes.slice();
          new DataView(b.buffer).setUint32(at, v, true);
          survives(name, b);
        }),
        { numRuns: 80, seed: 13 },
      );
    });
  }
});
