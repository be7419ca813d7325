/**
 * Preset for weight-only INT4: block-wise (32) symmetric INT4 on MatMul/Gemm/Gather weights, native opset-21 storage.
 */
import { defineConfig } from "../../src/index.ts";

export default defineConfig({
  bits: 4,
  blockSize: 32,
  symmetric: true,
  nativeInt4: true,
  opTypes: ["MatMul", "Gemm", "Gather"],
  plugins: ["normalize", "weight-only", "int4", "int8", "onnx", "connectivity"],
});
