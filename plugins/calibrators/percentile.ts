/**
 * `percentile` calibrator: clips the (100 − p)% of values farthest from 0.
 *
 * The percentile is taken of |x|, not of each tail: the step of a zero-inclusive 8-bit grid is set by the largest
 * magnitude on either side, so the values worth clipping are the largest magnitudes wherever they are. Cutting
 * (100 − p)/2 % from each tail would spend half the clipping on a short side where it barely shrinks the step (and,
 * after ReLU, on the zeros, where it does nothing). The range is `[max(min, −T), min(max, T)]` with T the percentile,
 * linearly interpolated within its bin; after ReLU that is `[0, T]`.
 *
 * Data: the runtime gives each histogram the exact min/max of every whole tensor (in-graph reductions), and the values
 * of tensors up to 16Ki elements per sample; larger rank-4 activations are binned from a fixed strided spatial
 * subsample of about 16Ki values per sample (src/runtime/subsample.ts), a deliberate speed/accuracy trade-off:
 * the histogram always spans the data's exact min and max, only where to clip is estimated from the subsample, and
 * small models (digits_cnn, digits_transformer) are binned exactly as before.
 */
import { QuantError, histogramCalibrator, type HistogramObserver, type PluginContext, type Range, type OptionKeys } from "../../src/index.ts";

/** Options of {@link percentile}. */
export interface PercentileOptions {
  /** Percentile of |x| kept inside the range, in (0, 100] (default 99.99). */
  percentile?: number;
  /** Histogram bins (default 4096). */
  bins?: number;
}

/** The options this plugin takes: a config giving any other key is refused (E_CONFIG). */
export const optionKeys: OptionKeys<PercentileOptions> = { percentile: true, bins: true };

/** The `p`-th percentile of |x| in `h` (bin-interpolated) turned into a range; `p = 100` gives min/max. */
export function percentileRange(h: HistogramObserver, p: number): Range {
  const { min, max } = h;
  if (!(min < max) || p >= 100) return { min, max };
  const m = h.magnitude();
  const c = m.counts;
  const target = (p / 100) * h.total;
  let cum = 0;
  let t = Math.max(-min, max);
  for (let j = 0; j < c.length; j++) {
    const v = c[j]!;
    if (cum + v >= target && v > 0) {
      t = Math.min(t, (m.start + j + (target - cum) / v) * m.width);
      break;
    }
    cum += v;
  }
  const lo = Math.min(Math.max(min, -t), max);
  // t interpolated inside the first occupied bin can fall below the smallest magnitude: then clip everything to it
  return { min: lo, max: Math.max(lo, Math.min(max, t)) };
}

/** `percentile` calibrator factory: `["percentile", { percentile: 99.999 }]` in a config (else `--percentile`, else 99.99). */
export default function percentile(opts: PercentileOptions = {}) {
  const check = (p: number): number => {
    if (!(p > 0 && p <= 100)) throw new QuantError("E_QUANT_OPTIONS", `percentile must be in (0, 100], got ${p}`);
    return p;
  };
  if (opts.percentile !== undefined) check(opts.percentile);
  return histogramCalibrator("percentile", opts, opts.bins ?? 4096, (ctx: PluginContext) => {
    const p = check(opts.percentile ?? ctx.options.percentile ?? 99.99);
    return (h: HistogramObserver) => percentileRange(h, p);
  });
}
