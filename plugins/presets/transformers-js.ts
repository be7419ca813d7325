/**
 * Preset for models shipped to transformers.js: its default WASM dtype, "q8" (`model_quantized.onnx`) — dynamic INT8,
 * MatMul/Gemm/Conv → DynamicQuantizeLinear + MatMulInteger/ConvInteger, uint8 weights when the model has a Conv
 * (ONNX Runtime's ConvInteger wants them), int8 otherwise, per-channel symmetric. No calibration data needed.
 * For the whole set of files transformers.js loads by dtype (fp16, q8, int8, uint8, q4, q4f16, bnb4) use
 * `quant variants model.onnx -o onnx/`.
 */
import { defineConfig } from "../../src/index.ts";

export default defineConfig({
  bits: 8,
  perChannel: true,
  symmetric: true,
  plugins: ["normalize", "dynamic", "int8", "onnx", "connectivity"],
});
