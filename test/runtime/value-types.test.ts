import { describe, expect, test } from "bun:test";
import { loadModel } from "../../src/onnx/codec.ts";
import { GraphIndex } from "../../src/onnx/graph.ts";
import { localTypes, ortTypes } from "../../src/runtime/value-types.ts";
import { corpus, hasCorpus } from "../helpers/corpus.ts";

describe.skipIf(!hasCorpus)("local type rules agree with onnxruntime on the corpus", () => {
  for (const name of ["digits_cnn", "digits_transformer", "squeezenet1_1", "mobilenet_v2", "resnet18"]) {
    test(name, async () => {
      const model = loadModel(corpus(`${name}.onnx`));
      const outputs = model.proto.graph!.node!.flatMap((n) => n.output ?? []).filter(Boolean);
      const local = localTypes(new GraphIndex(model), outputs);
      const ort = await ortTypes(model, outputs);
      // Every value of these models follows from the local rules (no onnxruntime probe needed)…
      expect(outputs.filter((o) => !local.has(o))).toEqual([]);
      // …and each type, and each rank the rules claim, is what onnxruntime infers.
      for (const o of outputs) {
        const l = local.get(o)!;
        const r = ort.get(o)!;
        expect([o, l.type]).toEqual([o, r.type]);
        if (l.rank !== undefined && r.rank !== undefined) expect([o, l.rank]).toEqual([o, r.rank]);
      }
    });
  }
});
