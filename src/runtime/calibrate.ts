/**
 * The calibration driver: one onnxruntime session over the observation model, batches streamed from the dataset,
 * each batch's observations handed to every calibrator and dropped. Nothing is accumulated here, so memory does not
 * grow with the number of samples; what the calibrators keep is their own (bounded) state.
 *
 * Batching: `batchSize` samples are read from the dataset at a time, but onnxruntime runs them one sample per run.
 * Results then cannot depend on `--batch-size`: onnxruntime's kernels do not promise bit-identical values across batch
 * sizes, and on digits_transformer 18 of 118 tensors' ranges move by an ulp between batch 1 and 8 (ReduceMean and
 * what follows), which would change the quantized model's bytes. On one thread per-sample runs cost little (on
 * mobilenet_v2 batch 8 is even slower than batch 1: activations stop fitting in cache); `wholeBatches` runs whole
 * batches when speed matters more than that. A model whose inputs have a fixed leading dim k > 1 runs k at a time;
 * exported with batch 1, it runs one at a time (making the dim symbolic would be unsafe: exporters bake the batch
 * into Reshape targets, so batched runs could fail or silently mix samples).
 */
import { QuantError, isQuantError, reason } from "../errors/errors.ts";
import type { CalibratorPlugin, CalibratorState, Observation, RangeMap } from "../kernel/types.ts";
import type { Model } from "../onnx/model.ts";
import { type Batch, type CalibrationDataset, layoutOf } from "../data/dataset.ts";
import { observationModel, type ObservationModel } from "./observe.ts";
import { openRunner, type Outputs, type RunnerOptions } from "./runner.ts";
import { batchPlan, modelInputs } from "./session.ts";

/** A calibrator and its live state, in chain order. */
export interface CalibratorEntry {
  readonly plugin: CalibratorPlugin;
  readonly state: CalibratorState;
}

/** Options of {@link calibrate} (plus how batches run: `runtime` session options, `fused`, `pipeline`, `log`). */
export interface CalibrateOptions extends RunnerOptions {
  /** Samples read from the dataset at a time (default 1); see the module comment for how they run. */
  batchSize?: number;
  /** Run whole batches in onnxruntime (faster for tiny models; results may then differ by an ulp across batch sizes). */
  wholeBatches?: boolean;
  /** Samples to use (default: all the dataset has). */
  samples?: number;
  /** Called after every run with samples done and the total. */
  onProgress?(done: number, total: number): void;
}

/** What a calibration run did. */
export interface CalibrationStats {
  /** Batches read from the dataset, and runs of the model. */
  batches: number;
  runs: number;
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
  const plan = batchPlan(inputs, dataset);
  const fixed = plan.fixed;
  // Per-sample views of a batch need samples on axis 0; otherwise (a state [2, batch, 128], a per-sample scalar) the
  // dataset reads one sample per batch.
  const perSampleReads = plan.oneAtATime || (!fixed && !options.wholeBatches && !plan.axis0);
  const step = fixed ?? (perSampleReads ? 1 : Math.max(1, Math.floor(options.batchSize ?? 1)));
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
  const stats: CalibrationStats = { batches: 0, runs: 0, samples: 0, seconds: 0, setupSeconds: 0, mode, fused: false, pipelined: false };
  const reasons: Record<string, string> = {};
  for (const u of obs.unobservable) reasons[u.tensor] = u.reason;
  if (obs.observed.length) {
    const runner = await openRunner(obs, options);
    stats.setupSeconds = (performance.now() - t0) / 1000;
    stats.pipelined = runner.pipelined;
    // A fixed batch dim runs full batches only; a tail shorter than it is left out.
    const end = fixed ? total - (total % fixed) : total;
    const garbage = new GarbageBudget();
    const perSample = !fixed && !options.wholeBatches;
    /** The runs, in order: dataset batches read lazily, split into one-sample views unless batches run whole. */
    function* runs(): Generator<{ batch: Batch; first: number; n: number }> {
      for (let s = 0; s < end; s += step) {
        const n = Math.min(step, end - s);
        const batch = dataset.batch(s, n);
        stats.batches++;
        // A batch in a buffer of its own is garbage after its run; a view into a larger buffer is the dataset's to keep.
        for (const k in batch) {
          const d = batch[k]!.data;
          if (d.byteOffset === 0 && d.byteLength === d.buffer.byteLength) garbage.bytes += d.byteLength;
        }
        if (!perSample || n === 1) yield { batch, first: s, n };
        else for (let i = 0; i < n; i++) yield { batch: sampleOf(batch, i, n, dataset), first: s + i, n: 1 };
      }
    }
    const it = runs();
    let cur = it.next();
    let pending: Promise<Outputs> | undefined;
    try {
      pending = cur.done ? undefined : runner.run(cur.value.batch);
      while (!cur.done) {
        const out = await pending!;
        const next = it.next();
        // Pipelined: the worker computes the next run while the calibrators work on this one.
        pending = runner.pipelined && !next.done ? runner.run(next.value.batch) : undefined;
        const { first, n } = cur.value;
        feed(out, obs, calibrators, first, n);
        garbage.collect(out);
        if (!runner.pipelined && !next.done) pending = runner.run(next.value.batch);
        stats.runs++;
        stats.samples += n;
        options.onProgress?.(first + n, end);
        cur = next;
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

/** Sample `i` of an `n`-sample batch, as views (no copy). */
function sampleOf(batch: Batch, i: number, n: number, dataset: CalibrationDataset): Batch {
  const out: Batch = {};
  for (const k in batch) {
    const b = batch[k]!;
    // An input fed as-is (no batch axis) is the same in every sample.
    if (layoutOf(dataset, k).batchAxis === null) {
      out[k] = b;
      continue;
    }
    const per = b.data.length / n;
    out[k] = { data: b.data.subarray(i * per, (i + 1) * per) as Batch[string]["data"], dims: [1, ...b.dims.slice(1)], elemType: b.elemType };
  }
  return out;
}

/**
 * Collects garbage once the dropped inputs and outputs of the runs add up to a budget: 32 MiB plus two runs' worth. The
 * collector frees big typed arrays lazily, so without this the resident set drifts up for a long while before it
 * settles; with it, it settles within the first few dozen samples whatever the sample count.
 */
export class GarbageBudget {
  /** Bytes dropped since the last collection (batches' inputs are added by the caller). */
  bytes = 0;
  constructor(private readonly base = 32 << 20) {}
  /** Count a run's outputs as dropped, and collect if over budget. */
  collect(out: Outputs): void {
    let run = 0;
    for (const k in out) run += (out[k]!.data as ArrayBufferView).byteLength ?? 0;
    this.bytes += run;
    if (this.bytes >= this.base + 2 * run) {
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
