/**
 * `clip-outliers` prepare pass: Conv/Gemm weight channels with outliers (max|w| ≥ ratio × the rms of the others) are clipped where that
 * lowers the layer's output error under int8 quantization, judged on the measured statistics of the layer's input
 * (calibration data, first `samples` samples); the mean of the clipping error goes into the bias. See
 * src/quant/outlier-clip.ts.
 *
 *   ["clip-outliers", { ratio: 6, candidates: 32, samples: 16 }]
 */
import { clipOutliers, definePass, findOutlierTargets, openRunData, probeChannels, type OptionKeys } from "../../src/index.ts";

/** Options of `clip-outliers`. */
export interface ClipOutliersOptions {
  /** A channel is searched when max|w| ≥ ratio × the rms of its other weights. Default 6. */
  ratio?: number;
  /** Clip candidates per channel. Default 32. */
  candidates?: number;
  /** Calibration samples measured. Default 16. */
  samples?: number;
}

/** The options this plugin takes: a config giving any other key is refused (E_CONFIG). */
export const optionKeys: OptionKeys<ClipOutliersOptions> = { ratio: true, candidates: true, samples: true };

/** `clip-outliers` pass factory. */
export default function clipOutliersPass(opts: ClipOutliersOptions = {}) {
  return definePass({
    name: "clip-outliers",
    options: opts as Record<string, unknown>,
    async run(model, ctx) {
      const targets = findOutlierTargets(model, opts);
      if (!targets.length) return void ctx.logger.debug("no weight channel with outliers");
      const opened = await openRunData(model, ctx, "clip-outliers", opts.samples ?? 16);
      if (!opened) return;
      let stats;
      stats = await probeChannels(model, targets.map((t) => ({ tensor: t.input, rank: t.rank })), opened.dataset, { samples: Math.min(opts.samples ?? 16, opened.dataset.count), stats: ["mean", "meanSquare"] });
      const r = clipOutliers(model, targets, stats, opts);
      const gain = r.errorAfter > 0 ? 10 * Math.log10(r.errorBefore / r.errorAfter) : 0;
      ctx.logger.info(`clipped ${r.channels} outlier weight channel(s) in ${r.nodes} node(s) (their modelled output error −${gain.toFixed(1)} dB)`);
    },
  });
}
