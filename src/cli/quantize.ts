/** `quant quantize`: weight-only quantization. */
import { defineCommand } from "citty";
import { calibArgs, configArgs, globalArgs, weightArgs } from "./args.ts";
import { targetArgs } from "./target-args.ts";
import { runQuantCommand } from "./quantize-common.ts";
import { QuantError } from "../errors/errors.ts";

/** `--mode`: weight-only (default) or dynamic. */
function quantizeMode(mode: unknown): "weights" | "dynamic" {
  if (mode === undefined || mode === "weights") return "weights";
  if (mode === "dynamic") return "dynamic";
  throw new QuantError("E_USAGE", `--mode must be weights or dynamic (got ${String(mode)})`);
}

/** Examples printed by `quant quantize --help`; test/cli/examples.test.ts runs every one. */
export const examples = [
  "quant quantize model.onnx -o model.int8.onnx --per-channel",
  "quant quantize model.onnx -o model_quantized.onnx --mode dynamic   (transformers.js \"q8\")",
  "quant quantize model.onnx --bits 4 -o model.int4.onnx   (block-wise 32, native Int4 where the opset allows)",
  "quant quantize model.onnx -o model.int4c.onnx --bits 4 --block-size 32 --symmetric --clip-search",
  "quant quantize transformer.onnx -o transformer.int8.onnx --exclude 'head.*' --layer-bits '/enc/layers.1/*=4' --format json",
  "quant quantize model.onnx -o model.noconv.onnx --op-types-exclude Gemm",
  "quant quantize model.onnx -o model.int4d.onnx --bits 4 --block-size 32 --data calib.npy   (INT4 layer choice measured on real data)",
];

export default defineCommand({
  meta: {
    name: "quantize",
    description: `Weight-only quantization (weights → INT8/INT4 + DequantizeLinear), or dynamic INT8 with --mode dynamic.`,
  },
  args: {
    model: { type: "positional", required: true, description: "Input ONNX model" },
    mode: { type: "string", description: "weights (default: weights → integer + DequantizeLinear) | dynamic (MatMul/Gemm/Conv → integer ops, activations quantized at run time, no calibration)", valueHint: "weights|dynamic" },
    output: { type: "string", alias: "o", description: "Output path (default <model>.int<bits>.onnx)" },
    detailed: { type: "boolean", description: "Per-layer error for every tensor in the summary" },
    report: { type: "string", description: "Also write a self-contained HTML report (accuracy on the run's data, per-layer error, worst tensors' ranges, size breakdown, decisions)", valueHint: "FILE.html" },
    ...weightArgs,
    data: { ...calibArgs.data, description: "At --bits 4: inputs to measure each layer's sensitivity on (default: random of the declared shapes)" },
    samples: { ...calibArgs.samples, description: "Samples for the INT4 sensitivity measurement (default up to 4)" },
    shape: calibArgs.shape,
    input: calibArgs.input,
    "sample-axis": calibArgs["sample-axis"],
    ...targetArgs,
    ...configArgs,
    ...globalArgs,
  },
  run: ({ args, rawArgs }) => runQuantCommand(quantizeMode(args.mode), args, rawArgs),
});
