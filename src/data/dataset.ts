/**
 * The calibration dataset interface and `openDataset`, which picks a reader from the path:
 * `.npy` (one array, single-input models), `.npz` / `.safetensors` (one array per input, by input
 * name, or a single array for a single-input model), a folder of images, or — with no path —
 * seeded random data for declared or static shapes (the caller should warn that it is random).
 * Every reader streams: a dataset holds the current batch, not the file.
 */
import { statSync } from "node:fs";
import { makeTempDir, removeTempDir } from "../kernel/cleanup.ts";
import { basename, extname, join } from "node:path";
import { QuantError, reason } from "../kernel/errors.ts";
import { DataType, dataTypeName } from "../tensor/dtypes.ts";
import { ArrayDataset, type Binding, FEEDABLE_TYPES, fitShape, tooFewSamples } from "./array-dataset.ts";
import type { InputData } from "./convert.ts";
import { type ImageOptions, imageSampleDims, imagesToNpy, listImages, resolveImageOptions } from "./images.ts";
import { openNpy } from "./npy.ts";
import { openNpz } from "./npz.ts";
import { RandomDataset, type RandomOptions } from "./random-dataset.ts";
import type { StoredArray } from "./rows.ts";
import { openSafetensors } from "./safetensors.ts";

/** A model input as the dataset needs it. */
export interface ModelInputInfo {
  name: string;
  /** ONNX DataType code. */
  elemType: number;
  /** Dims; `null` or a string (symbolic name) = dynamic. */
  shape: (number | string | null)[];
}

/** One batch: per input, the data in the input's element type (fp16/bf16 as Uint16Array bits, bool as Uint8Array). */
export interface Batch {
  [input: string]: { data: InputData; dims: number[]; elemType: number };
}

/** Calibration samples, read batch by batch. */
export interface CalibrationDataset {
  /** Number of samples (axis 0). */
  readonly count: number;
  readonly inputs: readonly string[];
  /** Samples [start, start+size) as one batch; data converted to the model input's elem type. Must not hold more than that batch in memory. */
  batch(start: number, size: number): Batch;
  /**
   * Optional: hand a consumed batch back so the next batch of the same size reuses its arrays instead of
   * allocating (keeps peak memory at ~one batch instead of waiting for GC). Do not touch `batch` afterwards.
   */
  release?(batch: Batch): void;
  /** Release files (and temp files). */
  close(): void;
}

/** What to calibrate on. */
export interface DatasetSpec extends Omit<RandomOptions, "samples" | "maxSamples" | "shapes" | "seed"> {
  /** .npy / .npz / .safetensors file or a folder of images; none = random data. */
  path?: string;
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
  /** Progress while preprocessing images (openDatasetAsync). */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Open calibration data for `inputs` (files and random data; an image folder needs `openDatasetAsync`
 * because decoding is asynchronous). Throws coded QuantErrors (E_DATA_READ, E_DATA_FORMAT,
 * E_CALIB_SHAPE, E_CALIB_DTYPE, E_CALIB_SAMPLES) naming the file and input.
 */
export function openDataset(spec: DatasetSpec, inputs: ModelInputInfo[]): CalibrationDataset {
  checkInputs(inputs);
  if (spec.path === undefined) return new RandomDataset(inputs, spec);
  const path = spec.path;
  if (isDirectory(path)) {
    throw new QuantError("E_USAGE", `${basename(path)} is a folder of images: open it with openDatasetAsync (decoding is asynchronous)`, { file: path });
  }
  const ext = extname(path).toLowerCase();
  if (ext === ".npy") return openNpyDataset(path, spec, inputs);
  if (ext === ".npz" || ext === ".safetensors") {
    const f = ext === ".npz" ? openNpz(path) : openSafetensors(path);
    try {
      const bindings = inputs.map((input) => ({ input, array: f.array(pickArray(f.names, input, inputs.length, path)) as StoredArray, file: path }));
      return new ArrayDataset(bindings, spec, () => f.close());
    } catch (e) {
      f.close();
      throw e;
    }
  }
  throw new QuantError("E_DATA_FORMAT", `unknown data format '${ext || basename(path)}' (expected .npy, .npz, .safetensors or a folder of images)`, { file: path });
}

/**
 * Like `openDataset`, and also opens a folder of images: they are decoded and preprocessed one by one into a
 * temporary float32 .npy (removed by `close()`), which is then streamed like any .npy.
 */
export async function openDatasetAsync(spec: DatasetSpec, inputs: ModelInputInfo[]): Promise<CalibrationDataset> {
  if (spec.path === undefined || !isDirectory(spec.path)) return openDataset(spec, inputs);
  checkInputs(inputs);
  const dir = spec.path;
  if (inputs.length !== 1) {
    throw new QuantError("E_DATA_FORMAT", `a folder of images feeds one input, the model has ${inputs.length} (${inputs.map((i) => i.name).join(", ")})`, { file: dir });
  }
  const input = inputs[0]!;
  const opts = resolveImageOptions(spec.images, input.shape);
  // Check the preprocessed shape fits before decoding anything.
  fitShape(input, [1, ...imageSampleDims(opts)], dir);
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
    await imagesToNpy(files, opts, npyPath, spec.onProgress, pixels);
    const ds = openNpyDataset(npyPath, { samples: undefined }, inputs, dir);
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

function openNpyDataset(path: string, spec: Pick<DatasetSpec, "samples" | "maxSamples">, inputs: ModelInputInfo[], label = path): CalibrationDataset {
  if (inputs.length !== 1) {
    throw new QuantError("E_DATA_FORMAT", `a .npy holds one array, the model has ${inputs.length} inputs (${inputs.map((i) => i.name).join(", ")}): use .npz or .safetensors with one array per input`, {
      file: label,
    });
  }
  const f = openNpy(path);
  try {
    return new ArrayDataset([{ input: inputs[0]!, array: f.array, file: label } satisfies Binding], spec, () => f.close());
  } catch (e) {
    f.close();
    throw e;
  }
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
  throw new QuantError("E_DATA_FORMAT", `${basename(file)} has no array for input '${input.name}' (arrays: ${names.join(", ") || "none"}); name each array after its input`, {
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
