import { describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { type ModelInputInfo, openDatasetAsync } from "../../src/data/dataset.ts";
import { listImages, loadImage, resolveImageOptions } from "../../src/data/images.ts";
import { DataType } from "../../src/tensor/dtypes.ts";
import { codeOfAsync, tempDir } from "./helpers.ts";

const dir = tempDir();

/** Write an 8-bit PNG from interleaved pixels. */
async function png(path: string, px: Uint8Array, width: number, height: number, channels: 1 | 3 | 4): Promise<string> {
  await sharp(px, { raw: { width, height, channels } }).png().toFile(path);
  return path;
}
const pattern = (n: number, mul: number, add = 0) => Uint8Array.from({ length: n }, (_, i) => (i * mul + add) % 256);
const norm = (p: number, m: number, s: number) => Math.fround((p * (1 / 255) - m) / s);

describe("preprocessing", () => {
  test("center crop (no resize needed), mean/std per channel, NCHW and NHWC", async () => {
    // 4 wide, 6 high RGB: shorter side 4 = resize → no resampling; crop 4x4 starts at row round(2/2) = 1.
    const px = pattern(4 * 6 * 3, 37, 11);
    const p = await png(join(dir, "rgb.png"), px, 4, 6, 3);
    const mean = [0.5, 0.25, 0];
    const std = [0.5, 0.125, 1];
    for (const layout of ["NCHW", "NHWC"] as const) {
      const o = resolveImageOptions({ resize: 4, crop: 4, mean, std, layout });
      const out = new Float32Array(48);
      await loadImage(p, o, out);
      for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) for (let c = 0; c < 3; c++) {
        const src = px[((y + 1) * 4 + x) * 3 + c]!;
        const at = layout === "NCHW" ? c * 16 + y * 4 + x : (y * 4 + x) * 3 + c;
        expect(out[at]).toBe(norm(src, mean[c]!, std[c]!));
      }
    }
  });

  test("grayscale: ITU-R 601 weights on RGB sources, as is for gray sources; gray → RGB replicates", async () => {
    const px = pattern(3 * 3 * 3, 53, 5);
    const rgb = await png(join(dir, "g-rgb.png"), px, 3, 3, 3);
    const o = resolveImageOptions({ crop: 3, channels: 1, preset: "unit" });
    const out = new Float32Array(9);
    await loadImage(rgb, o, out);
    for (let i = 0; i < 9; i++) expect(out[i]).toBe(Math.fround((0.299 * px[3 * i]! + 0.587 * px[3 * i + 1]! + 0.114 * px[3 * i + 2]!) * (1 / 255)));
    const g = pattern(9, 29, 3);
    const gray = await png(join(dir, "g-gray.png"), g, 3, 3, 1);
    await loadImage(gray, o, out);
    expect(Array.from(out)).toEqual(Array.from(g, (v) => norm(v, 0, 1)));
    const out3 = new Float32Array(27);
    await loadImage(gray, resolveImageOptions({ crop: 3, channels: 3, preset: "unit" }), out3);
    for (let c = 0; c < 3; c++) expect(Array.from(out3.subarray(c * 9, c * 9 + 9))).toEqual(Array.from(g, (v) => norm(v, 0, 1)));
    // RGBA: alpha is dropped, not composited (as PIL's convert("RGB")).
    const rgba = pattern(2 * 2 * 4, 61, 7);
    const pa = await png(join(dir, "rgba.png"), rgba, 2, 2, 4);
    const o4 = new Float32Array(12);
    await loadImage(pa, resolveImageOptions({ crop: 2, resize: 0, preset: "unit" }), o4);
    expect(o4[0]).toBe(norm(rgba[0]!, 0, 1));
    expect(o4[4 + 3]).toBe(norm(rgba[3 * 4 + 1]!, 0, 1));
  });

  test("resize: shorter side, longer side truncated like torchvision, crop offsets rounded half-to-even", async () => {
    // 30x20 → shorter side 10 → 15x10. Crop 6x10 (h x w): left = round(2.5) = 2, top = round(2) = 2.
    const px = pattern(30 * 20 * 3, 7, 1);
    const p = await png(join(dir, "big.png"), px, 30, 20, 3);
    const ref = await sharp(p).resize({ width: 15, height: 10, fit: "fill", kernel: "linear" }).raw().toBuffer();
    const o = resolveImageOptions({ resize: 10, crop: [6, 10], preset: "unit", layout: "NHWC" });
    const out = new Float32Array(6 * 10 * 3);
    await loadImage(p, o, out);
    for (let y = 0; y < 6; y++) for (let x = 0; x < 10; x++) for (let c = 0; c < 3; c++) {
      expect(out[(y * 10 + x) * 3 + c]).toBe(norm(ref[((y + 2) * 15 + x + 2) * 3 + c]!, 0, 1));
    }
    // Crop width 8: left = round(3.5) = 4.
    const out8 = new Float32Array(6 * 8 * 3);
    await loadImage(p, resolveImageOptions({ resize: 10, crop: [6, 8], preset: "unit", layout: "NHWC" }), out8);
    expect(out8[0]).toBe(norm(ref[(2 * 15 + 4) * 3]!, 0, 1));
    expect(out8[1]).toBe(norm(ref[(2 * 15 + 4) * 3 + 1]!, 0, 1));
  });

  test("imagenet preset on a uniform 300x260 image: [1, 3, 224, 224] with exact mean/std values", async () => {
    const px = new Uint8Array(300 * 260 * 3);
    for (let i = 0; i < px.length; i += 3) px.set([200, 100, 50], i);
    const folder = join(dir, "imagenet");
    mkdirSync(folder);
    await png(join(folder, "a.png"), px, 300, 260, 3);
    const ds = await openDatasetAsync({ path: folder, images: { preset: "imagenet" } }, [{ name: "input", elemType: DataType.FLOAT, shape: ["N", 3, 224, 224] }]);
    const b = ds.batch(0, 1).input!;
    expect(b.dims).toEqual([1, 3, 224, 224]);
    const d = b.data as Float32Array;
    const want = [norm(200, 0.485, 0.229), norm(100, 0.456, 0.224), norm(50, 0.406, 0.225)];
    for (let c = 0; c < 3; c++) for (const i of [0, 1000, 50175]) expect(d[c * 50176 + i]).toBe(want[c]!);
    ds.close();
  });
});

describe("folders", () => {
  const DIGITS: ModelInputInfo = { name: "image", elemType: DataType.FLOAT, shape: ["N", 1, 8, 8] };
  test("sorted order (sub-folders included, hidden and non-image files skipped), size from the model, temp file removed", async () => {
    const folder = join(dir, "set");
    mkdirSync(join(folder, "sub"), { recursive: true });
    mkdirSync(join(folder, ".cache"), { recursive: true });
    const names = ["b.png", "a.png", "sub/c.png", ".hidden.png", ".cache/d.png"];
    for (let k = 0; k < names.length; k++) await png(join(folder, names[k]!), new Uint8Array(64).fill(10 * (k + 1)), 8, 8, 1);
    writeFileSync(join(folder, "notes.txt"), "not an image");
    expect(listImages(folder).map((p) => p.slice(folder.length + 1))).toEqual(["a.png", "b.png", "sub/c.png"]);
    const temps = () => readdirSync(tmpdir()).filter((n) => n.startsWith("quant-images-")).length;
    const before = temps();
    const seen: number[] = [];
    const ds = await openDatasetAsync({ path: folder, images: { preset: "unit" }, onProgress: (done) => seen.push(done) }, [DIGITS]);
    expect(temps()).toBe(before + 1);
    expect(ds.count).toBe(3);
    expect(seen.at(-1)).toBe(3);
    const b = ds.batch(0, 3).image!;
    expect(b.dims).toEqual([3, 1, 8, 8]);
    expect([b.data[0], b.data[64], b.data[128]]).toEqual([norm(20, 0, 1), norm(10, 0, 1), norm(30, 0, 1)]);
    ds.close();
    expect(temps()).toBe(before);
    const two = await openDatasetAsync({ path: folder, samples: 2, images: { preset: "unit" } }, [DIGITS]);
    expect(two.count).toBe(2);
    two.close();
    // More than the folder holds is an error, not a quiet three.
    expect(await codeOfAsync(() => openDatasetAsync({ path: folder, samples: 4, images: { preset: "unit" } }, [DIGITS]))).toBe("E_CALIB_SAMPLES");
  });

  test("a uint8 image input gets the raw pixels (NHWC from the model shape), no normalization", async () => {
    const folder = join(dir, "u8");
    mkdirSync(folder);
    const px = pattern(4 * 4 * 3, 41, 9);
    await png(join(folder, "p.png"), px, 4, 4, 3);
    const ds = await openDatasetAsync({ path: folder }, [{ name: "pixels", elemType: DataType.UINT8, shape: ["N", 4, 4, 3] }]);
    const b = ds.batch(0, 1).pixels!;
    expect(b.dims).toEqual([1, 4, 4, 3]);
    expect(b.data).toEqual(px);
    ds.close();
    // Grayscale into uint8 rounds like PIL: (R*19595 + G*38470 + B*7471 + 0x8000) >> 16.
    const g = await openDatasetAsync({ path: folder }, [{ name: "g", elemType: DataType.UINT8, shape: ["N", 1, 4, 4] }]);
    const gd = g.batch(0, 1).g!.data as Uint8Array;
    for (let i = 0; i < 16; i++) expect(gd[i]).toBe((px[3 * i]! * 19595 + px[3 * i + 1]! * 38470 + px[3 * i + 2]! * 7471 + 0x8000) >> 16);
    g.close();
  });

  test("errors: corrupt image → E_DATA_FORMAT, empty folder → E_CALIB_SAMPLES, size mismatch → E_CALIB_SHAPE, bad options → E_USAGE", async () => {
    const bad = join(dir, "bad");
    mkdirSync(bad);
    writeFileSync(join(bad, "x.png"), "this is not a png");
    await expect(openDatasetAsync({ path: bad, images: { preset: "unit" } }, [DIGITS])).rejects.toThrow(/x\.png/);
    expect(await codeOfAsync(() => openDatasetAsync({ path: bad, images: { preset: "unit" } }, [DIGITS]))).toBe("E_DATA_FORMAT");
    const empty = join(dir, "none");
    mkdirSync(empty);
    expect(await codeOfAsync(() => openDatasetAsync({ path: empty }, [DIGITS]))).toBe("E_CALIB_SAMPLES");
    expect(await codeOfAsync(() => openDatasetAsync({ path: empty, images: { preset: "imagenet" } }, [DIGITS]))).toBe("E_CALIB_SHAPE");
    expect(await codeOfAsync(() => openDatasetAsync({ path: empty, images: { preset: "nope" } }, [DIGITS]))).toBe("E_USAGE");
    expect(await codeOfAsync(() => openDatasetAsync({ path: empty, images: { mean: [1, 2] } }, [DIGITS]))).toBe("E_USAGE");
    const small = join(dir, "small");
    mkdirSync(small);
    await png(join(small, "s.png"), new Uint8Array(16), 4, 4, 1);
    expect(await codeOfAsync(() => openDatasetAsync({ path: small, images: { resize: 0 } }, [DIGITS]))).toBe("E_CALIB_SHAPE");
    const dyn: ModelInputInfo = { name: "image", elemType: DataType.FLOAT, shape: ["N", 3, "H", "W"] };
    expect(await codeOfAsync(() => openDatasetAsync({ path: small }, [dyn]))).toBe("E_USAGE");
  });
});
