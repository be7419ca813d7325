/**
 * Preset for convolutional networks (ResNet, MobileNet, SqueezeNet…): static INT8, uint8 activations, int8
 * symmetric per-channel weights, Q/DQ placed so ONNX Runtime fuses QLinearConv — with the remedies that measured as
 * gains or no-ops on every corpus and zoo CNN (bench/remedies.ts, README "Remedies"): constant per-channel Mul/Add
 * after a Conv folded into it, cross-layer equalization of pairs whose channel ranges are ≥ 8× apart, Conv outputs
 * with such ranges read only by float ops kept float, and empirical bias correction.
 */
import { defineConfig } from "../../src/index.ts";

export default defineConfig({
  bits: 8,
  perChannel: true,
  symmetric: true,
  activationType: "uint8",
  method: "minmax",
  plugins: ["normalize", "fold-batchnorm", "fold-conv-affine", "equalize", "minmax", "static-qdq", "float-spread-outputs", "bias-correction", "int8", "onnx", "connectivity"],
});
