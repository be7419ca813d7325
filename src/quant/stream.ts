/**
 * Streaming support for quantizers: past a size, a run quantizes weights tensor by tensor on every core and keeps each
 * result on disk (the model's spill, src/onnx/spill.ts) instead of in memory. Packers read the integers back one
 * tensor at a time; the pipeline spills what they pack; saveModel copies it into the output's data file in graph
 * order. Peak memory is then a few tensors, not the model, and the output's bytes are the same as in memory.
 */
import { freemem } from "node:os";
import type { Model } from "../onnx/model.ts";
import type { PendingTensor } from "../kernel/types.ts";
import type { QuantOptions } from "../kernel/options.ts";
import { existingSpill, spillOf, spillTensor, type TensorSpill } from "../onnx/spill.ts";
import type { QuantizedWeights } from "../tensor/quantize.ts";
import { defaultThreads } from "./parallel.ts";

/** Weights to quantize beyond this many float bytes in all are streamed (see {@link QuantOptions.streamAbove}). */
export const DEFAULT_STREAM_ABOVE = 256 << 20;

/** How a quantizer should treat its weights. */
export interface StreamPlan {
  /** Results go to the spill as they come (memory: a few tensors). */
  readonly stream: boolean;
  /** Worker threads for the quantize kernels. */
  readonly threads: number;
  /** Keep a quantized weight: streamed, its integers go to disk and come back on demand; else `q` itself. */
  keep(q: QuantizedWeights): QuantizedWeights;
}

type IntValues = QuantizedWeights["values"];
/** Scales / zero points of a weight above this many bytes go to the spill with its integers. */
const PARAMS_IN_MEMORY = 64 << 10;
const spilledRefs = new WeakMap<QuantizedWeights, { spill: TensorSpill; offset: number; length: number; ctor: new (b: ArrayBuffer) => IntValues }>();

/**
 * Decide streaming and threads for `floatBytes` of weights to quantize (the largest `largestBytes`) under the run's
 * options. Unless `threads` is given, each thread holds about 1.3× the largest weight in flight, so the default is
 * every core but no more threads than a quarter of the free memory holds (the output does not depend on it).
 */
export function streamPlan(model: Model, floatBytes: number, options: Pick<QuantOptions, "threads" | "streamAbove" | "output">, largestBytes = 0): StreamPlan {
  const stream = !!model.external && floatBytes > (options.streamAbove ?? DEFAULT_STREAM_ABOVE);
  const fit = largestBytes > 0 ? Math.max(1, Math.floor(freemem() / 4 / (1.3 * largestBytes))) : Infinity;
  return {
    stream,
    threads: options.threads ?? Math.min(defaultThreads(), fit),
    keep: (q) => (stream ? spillQuantized(model, q, options.output) : q),
  };
}

/** Write `q`'s integers to the model's spill; the returned weights read them back when `values` is read. */
export function spillQuantized(model: Model, q: QuantizedWeights, output?: string): QuantizedWeights {
  const spill = spillOf(model, { output });
  const v = q.values;
  const ref = spill.put(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  const ctor = v.constructor as new (b: ArrayBuffer) => IntValues;
  const out = {
    paramDims: q.paramDims,
    type: q.type,
    ...(q.axis !== undefined ? { axis: q.axis } : {}),
    ...(q.blockSize !== undefined ? { blockSize: q.blockSize } : {}),
    ...(q.sqnrDb !== undefined ? { sqnrDb: q.sqnrDb } : {}),
  } as QuantizedWeights;
  // Non-enumerable: copying the object ({...q}) must not read the tensor back.
  Object.defineProperty(out, "values", { enumerable: false, get: () => new ctor(spill.read(ref.offset, ref.length).buffer as ArrayBuffer) });
  // Block-wise parameters are 1/16 of the float weight (a float32 scale and an int32 zero point per 32 values): held
  // for every weight until the rewrite, they would outweigh the tensors in flight. Small ones stay in memory.
  for (const [key, arr, Ctor] of [["scale", q.scale, Float32Array], ["zeroPoint", q.zeroPoint, Int32Array]] as const) {
    if (arr.byteLength < PARAMS_IN_MEMORY) {
      Object.defineProperty(out, key, { value: arr, enumerable: true, writable: true });
      continue;
    }
    const r = spill.put(new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength));
    Object.defineProperty(out, key, { enumerable: true, get: () => new Ctor(spill.read(r.offset, r.length).buffer as ArrayBuffer) });
  }
  spilledRefs.set(out, { spill, ...ref, ctor });
  return out;
}

/** True when `q` came from {@link spillQuantized}. */
export function isSpilledQuantized(q: QuantizedWeights): boolean {
  return spilledRefs.has(q);
}

/** `q` without its integers (for graph rewrites that only need its parameters), and a pending tensor that reads them lazily. */
export function withoutValues(q: QuantizedWeights): QuantizedWeights {
  const { scale, zeroPoint, paramDims, type, axis, blockSize, sqnrDb } = q;
  return { scale, zeroPoint, paramDims, type, axis, blockSize, sqnrDb, values: new Int8Array(0) };
}

/** A pending tensor whose values are read from the spill each time a packer asks for them. */
export function lazyPending(p: PendingTensor, q: QuantizedWeights): PendingTensor {
  const ref = spilledRefs.get(q);
  if (!ref) return p;
  const { spill, offset, length, ctor } = ref;
  return {
    tensor: p.tensor,
    type: p.type,
    role: p.role,
    get values() {
      return new ctor(spill.read(offset, length).buffer as ArrayBuffer);
    },
  };
}

/** After a packer stored a tensor: move its bytes to the spill when this run streams (the model has a spill). */
export function spillPacked(model: Model, p: PendingTensor): void {
  if (existingSpill(model)) spillTensor(model, p.tensor, { minBytes: 256 << 10 });
}
