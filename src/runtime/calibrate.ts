/**
 * The calibration driver: one onnxruntime session over the observation model, batches streamed from the dataset,
 * each batch's observations handed to every calibrator and dropped. Nothing is accumulated here, so memory does not
 * grow with the number of samples; what the calibrators keep is their own (bounded) state.
 *
 * Batching: models whose inputs have a fixed leading dim (exported with batch 1) are run that many samples at a time
 * whatever `batchSize` says. Making the dim symbolic instead would be faster, but exporters bake the batch into
 * Reshape targets and the like, so a batched run could fail or, worse, mix samples silently; and per-sample runs give
 * every `--batch-size` bit-identical observations.
 */
import { QuantError, isQuantError, reason } from "../kernel/errors.ts";
import type { CalibratorPlugin, CalibratorState, Observation, RangeMap } from "../kernel/types.ts";
import type { Model } from "../onnx/model.ts";
import type { CalibrationDataset } from "../data/dataset.ts";
import { observationModel, type ObservationModel } from "./observe.ts";
import { openRunner, type Outputs, type RunnerOptions } from "./runner.ts";
import { fixedBatch, modelInputs } from "./session.ts";

/** A calibrator and its live state, in chain order. */
export interface CalibratorEntry {
  readonly plugin: CalibratorPlugin;
  readonly state: CalibratorState;
}

/** Options of {@link calibrate} (plus how batches run: `runtime` session options, `fused`, `pipeline`, `log`). */
export interface CalibrateOptions extends RunnerOptions {
  /** Samples per run for models with a dynamic batch dim (default 1). */
  batchSize?: number;
  /** Samples to use (default: all the dataset has). */
  samples?: number;
  /** Called after every run with samples done and the total. */
  onProgress?(done: number, total: number): void;
}

/** What a calibration run did. */
export interface CalibrationStats {
  /** Runs of the model (batches). */
  batches: number;
  samples: number;
  /** Wall time of the whole call, and of building the observation model and sessions. */
  seconds: number;
  setupSeconds: number;
  mode: "minmax" | "values";
  /** True when the fused-graph session ran the batches. */
  fused: boolean;
  /** True when inference ran in a worker thread, overlapping with the calibrators. */
  pipelined: boolean;
}

/** The result of {@link calibrate}. */
export interface CalibrationResult {
  /** Range per observed tensor: the calibrators' finalize() in chain order, later ones overriding earlier ones. */
  ranges: RangeMap;
  /** Requested tensors that could not be observed (they should stay float). */
  unobservable: string[];
  /** Why each of {@link CalibrationResult.unobservable} could not be observed. */
  reasons: Record<string, string>;
  stats: CalibrationStats;
}

/** Wrap a calibrator failure so it names the plugin and tensor (QuantErrors keep their code). */
function hookError(e: unknown, plugin: string, tensor: string | undefined, hook: string): QuantError {
  const code = isQuantError(e) ? e.code : "E_PLUGIN";
  return new QuantError(code, isQuantError(e) ? e.message : `${hook} failed: ${reason(e)}`, { plugin, phase: "calibrate", target: tensor, cause: e });
}

/**
 * Observe `tensors` of `model` over `dataset` and return each tensor's range.
 * @example
 * const { ranges } = await calibrate(model, acts, [{ plugin, state: plugin.create(ctx) }], dataset, { batchSize: 8 });
 */
export async function calibrate(
  model: Model,
  tensors: readonly string[],
  calibrators: readonly CalibratorEntry[],
  dataset: CalibrationDataset,
  options: CalibrateOptions = {},
): Promise<CalibrationResult> {
  const t0 = performance.now();
  const mode = calibrators.some((c) => c.plugin.needs === "values") ? "values" : "minmax";
  const inputs = modelInputs(model);
  const fed = inputs.filter((i) => dataset.inputs.includes(i.name));
  const fixed = fixedBatch(fed);
  const step = fixed ?? Math.max(1, Math.floor(options.batchSize ?? 1));
  const total = Math.min(options.samples ?? dataset.count, dataset.count);
  if (total < (fixed ?? 1))
    throw new QuantError("E_CALIB_SAMPLES", `need at least ${fixed ?? 1} calibration sample${(fixed ?? 1) > 1 ? "s" : ""} (the model's batch dim is ${fixed ?? "dynamic"}), got ${total}`);
  const obs: ObservationModel = await observationModel(model, tensors, mode);
  // Optional inputs (graph inputs with an initializer default) the data provides: onnxruntime-node cannot override an
  // initializer, so the observation model drops those defaults and takes the data as a plain input.
  const given = new Set((model.proto.graph?.input ?? []).map((v) => v.name!).filter((n) => dataset.inputs.includes(n) && !inputs.some((i) => i.name === n)));
  if (given.size) {
    const g = obs.model.proto.graph!;
    g.initializer = (g.initializer ?? []).filter((t) => !given.has(t.name!));
  }
  const stats: CalibrationStats = { batches: 0, samples: 0, seconds: 0, setupSeconds: 0, mode, fused: false, pipelined: false };
  const reasons: Record<string, string> = {};
  for (const u of obs.unobservable) reasons[u.tensor] = u.reason;
  if (obs.observed.length) {
    const runner = await openRunner(obs, options);
    stats.setupSeconds = (performance.now() - t0) / 1000;
    stats.pipelined = runner.pipelined;
    // A fixed batch dim runs full batches only; a tail shorter than it is left out.
    const end = fixed ? total - (total % fixed) : total;
    const batches: [number, number][] = [];
    for (let s = 0; s < end; s += step) batches.push([s, Math.min(step, end - s)]);
    const garbage = new GarbageBudget();
    const launch = (i: number) => {
      const batch = dataset.batch(...batches[i]!);
      for (const k in batch) garbage.bytes += batch[k]!.data.byteLength;
      return runner.run(batch);
    };
    let pending: Promise<Outputs> | undefined;
    try {
      pending = batches.length ? launch(0) : undefined;
      for (let i = 0; i < batches.length; i++) {
        const out = await pending!;
        const more = i + 1 < batches.length;
        // Pipelined: the worker computes the next batch while the calibrators work on this one.
        pending = runner.pipelined && more ? launch(i + 1) : undefined;
        const [first, n] = batches[i]!;
        feed(out, obs, calibrators, first, n);
        garbage.collect(out);
        if (!runner.pipelined && more) pending = launch(i + 1);
        stats.batches++;
        stats.samples += n;
        options.onProgress?.(first + n, end);
      }
    } finally {
      await pending?.catch(() => undefined);
      stats.fused = runner.fused;
      await runner.release();
    }
  }
  const ranges = finalizeChain(calibrators);
  stats.seconds = (performance.now() - t0) / 1000;
  return { ranges, unobservable: obs.unobservable.map((u) => u.tensor), reasons, stats };
}

/**
 * Collects garbage once the batches' dropped outputs add up to a budget. The collector frees big typed arrays lazily,
 * so without this the resident set drifts up with the number of batches before it settles; with it, dropped outputs
 * never exceed the budget whatever the sample count.
 */
export class GarbageBudget {
  /** Bytes dropped since the last collection (batches' inputs are added by the caller). */
  bytes = 0;
  constructor(private readonly budget = 256 << 20) {}
  /** Count a run's outputs as dropped, and collect if over budget. */
  collect(out: Outputs): void {
    for (const k in out) {
      const d = out[k]!.data as ArrayBufferView;
      this.bytes += d.byteLength ?? 0;
    }
    if (this.bytes >= this.budget) {
      this.bytes = 0;
      if (typeof Bun !== "undefined") Bun.gc(true);
    }
  }
}

/** Ranges of a calibrator chain: each state's finalize() in chain order, later calibrators overriding earlier ones per tensor. */
export function finalizeChain(calibrators: readonly CalibratorEntry[]): RangeMap {
  const ranges: RangeMap = new Map();
  for (const c of calibrators) {
    let r: RangeMap;
    try {
      r = c.state.finalize();
    } catch (e) {
      throw hookError(e, c.plugin.name, undefined, "finalize");
    }
    for (const [t, range] of r) ranges.set(t, range);
  }
  return ranges;
}

/** Hand one run's observations to every calibrator (values only to those that need them). */
function feed(out: Outputs, obs: ObservationModel, calibrators: readonly CalibratorEntry[], start: number, n: number): void {
  for (const o of obs.observed) {
    const packed = out[o.output]!.data as Float32Array;
    // + 0 turns -0 into 0: the same value whatever the reduction order, and what JSON keeps.
    const min = packed[o.index]! + 0;
    const max = packed[o.index + 1]! + 0;
    if (Number.isNaN(min) || Number.isNaN(max))
      throw new QuantError("E_CALIB_NONFINITE", `activation "${o.tensor}" is NaN for samples ${start}..${start + n - 1}; check the calibration data and the model`, { target: o.tensor });
    if (min > max) continue; // an empty tensor: nothing to observe in this batch
    const plain: Observation = { tensor: o.tensor, min, max };
    let full: Observation | undefined;
    if (o.values) {
      const t = out[o.values]!;
      full = { tensor: o.tensor, min, max, values: t.data as Float32Array, dims: t.dims };
    }
    for (const c of calibrators) {
      try {
        c.state.observe(c.plugin.needs === "values" && full ? full : plain);
      } catch (e) {
        throw hookError(e, c.plugin.name, o.tensor, "observe");
      }
    }
  }
}
