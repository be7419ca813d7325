/**
 * Preset for Transformer encoders/decoders: INT8 per-channel weights and activations on MatMul/Gemm only; Softmax,
 * LayerNormalization and their decompositions stay float.
 */
import { defineConfig } from "../../src/index.ts";

export default defineConfig({
  family: "transformer",
  bits: 8,
  perChannel: true,
  symmetric: true,
  activationType: "uint8",
  opTypes: ["MatMul", "Gemm"],
  method: "minmax",
  plugins: ["normalize", "minmax", ["static-qdq", { opTypes: ["MatMul", "Gemm"] }], "int8", "onnx", "connectivity"],
});
