/** `quant calibrate`: static quantization calibrated in onnxruntime-node. */
import { defineCommand } from "citty";
import { calibArgs, configArgs, globalArgs, weightArgs } from "./args.ts";
import { targetArgs } from "./target-args.ts";
import { runQuantCommand } from "./quantize-common.ts";

/** Examples printed by `quant calibrate --help`; test/cli/examples.test.ts runs every one. */
export const examples = [
  "quant calibrate model.onnx --data calib.npy -o model.qdq.onnx --per-channel",
  "quant calibrate model.onnx --data images/ --image-preset unit --method entropy --samples 4 --batch-size 2 -o model.entropy.onnx",
  "quant calibrate model.onnx --shape 1x1x32x32 --preset cnn -o model.random.onnx   (random data, announced)",
  "quant calibrate model.onnx --data calib.npy --stats-out ranges.json -o a.onnx",
  "quant calibrate model.onnx --stats-in ranges.json --method mse -o b.onnx   (no inference)",
];

export default defineCommand({
  meta: {
    name: "calibrate",
    description: `Static quantization: activations and weights, ranges calibrated by running the model in onnxruntime-node.`,
  },
  args: {
    model: { type: "positional", required: true, description: "Input ONNX model" },
    output: { type: "string", alias: "o", description: "Output path (default <model>.qdq.onnx)" },
    detailed: { type: "boolean", description: "Per-layer error for every tensor in the summary" },
    report: { type: "string", description: "Also write a self-contained HTML report (accuracy on the run's data, per-layer error, worst tensors' ranges, size breakdown, decisions)", valueHint: "FILE.html" },
    ...calibArgs,
    ...weightArgs,
    ...targetArgs,
    ...configArgs,
    ...globalArgs,
  },
  run: ({ args, rawArgs }) => runQuantCommand("static", args, rawArgs),
});
