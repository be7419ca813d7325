/**
 * How an observation model is run, batch after batch:
 * - Both modes run onnxruntime's fused graph when it has layout reorders to drop (fused.ts): min/max reductions and
 *   `values` mode's spatial subsamples read the blocked tensors directly.
 * - `minmax` mode: in this thread.
 * - `values` mode: in a worker thread (remote.ts), so the next batch is computed while the calibrators bin this one;
 *   in this thread if a worker cannot start.
 */
import type { Batch } from "../data/dataset.ts";
import { createObservationSession, fusedObservationBytes } from "./fused.ts";
import type { ObservationModel } from "./observe.ts";
import { RemoteSession } from "./remote.ts";
import { RuntimeSession, modelSource, type RuntimeOptions } from "./session.ts";

/** Outputs of one run by name (ORT tensors or transferred plain ones). */
export type Outputs = Record<string, { readonly data: unknown; readonly dims: readonly number[] }>;

/** Runs batches of an observation model. */
export interface Runner {
  run(batch: Batch): Promise<Outputs>;
  /** True when `run` returns before the work is done, so the caller should launch the next batch early. */
  readonly pipelined: boolean;
  /** True when onnxruntime's fused graph runs the batches. */
  readonly fused: boolean;
  release(): Promise<void>;
}

/** Options of {@link openRunner}. */
export interface RunnerOptions {
  runtime?: RuntimeOptions;
  /** Use onnxruntime's fused graph for min/max (default true). */
  fused?: boolean;
  /** Run values-mode inference in a worker thread (default true). */
  pipeline?: boolean;
  log?: { debug?(message: string): void };
}

/** A runner over one local session. */
function local(session: RuntimeSession, fused = false): Runner {
  return { run: (batch) => session.runBatch(batch), pipelined: false, fused, release: () => session.release() };
}

/** Open the runner for an observation model (see the module comment). */
export async function openRunner(obs: ObservationModel, options: RunnerOptions = {}): Promise<Runner> {
  // One session runs every sample, without the arena (which keeps the largest run's activations, and with memory
  // patterns a second plan-sized block: see RuntimeOptions): ISNet medium at 1024×1024 peaked at 2.1 GB.
  options = { ...options, runtime: { memoryArena: false, ...options.runtime } };
  if (obs.mode === "values" && options.pipeline !== false) {
    const f = options.fused === false ? undefined : await fusedObservationBytes(obs, options.runtime).catch(() => undefined);
    const src = f ? { source: f.bytes, cleanup() {} } : modelSource(obs.model);
    // The fused graph is already optimized: its session must not re-optimize it (that would bring the reorders back).
    const runtime: RuntimeOptions | undefined = f ? { ...options.runtime, optimization: "disabled", optimizedModelFilePath: undefined } : options.runtime;
    if (f) options.log?.debug?.(`observing onnxruntime's fused graph in a worker (${f.removed} layout reorders bypassed)`);
    try {
      const remote = await RemoteSession.create(src.source, runtime);
      return { run: (batch) => remote.run(batch), pipelined: true, fused: !!f, release: async () => (await remote.release(), src.cleanup()) };
    } catch (e) {
      src.cleanup();
      options.log?.debug?.(`no worker thread for inference (${(e as Error).message}); running in this thread`);
    }
  }
  if (options.fused === false) return local(await RuntimeSession.create(obs.model, options.runtime));
  const { session, fused, removed } = await createObservationSession(obs, options.runtime);
  options.log?.debug?.(fused ? `observing onnxruntime's fused graph (${removed} layout reorders bypassed)` : "observing the plain graph");
  return local(session, fused);
}
