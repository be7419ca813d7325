/**
 * Latency measurement in onnxruntime-node, the way the speed targets are judged: one thread (intra 1, inter 1,
 * sequential), batch 1, the same input for every model, warm-up, then interleaved runs (A, B, A, B, …) so that
 * machine noise (other processes, frequency changes) hits all models alike, and medians.
 * Also what ORT fused: the op types of its optimized graph (`optimizedModelFilePath`).
 */
import { makeTempDir, removeTempDir } from "../io/cleanup.ts";
import { join } from "node:path";
import { QuantError } from "../errors/errors.ts";
import { loadModel } from "../onnx/codec.ts";
import type { Model } from "../onnx/model.ts";
import { fillNormal, sampleRng } from "../data/random.ts";
import { RuntimeSession, SINGLE_THREAD, ortTensor, type TensorMap } from "./session.ts";
import { floatToHalf } from "../tensor/dtypes.ts";

/** Feeds for `session.run`. */
export type Feeds = TensorMap;

/** Summary of one model's run times, in milliseconds. */
export interface LatencyStats {
  runs: number;
  medianMs: number;
  p90Ms: number;
  meanMs: number;
  minMs: number;
  maxMs: number;
}

/** Options of a timing session. */
export interface TimingSessionOptions {
  /** intraOpNumThreads (default 1: the speed targets are single-thread). */
  threads?: number;
  /** Save ORT's optimized graph to this file. */
  optimizedModelFilePath?: string;
}

/** A session set up for timing: `threads` intra-op threads, one inter-op thread, sequential, all optimizations. */
export function createTimingSession(source: Model | string | Uint8Array, options: TimingSessionOptions = {}): Promise<RuntimeSession> {
  return RuntimeSession.create(source, { ...SINGLE_THREAD, intraOpThreads: options.threads ?? 1, optimizedModelFilePath: options.optimizedModelFilePath });
}

const TYPED: Record<string, new (n: number) => ArrayLike<unknown>> = {
  float32: Float32Array, float64: Float64Array, int8: Int8Array, uint8: Uint8Array, int16: Int16Array, uint16: Uint16Array,
  int32: Int32Array, uint32: Uint32Array, int64: BigInt64Array, uint64: BigUint64Array, bool: Uint8Array,
};

/**
 * One random sample per input of `session` (batch 1: symbolic dims become 1 unless `shapes` names them):
 * floats N(0,1) seeded per input name, integers and booleans zero (valid indices and masks for most models).
 */
export function randomFeeds(session: RuntimeSession, options: { seed?: number; shapes?: Record<string, number[]> } = {}): Feeds {
  const feeds: Feeds = {};
  for (const meta of session.session.inputMetadata) {
    if (!meta.isTensor) throw new QuantError("E_RUNTIME", `input "${meta.name}" is not a tensor; cannot make random data for it`, { target: meta.name });
    const dims = options.shapes?.[meta.name] ?? options.shapes?.["*"] ?? meta.shape.map((d) => (typeof d === "number" && d > 0 ? d : 1));
    const n = dims.reduce((a, b) => a * b, 1);
    if (meta.type === "float16") {
      // N(0,1) drawn as float32, stored as half bits (ortTensor feeds them under Bun too).
      const f = new Float32Array(n);
      fillNormal(f, sampleRng(options.seed ?? 0, meta.name, 0));
      feeds[meta.name] = ortTensor(session.ort, "float16", Uint16Array.from(f, floatToHalf), dims);
      continue;
    }
    const Ctor = TYPED[meta.type];
    if (!Ctor) throw new QuantError("E_RUNTIME", `input "${meta.name}" has type ${meta.type}; cannot make random data for it`, { target: meta.name });
    const data = new Ctor(n);
    if (data instanceof Float32Array || data instanceof Float64Array) fillNormal(data, sampleRng(options.seed ?? 0, meta.name, 0));
    feeds[meta.name] = new session.ort.Tensor(meta.type as "float32", data as Float32Array, dims);
  }
  return feeds;
}

/** Median, p90 (nearest rank), mean, min and max of run times. */
export function summarize(times: ArrayLike<number>): LatencyStats {
  const sorted = Float64Array.from(times).sort();
  const n = sorted.length;
  if (!n) return { runs: 0, medianMs: NaN, p90Ms: NaN, meanMs: NaN, minMs: NaN, maxMs: NaN };
  const median = n & 1 ? sorted[n >> 1]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i]!;
  return { runs: n, medianMs: median, p90Ms: sorted[Math.min(n - 1, Math.ceil(0.9 * n) - 1)]!, meanMs: sum / n, minMs: sorted[0]!, maxMs: sorted[n - 1]! };
}

/**
 * Time `sessions` on the same feeds: `warmup` untimed rounds, then `runs` timed rounds, each round running every
 * session once in order (A, B, A, B, …). Returns one summary per session.
 * @example const [fp32, int8] = await interleavedLatency([a, b], feeds, { runs: 100, warmup: 10 });
 */
export async function interleavedLatency(
  sessions: readonly RuntimeSession[],
  feeds: Feeds,
  options: { runs: number; warmup: number; onProgress?: (done: number, total: number) => void },
): Promise<LatencyStats[]> {
  const times = sessions.map(() => new Float64Array(options.runs));
  const total = options.warmup + options.runs;
  for (let r = 0; r < total; r++) {
    for (let s = 0; s < sessions.length; s++) {
      const t0 = performance.now();
      await sessions[s]!.session.run(feeds);
      const dt = performance.now() - t0;
      if (r >= options.warmup) times[s]![r - options.warmup] = dt;
    }
    options.onProgress?.(r + 1, total);
  }
  return times.map((t) => summarize(t));
}

/**
 * Op types of ORT's optimized graph of a model (what it fused: QLinearConv, QGemm, …), by `domain.op` for
 * non-default domains as in `quant info`.
 */
export async function optimizedOpTypes(source: Model | string | Uint8Array, threads = 1): Promise<Record<string, number>> {
  const dir = makeTempDir("opt");
  try {
    const file = join(dir, "optimized.onnx");
    const session = await createTimingSession(source, { threads, optimizedModelFilePath: file });
    await session.release();
    const model = loadModel(file, { check: false });
    const counts: Record<string, number> = {};
    try {
      for (const n of model.proto.graph?.node ?? []) {
        const op = n.domain && n.domain !== "ai.onnx" ? `${n.domain}.${n.op_type}` : (n.op_type ?? "");
        counts[op] = (counts[op] ?? 0) + 1;
      }
    } finally {
      model.external?.close();
    }
    return counts;
  } finally {
    removeTempDir(dir);
  }
}
