/**
 * The corpus models (opset 13/14) converted to opset 21 compute exactly what they computed before, on random inputs,
 * in onnxruntime-node with its full graph optimizations.
 */
import { describe, expect, test } from "bun:test";
import { loadModel } from "../../src/onnx/codec.ts";
import { num } from "../../src/onnx/types.ts";
import { corpus, hasCorpus } from "../helpers/corpus.ts";
import { expectSameAfterConversion, opsetOf, randomTensor } from "./opset-harness.ts";

// [file, input, dims, nodes rewritten (the transformer's 11 ReduceMean move axes to an input at 18)]
const MODELS: [file: string, input: string, dims: number[], rewritten: number][] = [
  ["digits_cnn.onnx", "image", [1, 1, 32, 32], 0],
  ["digits_transformer.onnx", "rows", [1, 8, 8], 11],
  ["squeezenet1_1.onnx", "input", [1, 3, 224, 224], 0],
  ["mobilenet_v2.onnx", "input", [1, 3, 224, 224], 0],
  ["resnet18.onnx", "input", [1, 3, 224, 224], 0],
];

describe.skipIf(!hasCorpus)("corpus models → opset 21", () => {
  for (const [file, input, dims, rewritten] of MODELS) {
    test(file, async () => {
      const model = loadModel(corpus(file));
      const from = opsetOf(model.proto)!;
      const nodes = model.proto.graph!.node!.length;
      const { result, expected } = await expectSameAfterConversion(model, 21, { feeds: { [input]: randomTensor(dims, 17) }, optimize: true });
      expect(result.from).toBe(from);
      expect(result.converted).toHaveLength(rewritten);
      expect(opsetOf(model.proto)).toBe(21);
      expect(num(model.proto.ir_version)).toBe(10);
      expect(model.proto.graph!.node!.length).toBe(nodes);
      expect(Object.keys(expected).length).toBeGreaterThan(0);
    }, 30_000);
  }
});
