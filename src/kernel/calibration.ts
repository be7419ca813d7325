/**
 * The calibrate phase: opens the calibration data (or random data with a warning), runs the model in
 * onnxruntime-node through the runtime observer, and lets every calibrator fold each batch into its state.
 * With `statsIn`, states are restored from a file instead and no inference runs.
 */
import { withProtected, type Protected } from "./atomic.ts";
import type { ConsolaInstance } from "consola";
import { QuantError } from "./errors.ts";
import type { QuantOptions } from "./options.ts";
import type { CalibratorPlugin, CalibratorState, Plugin, PluginContext, RangeMap } from "./types.ts";
import type { Model } from "../onnx/model.ts";

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
  options: QuantOptions,
  hooks: Hooks,
): Promise<{ ranges: RangeMap; states: { plugin: string; state: CalibratorState }[]; unobservable: string[] }> {
  const stats = await import("../runtime/stats.ts");
  if (options.statsIn) {
    const loaded = stats.loadStats(options.statsIn, calibrators, (p: Plugin) => hooks.ctxOf(p));
    const missing = tensors.filter((t) => !loaded.ranges.has(t) && !loaded.unobservable.includes(t));
    if (missing.length) hooks.logger.warn(`${missing.length} activation(s) have no range in ${options.statsIn}; they stay float (first: ${missing[0]})`);
    return { ranges: loaded.ranges, states: loaded.states, unobservable: loaded.unobservable };
  }
  if (calibrators.length === 0)
    throw new QuantError("E_CONFIG", "the quantizer needs activation ranges but the chain has no calibrator (add minmax, percentile, entropy or mse, or pass --stats-in)");
  const { openDatasetAsync } = await import("../data/dataset.ts");
  const { modelInputs } = await import("../runtime/session.ts");
  const { calibrate } = await import("../runtime/calibrate.ts");
  if (!options.data) hooks.logger.warn("no calibration data given: using random N(0,1) samples (ranges will not match real inputs; pass --data)");
  const dataset = await openDatasetAsync(
    {
      path: options.data,
      samples: options.samples ?? (options.data ? undefined : 16),
      shapes: options.shapes,
      seed: options.seed,
      images: typeof options.images === "string" ? { preset: options.images } : options.images,
    },
    modelInputs(model),
  );
  try {
    const states = await Promise.all(calibrators.map(async (p) => ({ plugin: p, state: await hooks.call(p, (c) => p.create(c)) })));
    const out = await calibrate(model, tensors, states, dataset, {
      batchSize: options.batchSize,
      samples: options.samples,
      onProgress: hooks.progress,
    });
    const named = states.map((s) => ({ plugin: s.plugin.name, state: s.state }));
    const save = () => stats.saveStats(options.statsOut!, { ranges: out.ranges, calibrators: states, samples: out.stats.samples, unobservable: out.unobservable, model });
    if (options.statsOut) hooks.protect ? withProtected(hooks.protect, save) : save();
    return { ranges: out.ranges, states: named, unobservable: out.unobservable };
  } finally {
    dataset.close();
  }
}
