/**
 * Preset for Transformer encoders/decoders: dynamic INT8 on MatMul/Gemm (weights int8 per-channel symmetric,
 * activations quantized at run time by DynamicQuantizeLinear; ONNX Runtime fuses DynamicQuantizeMatMul). No
 * calibration data needed. Softmax, LayerNormalization and their decompositions stay float.
 *
 * Why not static INT8: on digits_transformer (ORT, 1 thread) static Q/DQ runs at 0.72× (batch 1) / 0.86× (batch 8) /
 * 0.93× (batch 64) the fp32 speed, dynamic at 0.90× / 1.11× / 1.17×, with a higher logits SQNR (43.7 vs 39.9 dB): the
 * activation Q/DQ pairs around every MatMul cost more than the integer GEMMs save at these sizes.
 *
 * Why `minElements: 32768`: dynamic INT8 adds a DynamicQuantizeLinear and a scale per MatMul, a fixed cost that a
 * small weight does not earn back at batch 1. Measured on chains of K×K MatMuls, input [1, M, K] (bench/dynamic-threshold.ts,
 * ORT, 1 thread): K = 128 (16384 elements) 0.79× fp32 at M = 1, 0.90× at M = 8; K = 160 (25600) 0.89× / 1.28×;
 * K = 192 (36864) 1.08× / 1.38×; K = 256 (65536) 1.48× / 1.61×. Weights below 2^15 elements therefore stay float, and
 * a model made only of such layers (digits_transformer: 64-wide, largest weight 12288 elements, 0.90–0.97× at batch
 * 1 when quantized) is left float with a warning rather than made slower. `--min-elements 0` (or `--mode dynamic`)
 * quantizes them anyway, which pays from batch 8 (digits_transformer 1.11×).
 */
import { defineConfig } from "../../src/index.ts";

export default defineConfig({
  bits: 8,
  perChannel: true,
  symmetric: true,
  opTypes: ["MatMul", "Gemm"],
  minElements: 32768,
  plugins: ["normalize", ["dynamic", { opTypes: ["MatMul", "Gemm"] }], "int8", "onnx", "connectivity"],
});
