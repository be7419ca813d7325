/**
 * Calibration data for the data-aware remedies (measured equalization, bias correction), opened from the run's
 * options exactly as the calibrate phase opens it (a path, values per input, a dataset object, or random N(0,1) data
 * with a warning) — so a remedy sees the samples the ranges come from.
 */
import type { ConsolaInstance } from "consola";
import type { QuantOptions } from "../kernel/options.ts";
import type { Model } from "../onnx/model.ts";
import { openData, type OpenedData } from "../data/open.ts";
import { modelInputs } from "../runtime/session.ts";

/**
 * Open the run's calibration data for `model` (the caller closes it). Random data is announced with a warning naming
 * `who`, since statistics of random inputs say little about real ones. Undefined when the ranges come from a stats
 * file and no data was given (`--stats-in` without `--data`): random inputs would then stand for data the ranges did
 * not see, so the caller skips its work and says so.
 */
export async function openRunData(model: Model, options: QuantOptions, who: string, logger?: ConsolaInstance): Promise<OpenedData | undefined> {
  if (options.statsIn && options.data === undefined && !Object.keys(options.inputs ?? {}).length) {
    logger?.warn(`${who}: skipped — ranges come from ${options.statsIn} and no calibration data was given (pass --data)`);
    return undefined;
  }
  const opened = await openData(
    options.data,
    {
      inputs: options.inputs,
      sampleAxis: options.sampleAxis,
      samples: options.samples,
      shapes: options.shapes,
      seed: options.seed,
      images: typeof options.images === "string" ? { preset: options.images } : (options.images as never),
    },
    modelInputs(model),
  );
  if (opened.random.length) logger?.warn(`${who}: no calibration data for ${opened.random.join(", ")}: using random N(0,1) samples (pass --data)`);
  return opened;
}
