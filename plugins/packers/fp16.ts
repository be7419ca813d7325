/**
 * `fp16` packer: converts the model to float16 (weights and activations) after the other graph-level packers ran —
 * alone (`["fp16", "onnx"]`: transformers.js's model_fp16.onnx) or after quantization (q4f16: weight-only INT4 →
 * `matmulnbits` → `fp16`, MatMulNBits scales in float16). The main graph's float32 inputs and outputs are kept with
 * Casts at the boundary; block-listed ops keep float32 with Casts around them. Integer tensors pass untouched.
 */
import {
  convertToFloat16, definePacker, findWeights, spillOf, streamPlan, DataType, type Float16Options, type Model, type PendingTensor, type PluginContext,
} from "../../src/index.ts";

/** Bytes of float32 weights in the model (what conversion reads). */
function floatBytes(model: Model): number {
  return findWeights(model).reduce((s, w) => s + (w.dataType === DataType.FLOAT ? w.bytes : 0), 0);
}

/** Options of the `fp16` packer. */
export interface Fp16Options extends Float16Options {}

/** `fp16` packer factory. */
export default function fp16(opts: Fp16Options = {}) {
  return definePacker({
    name: "fp16",
    options: { ...opts },
    packGraph(model: Model, _pending: readonly PendingTensor[], ctx: PluginContext) {
      // A big model streams: each converted tensor goes to disk as it is made (see streamPlan).
      if (streamPlan(model, floatBytes(model), ctx.options).stream) spillOf(model, { output: ctx.options.output });
      const r = convertToFloat16(model, opts);
      ctx.logger.info(`float16: ${r.tensors} tensor(s) converted, ${r.blocked} node(s) kept float32, ${r.casts} Cast(s) added`);
      if (r.clamped)
        ctx.logger.warn(`${r.clamped} value(s) beyond the float16 range clamped to ±65504 in ${r.clampedTensors.length} tensor(s): ${r.clampedTensors.slice(0, 5).join(", ")}${r.clampedTensors.length > 5 ? ", …" : ""}`);
      return { packed: [] };
    },
    accepts: () => false,
    pack() {},
  });
}
