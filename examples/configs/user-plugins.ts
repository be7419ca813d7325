/**
 * A config that runs two user plugins from examples/plugins without any change to quant's src/ or plugins/:
 * a custom calibrator (mean ± k·std) and a custom exporter (quantized tensors as safetensors).
 * Run:  bun x quant config examples/configs/user-plugins.ts
 */
import { defineConfig } from "quant";

export default defineConfig({
  extends: ["cnn"],
  data: "../digits_cnn_calib.npy",
  plugins: [
    // Drop the preset's calibrator and add ours (each kind runs in its own phase, in chain order) …
    "!minmax",
    ["../plugins/mean-std-calibrator.ts", { k: 4 }],
    // … and append two exporters after the preset's onnx exporter.
    ["../plugins/safetensors-exporter.ts", {}],
    "stats-json",
  ],
  models: [{ input: "../digits_cnn.onnx", output: "../../out/digits_cnn.user.onnx" }],
});
