/**
 * A folder of images → float tensors, torchvision-style: resize the shorter side, center crop,
 * scale to [0, 1], subtract mean and divide by std per channel, NCHW or NHWC, RGB or grayscale.
 * Decoding uses sharp (libvips). Files are taken in sorted order of their relative paths
 * (sub-folders included), so the same folder always gives the same samples.
 * Grayscale is computed here with ITU-R 601 weights on the decoded 8-bit RGB (what PIL's
 * `convert("L")` does) rather than libvips' colorimetric grey, to match torchvision pipelines.
 */
import { closeSync, openSync, readSync, readdirSync, statSync, writeSync } from "node:fs";
import { fileKind, openRegularFile } from "../io/files.ts";
import { basename, join, relative } from "node:path";
import { QuantError, reason } from "../errors/errors.ts";
import { DataType } from "../tensor/dtypes.ts";
import { npyHeaderBytes } from "./npy.ts";

/** Image preprocessing options; unset fields come from the preset, then from the model input's shape. */
export interface ImageOptions {
  /** Named preset, e.g. `imagenet`. */
  preset?: string;
  /** Resize so the shorter side is this many pixels (0 = keep the size). */
  resize?: number;
  /** Center crop to `size` or `[height, width]`. */
  crop?: number | [number, number];
  /** Per-channel mean, applied after scaling (one value, or one per channel). */
  mean?: number[];
  /** Per-channel std. */
  std?: number[];
  /** Multiplier applied to 0..255 pixel values before mean/std (default 1/255). */
  scale?: number;
  layout?: "NCHW" | "NHWC";
  /** 3 = RGB, 1 = grayscale. */
  channels?: 1 | 3;
  /** sharp resampling kernel (default `linear`, close to torchvision's antialiased bilinear). */
  kernel?: "nearest" | "linear" | "cubic" | "mitchell" | "lanczos2" | "lanczos3";
}

/** Fully resolved image options. */
export interface ResolvedImageOptions {
  resize: number;
  crop: [number, number];
  mean: number[];
  std: number[];
  scale: number;
  layout: "NCHW" | "NHWC";
  channels: 1 | 3;
  kernel: NonNullable<ImageOptions["kernel"]>;
}

/** Built-in presets (a preset is just options). */
export const IMAGE_PRESETS: Readonly<Record<string, ImageOptions>> = {
  /** torchvision ImageNet classification eval transform. */
  imagenet: { resize: 256, crop: 224, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], layout: "NCHW", channels: 3 },
  /** Inception-style: 299 crop from 342, scaled to [-1, 1]. */
  inception: { resize: 342, crop: 299, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], layout: "NCHW", channels: 3 },
  /** Pixels scaled to [0, 1], nothing else. */
  unit: { mean: [0], std: [1] },
};

type Sharp = typeof import("sharp").default;
let sharpModule: Promise<Sharp> | undefined;
/** sharp (libvips, a native addon) is loaded on first use: reading .npy files never pays for it. */
function loadSharp(): Promise<Sharp> {
  // sharp's CommonJS entry: its ESM one finds the addon through createRequire at run time, which the single-file
  // binary cannot see; the CommonJS one requires it by name, so Bun embeds it.
  sharpModule ??= import("../io/native.ts").then((n) => n.preloadNative("libvips")).then(() => require("sharp") as Sharp);
  return sharpModule;
}

/**
 * One line saying what was done to an image folder, so no preprocessing choice is silent:
 * `images: 32 files from imgs/, resized to 224×224, scaled to [0,1] (no mean/std; …); skipped f.ppm (unsupported)`.
 */
export function describeImages(dir: string, used: number, o: ResolvedImageOptions, opts: { preset?: string; skipped?: readonly string[]; pixels?: boolean } = {}): string {
  const [h, w] = o.crop;
  const size = o.resize > 0 && o.resize !== Math.max(h, w) ? `shorter side resized to ${o.resize}, center-cropped to ${h}×${w}` : `resized to ${h}×${w}`;
  const color = `${o.channels === 1 ? "grayscale" : "RGB"} ${o.layout}`;
  const plain = o.mean.every((m) => m === 0) && o.std.every((s) => s === 1);
  const lo = (0 - o.mean[0]!) / o.std[0]!;
  const hi = (255 * o.scale - o.mean[0]!) / o.std[0]!;
  const values = opts.pixels
    ? "raw 0..255 pixels (the input is an integer tensor)"
    : plain
      ? `scaled to [${+lo.toFixed(4)},${+hi.toFixed(4)}] (no mean/std${opts.preset || o.channels !== 3 ? "" : "; --image-preset imagenet for ImageNet normalization"})`
      : `scaled by ${+o.scale.toPrecision(4)}, mean [${o.mean.join(", ")}], std [${o.std.join(", ")}]`;
  const skipped = opts.skipped?.length
    ? `; skipped ${opts.skipped.slice(0, 3).join(", ")}${opts.skipped.length > 3 ? ` and ${opts.skipped.length - 3} more` : ""} (unsupported)`
    : "";
  return `images: ${used} file${used === 1 ? "" : "s"} from ${dir.replace(/[\\/]*$/, "/")}${opts.preset ? ` (preset ${opts.preset})` : ""}, ${size}, ${color}, ${values}${skipped}`;
}

/** Files under `dir` (recursively, hidden entries skipped) that are not images sharp decodes, sorted. */
export function listNonImages(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => relative(dir, join(d.parentPath, d.name)));
  } catch {
    return [];
  }
  return entries.filter((p) => !EXTENSIONS.test(p) && !p.split(/[\\/]/).some((s) => s.startsWith("."))).sort();
}

/** Image file extensions sharp decodes. */
const EXTENSIONS = /\.(png|jpe?g|webp|tiff?|gif|avif)$/i;

/**
 * Resolve options against a preset and the model input's shape (`[B, C, H, W]` or `[B, H, W, C]`, static dims
 * fill in the crop, layout and channels). Throws E_USAGE for an unknown preset or inconsistent options.
 */
export function resolveImageOptions(opts: ImageOptions = {}, inputShape?: readonly (number | string | null)[]): ResolvedImageOptions {
  let base: ImageOptions = {};
  if (opts.preset !== undefined) {
    const p = IMAGE_PRESETS[opts.preset];
    if (!p) throw new QuantError("E_USAGE", `unknown image preset '${opts.preset}' (presets: ${Object.keys(IMAGE_PRESETS).join(", ")})`);
    base = p;
  }
  const o: ImageOptions = { ...base, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) };
  const dims = inputShape?.length === 4 ? inputShape.slice(1).map((d) => (typeof d === "number" ? d : undefined)) : [];
  // Which axis holds channels: explicit layout, else whichever of dim 1 / dim 3 is 1 or 3.
  const layout = o.layout ?? (dims[0] === 1 || dims[0] === 3 ? "NCHW" : dims[2] === 1 || dims[2] === 3 ? "NHWC" : "NCHW");
  const [c, h, w] = layout === "NCHW" ? [dims[0], dims[1], dims[2]] : [dims[2], dims[0], dims[1]];
  const channels = o.channels ?? (c === 1 ? 1 : 3);
  const crop: [number, number] | undefined =
    o.crop === undefined ? (h !== undefined && w !== undefined ? [h, w] : undefined) : typeof o.crop === "number" ? [o.crop, o.crop] : o.crop;
  if (!crop) throw new QuantError("E_USAGE", "image size unknown: the model input has dynamic height/width; give a crop size or a preset");
  const resize = o.resize ?? Math.max(crop[0], crop[1]);
  const mean = o.mean ?? [0];
  const std = o.std ?? [1];
  for (const [k, v] of [["mean", mean], ["std", std]] as const) {
    if (v.length !== 1 && v.length !== channels) throw new QuantError("E_USAGE", `image ${k} has ${v.length} values for ${channels} channel(s)`);
  }
  if (std.some((s) => s === 0)) throw new QuantError("E_USAGE", "image std must not be 0");
  if (!(crop[0] > 0 && crop[1] > 0) || resize < 0) throw new QuantError("E_USAGE", `bad image sizes: resize ${resize}, crop ${crop.join("x")}`);
  return { resize, crop, mean, std, scale: o.scale ?? 1 / 255, layout, channels, kernel: o.kernel ?? "linear" };
}

/** Image files under `dir` (recursively, hidden entries skipped), sorted by relative path. */
export function listImages(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir, { recursive: true }) as string[];
  } catch (e) {
    throw new QuantError("E_DATA_READ", `cannot read image folder ${basename(dir)}: ${reason(e)}`, { file: dir, cause: e });
  }
  const files = entries
    .filter((p) => EXTENSIONS.test(p) && !p.split(/[\\/]/).some((s) => s.startsWith(".")))
    .sort()
    .map((p) => join(dir, p));
  // Type-check every entry before any is opened: a FIFO named x.png would block the decoder forever. A sub-folder
  // whose name looks like an image is walked into by readdir already, so it is just not a file here.
  return files.filter((f) => {
    let st;
    try {
      st = statSync(f);
    } catch (e) {
      throw new QuantError("E_DATA_READ", `cannot read image ${basename(f)} (${(e as NodeJS.ErrnoException).code ?? reason(e)})`, { file: f, cause: e });
    }
    if (st.isDirectory()) return false;
    if (!st.isFile()) throw new QuantError("E_DATA_READ", `image ${basename(f)} is ${fileKind(st)}, not a regular file; refusing to read it`, { file: f });
    return true;
  });
}

/** The bytes of an image file, read through a non-blocking descriptor after a type check (never hangs). */
function readImageBytes(path: string): Buffer {
  const { fd, size } = openRegularFile(path, "E_DATA_READ", `image ${basename(path)}`);
  try {
    const buf = Buffer.allocUnsafe(size);
    let done = 0;
    while (done < size) {
      const n = readSync(fd, buf, done, size - done, done);
      if (n <= 0) break;
      done += n;
    }
    return buf.subarray(0, done);
  } finally {
    closeSync(fd);
  }
}

/** Python's round(): halves to even — torchvision computes the crop offset with it. */
function pyRound(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
}

/** Shape of one preprocessed sample. */
export function imageSampleDims(o: ResolvedImageOptions): number[] {
  const [h, w] = o.crop;
  return o.layout === "NCHW" ? [o.channels, h, w] : [h, w, o.channels];
}

/**
 * Decode and preprocess one image into `out` (length C*H*W), in the layout of `o`. A Uint8Array `out` receives
 * the raw 0..255 pixels (for models that take uint8 images): scale, mean and std are not applied.
 */
export async function loadImage(path: string, o: ResolvedImageOptions, out: Float32Array | Uint8Array): Promise<void> {
  let raw: { data: Uint8Array; info: { channels: number } };
  let sharp: Sharp;
  try {
    sharp = await loadSharp();
  } catch (e) {
    throw new QuantError("E_RUNTIME", `cannot load sharp to decode images (${reason(e)}): reinstall dependencies, or convert the images to .npy`, { file: path, cause: e });
  }
  const bytes = readImageBytes(path);
  try {
    const meta = await sharp(bytes).metadata();
    let w = meta.width ?? 0;
    let h = meta.height ?? 0;
    if (!(w > 0 && h > 0)) throw new QuantError("E_DATA_FORMAT", `image ${basename(path)} has no size`, { file: path });
    if (o.resize > 0) {
      // torchvision Resize(int): shorter side → resize, longer side truncated.
      if (w <= h) [w, h] = [o.resize, Math.floor((o.resize * h) / w)];
      else [w, h] = [Math.floor((o.resize * w) / h), o.resize];
    }
    const [ch, cw] = o.crop;
    if (w < cw || h < ch) {
      throw new QuantError("E_CALIB_SHAPE", `image ${basename(path)} is ${w}x${h} after resize, smaller than the ${cw}x${ch} crop`, { file: path });
    }
    const gray = o.channels === 1 && (meta.channels ?? 3) - (meta.hasAlpha ? 1 : 0) === 1;
    let img = sharp(bytes).removeAlpha().toColourspace(gray ? "b-w" : "srgb");
    if (w !== meta.width || h !== meta.height) img = img.resize({ width: w, height: h, fit: "fill", kernel: o.kernel });
    img = img.extract({ left: pyRound((w - cw) / 2), top: pyRound((h - ch) / 2), width: cw, height: ch });
    raw = await img.raw().toBuffer({ resolveWithObject: true });
  } catch (e) {
    if (e instanceof QuantError) throw e;
    const code = (e as { code?: string }).code === "ENOENT" ? "E_DATA_READ" : "E_DATA_FORMAT";
    throw new QuantError(code, `cannot decode image ${basename(path)}: ${reason(e)}`, { file: path, cause: e });
  }
  normalize(raw.data, raw.info.channels, o, out);
}

/**
 * 8-bit interleaved pixels (1 or 3 channels) → normalized floats in the requested layout and channel count
 * (or, into a Uint8Array, the pixels themselves; grayscale then rounds like PIL's `convert("L")`).
 */
export function normalize(px: Uint8Array, srcChannels: number, o: ResolvedImageOptions, out: Float32Array | Uint8Array): void {
  const raw = out instanceof Uint8Array;
  const [h, w] = o.crop;
  const hw = h * w;
  const C = o.channels;
  for (let c = 0; c < C; c++) {
    const m = o.mean[o.mean.length === 1 ? 0 : c]!;
    const s = o.std[o.std.length === 1 ? 0 : c]!;
    // Channel stride / pixel stride of the output layout.
    const cOff = o.layout === "NCHW" ? c * hw : c;
    const step = o.layout === "NCHW" ? 1 : C;
    for (let p = 0; p < hw; p++) {
      let v: number;
      if (srcChannels === C) v = px[p * C + c]!;
      else if (C === 1 && raw) v = (px[p * 3]! * 19595 + px[p * 3 + 1]! * 38470 + px[p * 3 + 2]! * 7471 + 0x8000) >> 16;
      else if (C === 1) v = 0.299 * px[p * 3]! + 0.587 * px[p * 3 + 1]! + 0.114 * px[p * 3 + 2]!;
      else v = px[p]!; // 1-channel source, RGB wanted (not reached: sharp converts to sRGB)
      out[cOff + p * step] = raw ? v : (v * o.scale - m) / s;
    }
  }
}

/**
 * Preprocess `files` into a .npy at `outPath` of shape `[files.length, ...sample dims]` — float32 normalized, or
 * with `pixels: true` uint8 raw pixels — writing each image as it is decoded (a few decode in parallel; memory holds only those).
 */
export async function imagesToNpy(
  files: readonly string[],
  o: ResolvedImageOptions,
  outPath: string,
  onProgress?: (done: number, total: number) => void,
  pixels = false,
): Promise<void> {
  const dims = imageSampleDims(o);
  const elems = dims[0]! * dims[1]! * dims[2]!;
  const fd = openSync(outPath, "w");
  try {
    const head = npyHeaderBytes(pixels ? DataType.UINT8 : DataType.FLOAT, [files.length, ...dims]);
    writeSync(fd, head);
    const parallel = 4;
    for (let i = 0; i < files.length; i += parallel) {
      const group = files.slice(i, i + parallel);
      const outs = group.map(() => (pixels ? new Uint8Array(elems) : new Float32Array(elems)));
      await Promise.all(group.map((f, k) => loadImage(f, o, outs[k]!)));
      for (const a of outs) writeSync(fd, new Uint8Array(a.buffer));
      onProgress?.(i + group.length, files.length);
    }
  } finally {
    closeSync(fd);
  }
}
