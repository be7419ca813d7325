/**
 * The onnxruntime-node adapter: sessions made from a `Model` (bytes for inline models, a temporary folder for models
 * with external data), session options (single-thread presets for benchmarks), typed feeds from calibration batches,
 * and the model's data inputs. onnxruntime-node is loaded on first use, so commands that never run a model never pay
 * for loading it.
 */
import { rmSync } from "node:fs";
import { makeTempDir, removeTempDir } from "../io/cleanup.ts";
import { join } from "node:path";
import type * as Ort from "onnxruntime-node";
import { QuantError, reason } from "../errors/errors.ts";
import { saveModel, serializeModel } from "../onnx/codec.ts";
import { isExternal } from "../onnx/external.ts";
import type { Model } from "../onnx/model.ts";
import { num } from "../onnx/types.ts";
import { allTensors } from "../onnx/walk.ts";
import { DataType, dataTypeName, halfToFloat } from "../tensor/dtypes.ts";
import { type Batch, type CalibrationDataset, layoutOf, type ModelInputInfo } from "../data/dataset.ts";

/** The onnxruntime-node module. */
export type OrtModule = typeof Ort;
/** An ORT tensor. */
export type OrtTensor = Ort.Tensor;
/** Feeds or outputs of a run, by name. */
export type TensorMap = Record<string, Ort.Tensor>;

let ortModule: OrtModule | undefined;
/** onnxruntime-node, imported on first use. */
export async function loadOrt(): Promise<OrtModule> {
  if (ortModule) return ortModule;
  await (await import("../io/native.ts")).preloadNative("onnxruntime");
  return (ortModule = await import("onnxruntime-node"));
}

/**
 * An ORT tensor over typed data (a view, no copy). float16 data is IEEE half bits in a Uint16Array: when the runtime
 * has Float16Array (Bun does), onnxruntime-common wraps such data in a Float16Array view, which onnxruntime-node's
 * native binding cannot read under Bun (the run fails with "not enough space: expected N, got 0"); the tensor is
 * pointed back at the Uint16Array view of the same bytes.
 */
export function ortTensor(ort: OrtModule, type: Ort.Tensor.Type, data: ArrayBufferView, dims: readonly number[]): Ort.Tensor {
  const t = new ort.Tensor(type, data as Float32Array, dims);
  if (type === "float16" && data instanceof Uint16Array && !(t.data instanceof Uint16Array)) {
    (t as unknown as { cpuData: Uint16Array }).cpuData = data;
    if ((t.data as unknown) !== data) throw new QuantError("E_CALIB_DTYPE", "this onnxruntime-common stores float16 tensors in a way quant cannot feed to onnxruntime-node under Bun");
  }
  return t;
}

/**
 * A float tensor's values as float32/float64 numbers: float16 outputs arrive as half bits (Uint16Array) or as a
 * Float16Array depending on the runtime; both are decoded. Other float types are returned as they are (a view).
 */
export function tensorFloats(t: Ort.Tensor): Float32Array | Float64Array {
  const d = t.data as ArrayLike<number>;
  if (d instanceof Float32Array || d instanceof Float64Array) return d;
  if (t.type === "float16" && d instanceof Uint16Array) return Float32Array.from(d, halfToFloat);
  return Float32Array.from(d);
}

/** How a session runs. Unset fields keep onnxruntime's defaults (all cores, all optimizations). */
export interface RuntimeOptions {
  /** intraOpNumThreads (threads inside one op). */
  intraOpThreads?: number;
  /** interOpNumThreads (ops run in parallel in `parallel` mode). */
  interOpThreads?: number;
  /** Graph optimizations; `all` includes the layout (NCHWc) transforms that make CNNs fast on x86. */
  optimization?: "disabled" | "basic" | "extended" | "layout" | "all";
  executionMode?: "sequential" | "parallel";
  /** Save onnxruntime's optimized graph here (to see what it fused). */
  optimizedModelFilePath?: string;
  /** onnxruntime's log level: 0 verbose … 4 fatal. Default 3 (errors only), so its warnings do not reach users. */
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
  /**
   * onnxruntime's CPU memory arena and memory-pattern planning (default true, onnxruntime's default). Both keep every
   * activation buffer of the largest run for the session's lifetime and the pattern adds a second plan-sized block on
   * the second run: on an ISNet at 1024×1024 that is 1.5 GB held per session after one run. `false` returns activation
   * memory after each run, at a few percent of speed — what a long-lived session beside others wants.
   */
  memoryArena?: boolean;
  /**
   * onnxruntime's memory-pattern planning (default true): from the second run on it allocates the whole plan as one
   * block, on top of what the arena already holds from the first (ISNet at 1024×1024: 1.5 → 2.3 GB). `false` keeps
   * the arena, so repeated runs of one session (calibration) stay at one run's activations.
   */
  memoryPattern?: boolean;
}

/** One thread, sequential, all optimizations: how speed targets are measured (and both sides of every ratio). */
export const SINGLE_THREAD: Readonly<RuntimeOptions> = Object.freeze({ intraOpThreads: 1, interOpThreads: 1, executionMode: "sequential", optimization: "all" });

/** onnxruntime-node SessionOptions for {@link RuntimeOptions}. */
export function ortSessionOptions(o: RuntimeOptions = {}): Ort.InferenceSession.SessionOptions {
  return {
    graphOptimizationLevel: o.optimization ?? "all",
    logSeverityLevel: o.logSeverityLevel ?? 3,
    ...(o.intraOpThreads !== undefined ? { intraOpNumThreads: o.intraOpThreads } : {}),
    ...(o.interOpThreads !== undefined ? { interOpNumThreads: o.interOpThreads } : {}),
    ...(o.executionMode ? { executionMode: o.executionMode } : {}),
    ...(o.optimizedModelFilePath ? { optimizedModelFilePath: o.optimizedModelFilePath } : {}),
    ...(o.memoryArena === false ? { enableCpuMemArena: false, enableMemPattern: false } : {}),
    ...(o.memoryPattern === false ? { enableMemPattern: false } : {}),
  };
}

/** ORT's type string for an ONNX element type; throws for types onnxruntime-node cannot feed or fetch (bfloat16, float8, …). */
export function ortType(elemType: number): Ort.Tensor.Type {
  const t = ORT_TYPES[elemType];
  if (!t) throw new QuantError("E_RUNTIME", `onnxruntime-node cannot exchange ${dataTypeName(elemType)} tensors`);
  return t;
}

const ORT_TYPES: Record<number, Ort.Tensor.Type> = {
  [DataType.FLOAT]: "float32",
  [DataType.DOUBLE]: "float64",
  [DataType.FLOAT16]: "float16",
  [DataType.INT8]: "int8",
  [DataType.UINT8]: "uint8",
  [DataType.INT16]: "int16",
  [DataType.UINT16]: "uint16",
  [DataType.INT32]: "int32",
  [DataType.UINT32]: "uint32",
  [DataType.INT64]: "int64",
  [DataType.UINT64]: "uint64",
  [DataType.BOOL]: "bool",
};

/**
 * The data inputs of a model: graph inputs that are not initializers (an input with an initializer of the same name is
 * optional — its initializer is the default — and is not listed). Shapes: numbers, symbolic names, null for unknown
 * dims; `[]` for a scalar or an input without shape information.
 */
export function modelInputs(model: Model): ModelInputInfo[] {
  const g = model.proto.graph;
  const inits = new Set((g?.initializer ?? []).map((t) => t.name));
  const out: ModelInputInfo[] = [];
  for (const v of g?.input ?? []) {
    if (!v.name || inits.has(v.name)) continue;
    const tt = v.type?.tensor_type;
    const shape = (tt?.shape?.dim ?? []).map((d) => (d.dim_param ? d.dim_param : d.dim_value !== undefined && d.dim_value !== null ? num(d.dim_value) : null));
    out.push({ name: v.name, elemType: tt?.elem_type ?? DataType.UNDEFINED, shape });
  }
  return out;
}

/**
 * The fixed batch dimension shared by the inputs that have one, or undefined when every input's batch dim is symbolic
 * or unknown. A model exported with batch 1 must be fed one sample per run. `axisOf` gives each input's batch axis
 * (default 0; null: the input has none and does not count).
 */
export function fixedBatch(inputs: readonly ModelInputInfo[], axisOf?: (input: string) => number | null): number | undefined {
  let fixed: number | undefined;
  for (const i of inputs) {
    const axis = axisOf ? axisOf(i.name) : 0;
    if (axis === null) continue;
    const d = i.shape[axis];
    if (typeof d === "number" && d > 0) fixed = fixed === undefined ? d : Math.min(fixed, d);
  }
  return fixed;
}

/** How runs over a dataset must be sized. */
export interface BatchPlan {
  /** The model's fixed batch (runs take exactly that many samples), if any. */
  fixed?: number;
  /** Some input differs per sample but has no batch axis (a per-sample scalar): runs take one sample. */
  oneAtATime: boolean;
  /** Every input stacks samples on axis 0 or is fed as-is: a batch splits into per-sample views without copying. */
  axis0: boolean;
}

/** The batch plan of the model `inputs` a dataset feeds (E_CALIB_SHAPE when a fixed batch > 1 meets a per-sample input without a batch axis). */
export function batchPlan(inputs: readonly ModelInputInfo[], dataset: CalibrationDataset): BatchPlan {
  const fed = inputs.filter((i) => dataset.inputs.includes(i.name));
  const layouts = new Map(fed.map((i) => [i.name, layoutOf(dataset, i.name)]));
  const fixed = fixedBatch(fed, (n) => layouts.get(n)!.batchAxis);
  const single = fed.find((i) => layouts.get(i.name)!.batchAxis === null && layouts.get(i.name)!.varies);
  if (single && fixed !== undefined && fixed > 1)
    throw new QuantError("E_CALIB_SHAPE", `input '${single.name}' differs per sample but has no batch axis, while the model's batch is fixed at ${fixed}: give it one value (--input ${single.name}=VALUE)`, { target: single.name });
  const axis0 = [...layouts.values()].every((l) => l.batchAxis === 0 || (l.batchAxis === null && !l.varies));
  return { fixed, oneAtATime: !!single, axis0 };
}

/** True when any tensor of the model lives in external data. */
function hasExternalData(model: Model): boolean {
  return allTensors(model.proto).some((s) => isExternal(s.tensor));
}

/**
 * What to hand onnxruntime for a Model: its bytes when the data is inline, else the path of a copy saved (streamed,
 * with external data) to a temporary folder — `cleanup()` removes it.
 */
export function modelSource(source: Model | Uint8Array | string): { source: Uint8Array | string; file?: string; tempDir?: string; cleanup(): void } {
  if (typeof source === "string") return { source, file: source, cleanup() {} };
  if (source instanceof Uint8Array) return { source, cleanup() {} };
  if (!hasExternalData(source)) return { source: serializeModel(source), file: source.path, cleanup() {} };
  const tempDir = makeTempDir("session");
  const cleanup = () => removeTempDir(tempDir);
  try {
    const path = join(tempDir, "model.onnx");
    saveModel(source, path, { externalData: true });
    return { source: path, file: source.path, tempDir, cleanup };
  } catch (e) {
    cleanup();
    throw e;
  }
}

/** A live onnxruntime session over a model, with its temporary files. Call {@link RuntimeSession.release} when done. */
export class RuntimeSession {
  private constructor(
    readonly ort: OrtModule,
    readonly session: Ort.InferenceSession,
    private tempDir: string | undefined,
  ) {}

  /**
   * Create a session from a Model (inline models go over as bytes; models with external data are saved to a temporary
   * folder, streamed, and loaded from there), from bytes, or from a path.
   * @example const s = await RuntimeSession.create(model, SINGLE_THREAD);
   */
  static async create(source: Model | Uint8Array | string, options: RuntimeOptions = {}): Promise<RuntimeSession> {
    const ort = await loadOrt();
    const src = modelSource(source);
    try {
      const arg = src.source;
      const session = typeof arg === "string" ? await ort.InferenceSession.create(arg, ortSessionOptions(options)) : await ort.InferenceSession.create(arg, ortSessionOptions(options));
      return new RuntimeSession(ort, session, src.tempDir);
    } catch (e) {
      src.cleanup();
      if (e instanceof QuantError) throw e;
      throw new QuantError("E_RUNTIME", `onnxruntime-node cannot load the model: ${ortReason(e)}`, { file: src.file, cause: e });
    }
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }
  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  /** Run once; `fetches` limits the outputs. Errors become `E_RUNTIME` with onnxruntime's first line. */
  async run(feeds: TensorMap, fetches?: readonly string[]): Promise<TensorMap> {
    try {
      return (fetches ? await this.session.run(feeds, fetches) : await this.session.run(feeds)) as TensorMap;
    } catch (e) {
      throw new QuantError("E_RUNTIME", `onnxruntime-node failed to run the model: ${ortReason(e)}`, { cause: e });
    }
  }

  /** Run on a calibration batch (see {@link RuntimeSession.feeds}). */
  runBatch(batch: Batch): Promise<TensorMap> {
    return this.run(this.feeds(batch));
  }

  /** An ORT tensor over `data` (no copy). */
  tensor(data: Batch[string]["data"], dims: readonly number[], elemType: number): Ort.Tensor {
    return toOrtTensor(this.ort, data, dims, elemType);
  }

  /**
   * Feeds for this session from a calibration batch: every input the session takes (onnxruntime-node neither lists nor
   * accepts graph inputs that have an initializer default: those keep their default). A missing input is an error.
   */
  feeds(batch: Batch): TensorMap {
    const feeds: TensorMap = {};
    for (const name of this.session.inputNames) {
      const b = batch[name];
      if (!b)
        throw new QuantError("E_CALIB_SHAPE", `model input "${name}" has no calibration data (the data has ${Object.keys(batch).map((k) => `"${k}"`).join(", ") || "no inputs"})`, { target: name });
      feeds[name] = this.tensor(b.data, b.dims, b.elemType);
    }
    return feeds;
  }

  /** Release the native session and delete temporary files. Safe to call twice. */
  async release(): Promise<void> {
    try {
      await this.session.release();
    } catch {
      // already released
    }
    if (this.tempDir) rmSync(this.tempDir, { recursive: true, force: true });
    this.tempDir = undefined;
  }
}

/** An ORT tensor over typed data (a view, no copy). */
export function toOrtTensor(ort: OrtModule, data: Batch[string]["data"], dims: readonly number[], elemType: number): Ort.Tensor {
  const type = ortType(elemType);
  try {
    return ortTensor(ort, type, data, dims);
  } catch (e) {
    throw new QuantError("E_CALIB_DTYPE", `cannot make a ${type} tensor of dims [${dims.join(", ")}] from ${data.constructor.name}(${data.length}): ${reason(e)}`, { cause: e });
  }
}

/** The first meaningful line of an onnxruntime error. */
export function ortReason(e: unknown): string {
  return reason(e).replace(/^\[ErrorCode:\w+\]\s*/, "").replace(/^.*?\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*\w+\s*:\s*/, "");
}
