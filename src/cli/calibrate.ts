/** `quant calibrate`: static quantization calibrated in onnxruntime-node. */
import { defineCommand } from "citty";
import { calibArgs, configArgs, globalArgs, weightArgs } from "./args.ts";
import { runQuantCommand } from "./quantize-common.ts";

export default defineCommand({
  meta: {
    name: "calibrate",
    description: `Static quantization: activations and weights, ranges calibrated by running the model in onnxruntime-node.

Examples:
  quant calibrate model.onnx --data calib.npy -o model.qdq.onnx --per-channel
  quant calibrate model.onnx --data images/ --method entropy --samples 256 --batch-size 8 -o out.onnx
  quant calibrate model.onnx --shape 1x3x224x224 --preset cnn -o out.onnx      (random data, with a warning)
  quant calibrate model.onnx --data calib.npy --stats-out ranges.json -o a.onnx
  quant calibrate model.onnx --stats-in ranges.json --method mse -o b.onnx    (no inference)
  quant calibrate vad.onnx --data calib/ --input sr=16000 -o vad.qdq.onnx     (calib/<input>.npy per input)
  quant calibrate vad.onnx --data calib.npz --sample-axis state=1 -o out.onnx  (state [2, batch, 128]: samples on axis 1)`,
  },
  args: {
    model: { type: "positional", required: true, description: "Input ONNX model" },
    output: { type: "string", alias: "o", description: "Output path (default <model>.qdq.onnx)" },
    detailed: { type: "boolean", description: "Per-layer error for every tensor in the summary" },
    ...calibArgs,
    ...weightArgs,
    ...configArgs,
    ...globalArgs,
  },
  run: ({ args, rawArgs }) => runQuantCommand("static", args, rawArgs),
});
