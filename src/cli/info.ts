/** `quant info`: what a model is made of. */
import { defineCommand } from "citty";
import { loadModel } from "../onnx/codec.ts";
import { formatInfo, modelInfo } from "../onnx/info.ts";
import { globalArgs } from "./args.ts";
import { printJson, wantsJson, type GlobalFlags } from "./io.ts";

/** Examples printed by `quant info --help`; test/cli/examples.test.ts runs every one. */
export const examples = [
  "quant info model.onnx",
  "quant info model.onnx --format json | jq .weights",
];

export default defineCommand({
  meta: {
    name: "info",
    description: `IR version and opsets, producer, node counts by op type, inputs/outputs, weights by dtype and location, quantization state.`,
  },
  args: { model: { type: "positional", required: true, description: "ONNX model" }, ...globalArgs },
  run({ args }) {
    const json = wantsJson(args as GlobalFlags);
    const model = loadModel(String(args.model));
    try {
      const info = modelInfo(model);
      if (json) printJson(info);
      else process.stdout.write(`${formatInfo(info)}\n`);
    } finally {
      model.external?.close();
    }
    return 0;
  },
});
