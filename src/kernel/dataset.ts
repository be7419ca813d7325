/**
 * The dataset contract: what calibration data is to the runner and to plugins — a count of samples read batch by
 * batch, each input in the model's layout — and the forms a user may give data in (a path, values per input, or a
 * dataset object of their own). src/data implements it (files, images, random samples); the contract itself
 * depends on nothing.
 */

/** The typed arrays a batch may hold (ORT's tensor data types). */
export type InputData =
  | Float32Array
  | Float64Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | BigUint64Array;

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
  /** Number of samples. */
  readonly count: number;
  readonly inputs: readonly string[];
  /**
   * Samples [start, start+size) as one batch, each input in the model's layout (samples stacked on its batch axis;
   * an input without one gets its value as-is); data converted to the model input's elem type. Must not hold more
   * than that batch in memory.
   */
  batch(start: number, size: number): Batch;
  /**
   * Optional: hand a consumed batch back so the next batch of the same size reuses its arrays instead of
   * allocating (keeps peak memory at ~one batch instead of waiting for GC). Do not touch `batch` afterwards.
   */
  release?(batch: Batch): void;
  /** Optional: how an input is fed (default: samples on axis 0, varying per sample). */
  layout?(input: string): InputLayout;
  /** Optional: one line per input saying how it is fed (logged at info level). */
  describe?(): string[];
  /** Release files (and temp files). */
  close(): void;
}

/** A user's per-input sample axis: an axis index, or `"none"`/`null` for an input without one. */
export type SampleAxisSpec = number | "none" | null;

/** How a dataset feeds one input: its batch axis (null: none, the same value in every run) and whether it varies per sample. */
export interface InputLayout {
  batchAxis: number | null;
  /** True when the value differs per sample (false: one value broadcast to every sample). */
  varies: boolean;
}

/** A typed array, or one with dims: `{ dims, data }` (an onnxruntime Tensor qualifies), `{ shape, data }` (ndarray-like). */
export type InputArray =
  | InputData
  | { dims: readonly number[]; data: InputData; type?: string }
  | { shape: readonly number[]; data: InputData; stride?: readonly number[]; offset?: number; dtype?: string };

/** One input's value: an array, a scalar (number, bigint, boolean), a flat number list, or a path to a `.npy` file. */
export type InputValue = InputArray | number | bigint | boolean | readonly number[] | string;

/**
 * Data as the library takes it: a path (.npy, .npz, .safetensors, a folder of `<input>.npy` files or of images),
 * values per input name (`{ input: Float32Array | { dims, data }, h: …, sr: 16000n }`), or a dataset object.
 */
export type DataSource = string | Record<string, InputValue> | CalibrationDataset;

/** What a plugin asks of the run's data ({@link RunData.open}). */
export interface DataRequest {
  /** Exactly this many samples: the data must have them (E_CALIB_SAMPLES). Default: the run's `samples`, else all of it. */
  samples?: number;
  /** At most this many when no count is asked for (random data: this many). */
  maxSamples?: number;
  /** Lines describing how the data is read (an image folder's preprocessing), for the plugin's log. */
  announce?: (line: string) => void;
}

/** A dataset the runner opened, and which inputs get random N(0,1) samples (no data given for them). */
export interface OpenedRunData {
  readonly dataset: CalibrationDataset;
  readonly random: readonly string[];
}

/**
 * The run's calibration/evaluation data as plugins get it (`ctx.data`): opened by the runner on first request,
 * shared by the plugins asking the same, and closed by the runner when the run ends (never close it yourself).
 */
export interface RunData {
  /** Whether the user gave data (a path, values per input, a dataset object); without it `open` gives random samples. */
  readonly given: boolean;
  /** The sample count the user asked for (`--samples`); undefined: all the data holds. */
  readonly samples?: number;
  /** Where a plugin that reads data its own way takes it from (`--data`, `--input`, shapes and seed of random data, …). */
  readonly options: Readonly<RunDataSource>;
  /**
   * The data in the layout of `inputs` (the model's inputs, `modelInputs(model)`); random N(0,1) samples of the
   * declared (or `shapes`) dims for inputs without data. Throws E_DATA_* / E_CALIB_* when the data does not fit.
   */
  open(inputs: readonly ModelInputInfo[], request?: DataRequest): Promise<OpenedRunData>;
}

/** The data options a plugin may read (the runner's `DataOptions` without the stats files). */
export interface RunDataSource {
  /**
   * Calibration data: a file or folder path, values per input name (arrays, scalars, .npy paths), or a dataset
   * object. Also feeds the INT4 sensitivity probe and the fidelity validator.
   */
  data?: DataSource;
  /** Values per input (`--input sr=16000`), taking precedence over `data`; constants are fed as-is to every run. */
  inputs?: Record<string, InputValue>;
  /** Sample (batch) axis per input (`--sample-axis state=1`); `"none"` for an input fed as-is. Default: inferred. */
  sampleAxis?: Record<string, SampleAxisSpec>;
  /** Sample count (the data must have that many; unset = all of it, configs may say `"all"`). */
  samples?: number;
  /** Shapes for random data (`input` → dims, `*` for all). */
  shapes?: Record<string, number[]>;
  /** Seed of random data (default 0). */
  seed: number;
  /** Preprocessing for a folder of images: a preset name (`imagenet`) or options (resize, crop, mean, std, layout). */
  images?: string | Record<string, unknown>;
}
