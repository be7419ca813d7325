/**
 * The calibration dataset interface and `openDataset`, which binds every model input to its data: a value given
 * per input (`inputs`: arrays, scalars, .npy paths — the CLI's `--input name=VALUE`), else the path: `.npy` (the one
 * input left), `.npz` / `.safetensors` (one array per input, by input name, or a single array for a single-input
 * model), a folder of `<input>.npy` files, a folder of images; with no path, seeded random data for float inputs of
 * declared or static shapes (the caller should warn that it is random). Each input's samples run along its own batch
 * axis (layout.ts). Every reader streams: a dataset holds the current batch, not the file.
 */
import { readdirSync, statSync } from "node:fs";
import { makeTempDir, removeTempDir } from "../io/cleanup.ts";
import { basename, extname, join } from "node:path";
import { QuantError, reason } from "../errors/errors.ts";
import { DataType, dataTypeName } from "../tensor/dtypes.ts";
import { ArrayDataset, type Binding, FEEDABLE_TYPES, tooFewSamples } from "./array-dataset.ts";
import { type ImageOptions, describeImages, imageSampleDims, imagesToNpy, listImages, listNonImages, resolveImageOptions } from "./images.ts";
import { openNpy } from "./npy.ts";
import { openNpz } from "./npz.ts";
import { checkSampleAxis, fitData, inferBatchAxis, type InputLayout, type SampleAxisSpec } from "./layout.ts";
import { MergedDataset } from "./merged-dataset.ts";
import { DEFAULT_RANDOM_SAMPLES, RandomDataset, type RandomOptions } from "./random-dataset.ts";
import type { StoredArray } from "./rows.ts";
import { openSafetensors } from "./safetensors.ts";
import { type InputValue, valueArray } from "./values.ts";

import type { CalibrationDataset, ModelInputInfo } from "./dataset-types.ts";
export { layoutOf, type Batch, type CalibrationDataset, type ModelInputInfo } from "./dataset-types.ts";

/** What to calibrate on. */
export interface DatasetSpec extends Omit<RandomOptions, "samples" | "maxSamples" | "shapes" | "seed" | "axes"> {
  /** .npy / .npz / .safetensors file, a folder of `<input>.npy` files or a folder of images; none = random data. */
  path?: string;
  /**
   * Values per input, taking precedence over `path`: arrays (`Float32Array`, `{ dims, data }`, `{ shape, data }`),
   * scalars (`16000`, `16000n`, `true`), number lists, or `.npy` paths. They fit their input like any stored array:
   * samples on the batch axis, one per row, one sample repeated, or the declared shape fed as-is.
   */
  inputs?: Record<string, InputValue>;
  /** Sample (batch) axis per input: an axis, or `"none"` for an input fed as-is. Default: inferred from the declared shape. */
  sampleAxis?: Record<string, SampleAxisSpec>;
  /**
   * Use exactly this many samples: data with fewer is E_CALIB_SAMPLES (a silent shortfall would calibrate on less
   * than asked). Unset: every sample (random data: `maxSamples` or 16).
   */
  samples?: number;
  /** When `samples` is unset: use at most this many (a default, not a request; random data: exactly this many). */
  maxSamples?: number;
  /** Declared shapes for random data (`[B, ...rest]` or `[...rest]`). */
  shapes?: Record<string, number[]>;
  seed?: number;
  /** Preprocessing for a folder of images. */
  images?: ImageOptions;
  /** Told one line about an image folder's preprocessing (openDatasetAsync): file count, size, scaling, skipped files. */
  announce?: (line: string) => void;
  /** Progress while preprocessing images (openDatasetAsync). */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Open calibration data for `inputs` (files, values and random data; an image folder needs `openDatasetAsync`
 * because decoding is asynchronous). Inputs without data get random values where that is valid (float inputs of
 * known shapes) and only when no `path` is given. Throws coded QuantErrors (E_DATA_READ, E_DATA_FORMAT,
 * E_DATA_REQUIRED, E_CALIB_SHAPE, E_CALIB_DTYPE, E_CALIB_SAMPLES, E_USAGE) naming the file and input.
 */
export function openDataset(spec: DatasetSpec, inputs: ModelInputInfo[]): CalibrationDataset {
  if (spec.path !== undefined && isDirectory(spec.path) && !isNpyFolder(spec.path)) {
    throw new QuantError("E_USAGE", `${basename(spec.path)} is a folder of images: open it with openDatasetAsync (decoding is asynchronous)`, { file: spec.path });
  }
  return assemble(spec, inputs);
}

/**
 * Like `openDataset`, and also opens a folder of images: they are decoded and preprocessed one by one into a
 * temporary float32 .npy (removed by `close()`), which is then streamed like any .npy.
 */
export async function openDatasetAsync(spec: DatasetSpec, inputs: ModelInputInfo[]): Promise<CalibrationDataset> {
  if (spec.path === undefined || !isDirectory(spec.path) || isNpyFolder(spec.path)) return openDataset(spec, inputs);
  checkInputs(inputs);
  const dir = spec.path;
  const fed = inputs.filter((i) => !(spec.inputs && i.name in spec.inputs));
  if (fed.length !== 1) {
    throw new QuantError("E_DATA_FORMAT", `a folder of images feeds one input, the model has ${fed.length} without a value (${fed.map((i) => i.name).join(", ")}): give the others with --input NAME=VALUE`, { file: dir });
  }
  const input = fed[0]!;
  const opts = resolveImageOptions(spec.images, input.shape);
  // Check the preprocessed shape fits before decoding anything.
  const axis = spec.sampleAxis?.[input.name];
  fitData(input, [1, ...imageSampleDims(opts)], axis, inferBatchAxis(input, inputs), dir);
  let files = listImages(dir);
  if (spec.samples !== undefined && spec.samples > files.length) throw tooFewSamples(spec.samples, files.length, dir);
  const take = spec.samples ?? spec.maxSamples;
  if (take !== undefined) files = files.slice(0, Math.max(0, Math.floor(take)));
  if (files.length === 0) throw new QuantError("E_CALIB_SAMPLES", `no images (.png .jpg .jpeg .webp .tif .gif .avif) in ${basename(dir)}`, { file: dir });
  const tmp = makeTempDir("images");
  const npyPath = join(tmp, "images.npy");
  try {
    // Integer inputs (uint8 image models) get the raw pixels; float inputs the normalized values.
    const pixels = !FLOAT_INPUTS.has(input.elemType);
    spec.announce?.(describeImages(dir, files.length, opts, { preset: spec.images?.preset, skipped: listNonImages(dir), pixels }));
    await imagesToNpy(files, opts, npyPath, spec.onProgress, pixels);
    const ds = assemble({ ...spec, path: npyPath, samples: undefined, maxSamples: undefined }, inputs, dir);
    const close = ds.close.bind(ds);
    ds.close = () => {
      close();
      removeTempDir(tmp);
    };
    return ds;
  } catch (e) {
    removeTempDir(tmp);
    throw e;
  }
}

const FLOAT_INPUTS: ReadonlySet<number> = new Set([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.BFLOAT16]);

/** Bind every input to its data (values, then the file or folder, then random), and combine the parts. */
function assemble(spec: DatasetSpec, inputs: ModelInputInfo[], label?: string): CalibrationDataset {
  checkInputs(inputs);
  const names = inputs.map((i) => i.name);
  const known = (what: string, keys: Iterable<string>, flag: string, code: "E_USAGE" | "E_CALIB_SHAPE" = "E_USAGE") => {
    for (const k of keys) {
      if (k !== "*" && !names.includes(k)) throw new QuantError(code, `${what} for '${k}', which is not a model input (inputs: ${names.join(", ")}); check ${flag}`, { target: k });
    }
  };
  known("a value", Object.keys(spec.inputs ?? {}), "--input");
  known("a sample axis", Object.keys(spec.sampleAxis ?? {}), "--sample-axis");
  known("a shape", Object.keys(spec.shapes ?? {}), "--shape", "E_CALIB_SHAPE");
  const axisOf = (i: ModelInputInfo) => spec.sampleAxis?.[i.name];
  const bindings: Binding[] = [];
  const closers: (() => void)[] = [];
  const closeAll = () => {
    for (const c of closers.splice(0)) c();
  };
  const bind = (input: ModelInputInfo, array: StoredArray, file: string) => bindings.push({ input, array, file, axis: axisOf(input), inferred: inferBatchAxis(input, inputs) });
  try {
    for (const input of inputs) {
      const v = spec.inputs?.[input.name];
      if (v === undefined) continue;
      if (typeof v === "string") {
        const f = openNpy(v);
        closers.push(() => f.close());
        bind(input, f.array, v);
      } else bind(input, valueArray(input.name, v), `the value of ${input.name}`);
    }
    let rest = inputs.filter((i) => spec.inputs?.[i.name] === undefined);
    if (spec.path !== undefined && !rest.length)
      throw new QuantError("E_USAGE", `every input has a value (${names.join(", ")}): the data in ${basename(label ?? spec.path)} would not be used`, { file: spec.path });
    if (spec.path !== undefined) {
      bindFiles(spec.path, rest, label ?? spec.path, closers, bind);
      rest = [];
    }
    const random = rest.length > 0;
    const arrays = bindings.length ? new ArrayDataset(bindings, spec, closeAll, random ? Math.floor(spec.samples ?? spec.maxSamples ?? DEFAULT_RANDOM_SAMPLES) : 1) : undefined;
    if (!random) return arrays!;
    const axes: Record<string, number | null> = {};
    for (const i of rest) {
      const a = axisOf(i);
      axes[i.name] = a === undefined ? inferBatchAxis(i, inputs) : checkSampleAxis(i, a);
    }
    const rnd = new RandomDataset(rest, { ...spec, samples: arrays ? arrays.count : spec.samples, axes });
    return arrays ? new MergedDataset([arrays, rnd]) : rnd;
  } catch (e) {
    closeAll();
    throw e;
  }
}

/** Bind `inputs` to the arrays of a data file or a folder of `<input>.npy` files. */
function bindFiles(path: string, inputs: ModelInputInfo[], label: string, closers: (() => void)[], bind: (i: ModelInputInfo, a: StoredArray, file: string) => void): void {
  if (isDirectory(path)) {
    const files = readdirSync(path).filter((f) => f.toLowerCase().endsWith(".npy"));
    const missing = inputs.filter((i) => !files.includes(`${i.name}.npy`));
    if (missing.length) {
      throw new QuantError("E_DATA_FORMAT", `${basename(path)} has no ${missing.map((i) => `${i.name}.npy`).join(", ")} (found: ${files.join(", ") || "no .npy files"}); name each file after its input, or give it with --input NAME=VALUE`, {
        file: path,
        target: missing[0]!.name,
      });
    }
    for (const i of inputs) {
      const file = join(path, `${i.name}.npy`);
      const f = openNpy(file);
      closers.push(() => f.close());
      bind(i, f.array, file);
    }
    return;
  }
  const ext = extname(path).toLowerCase();
  if (ext === ".npy") {
    if (inputs.length !== 1) {
      throw new QuantError("E_DATA_FORMAT", `a .npy holds one array, the model has ${inputs.length} inputs without a value (${inputs.map((i) => i.name).join(", ")}): use .npz or .safetensors with one array per input, a folder of <input>.npy files, or --input NAME=VALUE`, {
        file: label,
      });
    }
    const f = openNpy(path);
    closers.push(() => f.close());
    bind(inputs[0]!, f.array, label);
    return;
  }
  if (ext === ".npz" || ext === ".safetensors") {
    const f = ext === ".npz" ? openNpz(path) : openSafetensors(path);
    closers.push(() => f.close());
    for (const input of inputs) bind(input, f.array(pickArray(f.names, input, inputs.length, path)) as StoredArray, path);
    return;
  }
  throw new QuantError("E_DATA_FORMAT", `unknown data format '${ext || basename(path)}' (expected .npy, .npz, .safetensors, a folder of <input>.npy files or a folder of images)`, { file: path });
}

/**
 * The array for `input`: its name, else numpy's unnamed `arr_0` (`np.savez(f, x)`) for a single-input model. An
 * array named after something else is refused even when it is the only one: it may be data for another model.
 */
function pickArray(names: readonly string[], input: ModelInputInfo, inputCount: number, file: string): string {
  if (names.includes(input.name)) return input.name;
  if (inputCount === 1 && names.includes("arr_0")) return "arr_0";
  if (inputCount === 1 && names.length === 1) {
    throw new QuantError("E_DATA_FORMAT", `${basename(file)} has one array '${names[0]}', the model's input is '${input.name}': name the array after the input (or save it as .npy)`, {
      file,
      target: input.name,
    });
  }
  throw new QuantError("E_DATA_FORMAT", `${basename(file)} has no array for input '${input.name}' (arrays: ${names.join(", ") || "none"}); name each array after its input, or give it with --input ${input.name}=VALUE`, {
    file,
    target: input.name,
  });
}

function checkInputs(inputs: ModelInputInfo[]): void {
  if (inputs.length === 0) throw new QuantError("E_CALIB_SHAPE", "the model has no inputs to calibrate with");
  for (const i of inputs) {
    if (!FEEDABLE_TYPES.has(i.elemType)) throw new QuantError("E_CALIB_DTYPE", `input '${i.name}' has type ${dataTypeName(i.elemType)}, which calibration data cannot feed`, { target: i.name });
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch (e) {
    throw new QuantError("E_DATA_READ", `cannot read ${basename(path)}: ${reason(e)}`, { file: path, cause: e });
  }
}

/** A folder holding `.npy` files is per-input data (`<input>.npy`), not images. */
function isNpyFolder(path: string): boolean {
  try {
    return readdirSync(path).some((f) => f.toLowerCase().endsWith(".npy"));
  } catch (e) {
    throw new QuantError("E_DATA_READ", `cannot read ${basename(path)}: ${reason(e)}`, { file: path, cause: e });
  }
}
