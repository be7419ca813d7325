/**
 * `fold-conv-affine` prepare pass: a constant per-channel Mul/Add/Sub/Div after a Conv (learnable affine, an unfolded
 * normalization) folded into the Conv's weight and bias — the same function, one node instead of several, and the
 * Conv's output no longer has to be quantized before a float Mul.
 */
import { definePass, foldConvAffine, type OptionKeys } from "../../src/index.ts";

/** This plugin takes no options: a config giving any is refused (E_CONFIG). */
export const optionKeys: OptionKeys<Record<string, never>> = {};

/** `fold-conv-affine` pass factory. */
export default function foldConvAffinePass(_opts: Record<string, unknown> = {}) {
  return definePass({
    name: "fold-conv-affine",
    run(model, ctx) {
      const folded = foldConvAffine(model);
      if (folded.length) ctx.logger.info(`folded ${folded.length} constant ${[...new Set(folded.map((f) => f.op))].join("/")} node(s) into the Conv before them`);
    },
  });
}
