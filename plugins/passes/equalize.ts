/**
 * `equalize` prepare pass: cross-layer equalization (Nagel et al. 2019) of Conv → [Relu/PRelu/pooling/per-channel
 * Mul/Add] → Conv pairs, depthwise → pointwise above all. Exact in float (the model computes the same function); the
 * per-tensor activation between the two Convs and the reader's weights see equalized channel ranges.
 *
 *   ["equalize", { method: "data" | "weights", rounds: 8, samples: 16, maxScale: 1e4 }]
 *
 * `weights` (data-free) balances the producer's output-channel weight range against the reader's input-channel range;
 * `data` (default) balances the activation's measured channel range (calibration data, first `samples` samples) against
 * the reader's, which also accounts for biases. Clip/Relu6 between the Convs is not scale-equivariant: those pairs stay.
 */
import { definePass, equalize, findEqualizePairs, openRunData, probeChannels, type ChannelStats, type OptionKeys } from "../../src/index.ts";

/** Options of `equalize`. */
export interface EqualizePassOptions {
  /** How channel ranges are judged: measured activations (`data`, default) or weights only (`weights`). */
  method?: "data" | "weights";
  /** Rounds over all pairs. Default 8. */
  rounds?: number;
  /** Samples of the calibration data measured (`data`). Default 16. */
  samples?: number;
  /** `data`: pairs whose channel ranges are within this factor of each other stay as they are (default 8; 0 = all). */
  minSpread?: number;
  /** Strength: s_i = (r1_i / r2_i)^alpha (default 0.5, both ranges equal). */
  alpha?: number;
  /** Bound on each channel's scale factor, both ways. Default 1e4. */
  maxScale?: number;
}

/** The options this plugin takes: a config giving any other key is refused (E_CONFIG). */
export const optionKeys: OptionKeys<EqualizePassOptions> = { method: true, alpha: true, minSpread: true, rounds: true, samples: true, maxScale: true };

/** `equalize` pass factory. */
export default function equalizePass(opts: EqualizePassOptions = {}) {
  return definePass({
    name: "equalize",
    options: opts as Record<string, unknown>,
    async run(model, ctx) {
      const pairs = findEqualizePairs(model);
      if (!pairs.length) return void ctx.logger.debug("no Conv pair to equalize");
      let activationStats: Map<string, ChannelStats> | undefined;
      if ((opts.method ?? "data") === "data") {
        const opened = await openRunData(model, ctx, "equalize", opts.samples ?? 16);
        if (!opened) return;
        const stats = await probeChannels(model, pairs.flatMap((p) => p.values.map((tensor) => ({ tensor, rank: p.rank }))), opened.dataset, { samples: Math.min(opts.samples ?? 16, opened.dataset.count), stats: ["absMax"] });
        activationStats = stats;
      }
      const r = equalize(model, { rounds: opts.rounds, maxScale: opts.maxScale, alpha: opts.alpha, minSpread: opts.minSpread, activationStats });
      ctx.logger.info(`equalized ${r.pairs} Conv pair(s) (${activationStats ? "measured activation ranges" : "weight ranges"})`);
    },
  });
}
