/**
 * Weight quantization on every core: one Bun Worker per thread, one weight per task. The main thread reads each
 * weight (from the mapped model or external data by range) and hands its float32 values over without copying; a
 * worker quantizes it with the same {@link quantizeWeights} as the main thread and hands the integers back. At most
 * one weight per worker is in flight, so memory stays at a few tensors whatever the model's size. Results are
 * delivered in completion order, but each depends only on its own weight: the output's bytes do not depend on the
 * thread count (the caller places every result by index).
 */
import { availableParallelism } from "node:os";
import { QuantError, type ErrorCode } from "../errors/errors.ts";
import { quantizeWeights, type QuantSpec, type QuantizedWeights } from "../tensor/quantize.ts";
import { isCompiled } from "../io/native.ts";
import type { QuantizeRequest } from "./parallel-worker.ts";
import { dropped } from "../onnx/spill.ts";

/** One weight to quantize: its values are produced when its turn comes (so only in-flight weights are in memory). */
export interface QuantizeTask {
  name: string;
  dims: readonly number[];
  spec: QuantSpec;
  /** The weight's float32 values (a view or a fresh buffer). */
  load(): Float32Array;
}

/** Options of {@link quantizeInParallel}. */
export interface ParallelOptions {
  /** Worker threads (default: the machine's cores). 1 quantizes on the calling thread. */
  threads?: number;
  /** Below this many float bytes in all, no worker is started (their start-up costs more than they save). */
  minBytes?: number;
}

/** Threads to use by default: what the machine offers. */
export function defaultThreads(): number {
  return Math.max(1, typeof navigator !== "undefined" && navigator.hardwareConcurrency ? navigator.hardwareConcurrency : availableParallelism());
}

/** In the single binary (src/cli/build-bin.ts) the worker is an embedded entry point, under src/ as the root. */
const COMPILED_WORKER = "/$bunfs/root/quant/parallel-worker.js";

/**
 * Quantize `tasks`, calling `done(index, q)` for each as it completes (on the calling thread). Fails with the first
 * task's error (a QuantError keeps its code and target), after the tasks in flight settle.
 */
export async function quantizeInParallel(tasks: readonly QuantizeTask[], done: (index: number, q: QuantizedWeights) => void, opts: ParallelOptions = {}): Promise<void> {
  const threads = Math.max(1, Math.floor(opts.threads ?? defaultThreads()));
  const bytes = tasks.reduce((s, t) => s + 4 * t.dims.reduce((a, b) => a * b, 1), 0);
  if (threads === 1 || tasks.length < 2 || bytes < (opts.minBytes ?? 64 << 20)) {
    let last = 0;
    tasks.forEach((t, i) => {
      // The previous weight and its integers are unreachable here: collect (past the budget) before reading the next.
      dropped(last);
      const data = t.load();
      const q = quantizeWeights(data, t.dims, t.spec, t.name);
      done(i, q);
      last = data.byteLength + q.values.byteLength;
    });
    return;
  }
  const workers: Worker[] = [];
  const url = isCompiled ? COMPILED_WORKER : new URL("./parallel-worker.ts", import.meta.url).href;
  let failure: Error | undefined;
  let next = 0;
  try {
    await new Promise<void>((resolve) => {
      let running = 0;
      const feed = (w: Worker) => {
        if (failure || next >= tasks.length) {
          if (running === 0) resolve();
          return;
        }
        const i = next++;
        const t = tasks[i]!;
        let data: Float32Array;
        try {
          data = t.load();
        } catch (e) {
          failure ??= e as Error;
          if (running === 0) resolve();
          return;
        }
        // A view into a larger buffer (the mapped model) is copied; a buffer of its own is handed over.
        const own = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
        if (!own) data = data.slice();
        running++;
        w.onmessage = (e: MessageEvent<{ id: number; q?: QuantizedWeights; error?: { code?: ErrorCode; message: string; target?: string } }>) => {
          running--;
          const m = e.data;
          if (m.error) failure ??= m.error.code ? new QuantError(m.error.code, m.error.message, { target: m.error.target }) : new Error(`quantizing ${t.name} failed: ${m.error.message}`);
          else {
            try {
              done(m.id, m.q!);
              dropped(m.q!.values.byteLength);
            } catch (err) {
              failure ??= err as Error;
            }
          }
          feed(w);
        };
        w.onerror = (e: ErrorEvent) => {
          running--;
          failure ??= new Error(`quantization worker failed on ${t.name}: ${e.message}`);
          feed(w);
        };
        const req: QuantizeRequest = { id: i, data, dims: [...t.dims], spec: t.spec, name: t.name };
        w.postMessage(req, [data.buffer as ArrayBuffer]);
      };
      for (let k = 0; k < Math.min(threads, tasks.length); k++) {
        const w = new Worker(url);
        workers.push(w);
        feed(w);
      }
    });
  } finally {
    for (const w of workers) w.terminate();
  }
  if (failure) throw failure;
}
