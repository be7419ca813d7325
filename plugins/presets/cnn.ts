/**
 * Preset for convolutional networks (ResNet, MobileNet, SqueezeNet…): static INT8, uint8 activations, int8
 * symmetric per-channel weights, Q/DQ placed so ONNX Runtime fuses QLinearConv.
 */
import { defineConfig } from "../../src/index.ts";

export default defineConfig({
  bits: 8,
  perChannel: true,
  symmetric: true,
  activationType: "uint8",
  method: "minmax",
  plugins: ["normalize", "fold-batchnorm", "minmax", "static-qdq", "int8", "onnx", "connectivity"],
});
