/**
 * Calibration data for the data-aware remedies (measured equalization, bias correction, …): the run's data as the
 * runner opens it for every plugin (`ctx.data`), so a remedy sees the samples the ranges come from. Random data (no
 * `--data`) is announced with a warning naming the remedy: statistics of random inputs say little about real ones.
 */
import type { PluginContext } from "../kernel/types.ts";
import type { OpenedRunData } from "../kernel/dataset.ts";
import type { Model } from "../onnx/model.ts";
import { modelInputs } from "../runtime/session.ts";

/**
 * The run's data for `model`, at most `maxSamples` samples unless the run asked for a count (the runner closes it).
 * Undefined when the context has no data (a context built by hand): the caller skips its work and says so.
 */
export async function openRunData(model: Model, ctx: PluginContext, who: string, maxSamples = 16): Promise<OpenedRunData | undefined> {
  if (!ctx.data) {
    ctx.logger.warn(`${who}: skipped — this run has no data`);
    return undefined;
  }
  const opened = await ctx.data.open(modelInputs(model), { maxSamples });
  if (opened.random.length) ctx.logger.warn(`${who}: no calibration data for ${opened.random.join(", ")}: measuring on random N(0,1) samples (pass --data)`);
  return opened;
}
