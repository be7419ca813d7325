/**
 * The calibrate phase: opens the calibration data (or random data with a warning), runs the model in
 * onnxruntime-node through the runtime observer, and lets every calibrator fold each batch into its state.
 * With `statsIn`, states are restored from a file instead and no inference runs. The data is the run's (`RunData`):
 * opened on request and closed by the runner when the run ends.
 */
import { withProtected, type Protected } from "../io/atomic.ts";
import type { ConsolaInstance } from "consola";
import { QuantError } from "../errors/errors.ts";
import type { DataOptions } from "../kernel/options.ts";
import type { RunData } from "../kernel/dataset.ts";
import type { CalibratorPlugin, CalibratorState, Plugin, PluginContext, RangeMap } from "../kernel/types.ts";
import type { Model } from "../onnx/model.ts";

/** Name of the histogram state recorded beside a chain without histograms when a stats file is written. */
export const HISTOGRAM_RECORDER = "histogram";

interface Hooks {
  call<T>(p: Plugin, fn: (ctx: PluginContext) => T | Promise<T>): Promise<T>;
  ctxOf(p: Plugin): PluginContext;
  logger: ConsolaInstance;
  progress(done: number, total: number): void;
  /** Inputs the --stats-out file may not replace. */
  protect?: Protected;
}

/** Run calibration for `tensors`; returns the merged ranges (later calibrators override earlier ones per tensor). */
export async function runCalibration(
  model: Model,
  tensors: string[],
  calibrators: CalibratorPlugin[],
  run: { batchSize: number; data: DataOptions; runData: RunData },
  hooks: Hooks,
): Promise<{ ranges: RangeMap; states: { plugin: string; state: CalibratorState }[]; unobservable: string[] }> {
  const options = run.data;
  const stats = await import("../runtime/stats.ts");
  if (options.statsIn) {
    const loaded = stats.loadStats(options.statsIn, calibrators, (p: Plugin) => hooks.ctxOf(p));
    const missing = tensors.filter((t) => !loaded.ranges.has(t) && !loaded.unobservable.includes(t));
    if (missing.length) hooks.logger.warn(`${missing.length} activation(s) have no range in ${options.statsIn}; they stay float (first: ${missing[0]})`);
    return { ranges: loaded.ranges, states: loaded.states, unobservable: loaded.unobservable };
  }
  if (calibrators.length === 0)
    throw new QuantError("E_CONFIG", "the quantizer needs activation ranges but the chain has no calibrator (add minmax, percentile, entropy or mse, or pass --stats-in)");
  const { modelInputs } = await import("../runtime/session.ts");
  const { calibrate } = await import("../runtime/calibrate.ts");
  // Opened by the run's data (closed by the runner when the run ends).
  const opened = await run.runData.open(modelInputs(model), { announce: (line) => hooks.logger.info(line) });
  const dataset = opened.dataset;
  // Said once, here (the only place that knows which inputs are random), with the count and shapes actually used.
  const used = Math.min(options.samples ?? dataset.count, dataset.count);
  if (opened.random.length) {
    const dims = (dataset as { dims?: readonly (readonly number[])[] }).dims;
    const which = opened.random.length === dataset.inputs.length ? "no calibration data given" : `no calibration data for ${opened.random.map((n) => `'${n}'`).join(", ")}`;
    hooks.logger.warn(`${which}: calibrating on ${used} random N(0,1) samples${dims?.length ? ` of shape ${dims.map((d) => d.join("×")).join(", ")}` : ""} (seed ${options.seed}); ranges will not match real inputs — pass --data`);
  } else hooks.logger.info(`calibration: ${used} of ${dataset.count} samples from ${typeof options.data === "string" ? options.data : "the given values"}${options.samples === undefined ? "" : ` (--samples ${options.samples})`}`);
  // How each input is fed matters when there are several (a state on axis 1, a constant sample rate).
  for (const line of dataset.describe?.() ?? []) (dataset.inputs.length > 1 ? hooks.logger.info : hooks.logger.debug)(line);
  const states = await Promise.all(calibrators.map(async (p) => ({ plugin: p, state: await hooks.call(p, (c) => p.create(c)) })));
  // A stats file must serve any method later (`--stats-in ranges.json --method mse`): when no calibrator of the chain
  // keeps histograms, record them too (first in the chain, so the chain's own ranges win).
  if (options.statsOut && !calibrators.some((p) => p.needs === "values")) {
    const { histogramCalibrator } = await import("../quant/histogram-calibrator.ts");
    const recorder = histogramCalibrator(HISTOGRAM_RECORDER, {}, 4096, () => (h) => ({ min: h.min, max: h.max }));
    states.unshift({ plugin: recorder, state: await hooks.call(recorder, (c) => recorder.create(c)) });
    hooks.logger.info(`--stats-out: also recording activation histograms, so --stats-in works with any method`);
  }
  const out = await calibrate(model, tensors, states, dataset, {
    batchSize: run.batchSize,
    samples: options.samples,
    onProgress: hooks.progress,
  });
  const named = states.filter((s) => s.plugin.name !== HISTOGRAM_RECORDER).map((s) => ({ plugin: s.plugin.name, state: s.state }));
  const save = () => stats.saveStats(options.statsOut!, { ranges: out.ranges, calibrators: states, samples: out.stats.samples, unobservable: out.unobservable, model });
  if (options.statsOut) hooks.protect ? withProtected(hooks.protect, save) : save();
  return { ranges: out.ranges, states: named, unobservable: out.unobservable };
}
