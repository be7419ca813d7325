/**
 * How an observation model is run, batch after batch:
 * - `minmax` mode: in this thread, on onnxruntime's fused graph when it has reorders to drop (fused.ts). The first
 *   batch runs on both the fused and the plain session and must give identical min/max, else the plain one is kept.
 * - `values` mode: in a worker thread (remote.ts), so the next batch is computed while the calibrators bin this one;
 *   in this thread if a worker cannot start.
 */
import type { Batch } from "../data/dataset.ts";
import { createObservationSessions } from "./fused.ts";
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
  /** True once the fused graph has been checked and is in use. */
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

/** Exact equality of the packed min/max outputs of two runs. */
function sameObservations(a: Outputs, b: Outputs, obs: ObservationModel): boolean {
  for (const k of obs.packed) {
    const x = a[k]!.data as Float32Array;
    const y = b[k]!.data as Float32Array;
    for (let i = 0; i < x.length; i++) if (x[i]! + 0 !== y[i]! + 0) return false;
  }
  return true;
}

/** A runner over one local session. */
function local(session: RuntimeSession): Runner {
  return { run: (batch) => session.runBatch(batch), pipelined: false, fused: false, release: () => session.release() };
}

/** The fused session, checked against the plain one on the first batch. */
function checkedFused(plain: RuntimeSession, fused: RuntimeSession, obs: ObservationModel, log?: RunnerOptions["log"]): Runner {
  let session = fused;
  let spare: RuntimeSession | undefined = plain;
  const runner = {
    pipelined: false,
    fused: false,
    async run(batch: Batch): Promise<Outputs> {
      const out = await session.runBatch(batch);
      if (!spare) return out;
      const ref = await spare.runBatch(batch);
      const ok = sameObservations(out, ref, obs);
      log?.debug?.(ok ? "observing onnxruntime's fused graph" : "the fused graph disagrees with the plain one: observing the plain graph");
      if (!ok) [session, spare] = [spare, session];
      await spare.release();
      spare = undefined;
      runner.fused = ok;
      return ok ? out : ref;
    },
    async release() {
      await session.release();
      await spare?.release();
    },
  };
  return runner;
}

/** Open the runner for an observation model (see the module comment). */
export async function openRunner(obs: ObservationModel, options: RunnerOptions = {}): Promise<Runner> {
  if (obs.mode === "values" && options.pipeline !== false) {
    const src = modelSource(obs.model);
    try {
      const remote = await RemoteSession.create(src.source, options.runtime);
      return { run: (batch) => remote.run(batch), pipelined: true, fused: false, release: async () => (await remote.release(), src.cleanup()) };
    } catch (e) {
      src.cleanup();
      options.log?.debug?.(`no worker thread for inference (${(e as Error).message}); running in this thread`);
    }
  }
  if (obs.mode === "values" || options.fused === false) return local(await RuntimeSession.create(obs.model, options.runtime));
  const { plain, fused } = await createObservationSessions(obs, options.runtime);
  return fused ? checkedFused(plain, fused, obs, options.log) : local(plain);
}
