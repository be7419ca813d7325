import { describe, expect, test } from "bun:test";
import * as ort from "onnxruntime-node";
import { DataType, GraphBuilder, encodeModelProto, loadModel, serializeModel } from "../../../src/index.ts";
import { foldBatchNorm } from "../../../plugins/passes/fold-batchnorm.ts";
import { randomFloats } from "../../helpers/models.ts";

async function run(bytes: Uint8Array, x: Float32Array) {
  const s = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: "disabled" });
  return (await s.run({ x: new ort.Tensor("float32", x, [1, 3, 6, 6]) })).y!.data as Float32Array;
}

describe("fold-batchnorm", () => {
  test("Conv→BN→Relu folds into Conv→Relu with the same outputs (to float rounding)", async () => {
    for (const withBias of [true, false]) {
      const b = new GraphBuilder();
      b.input("x", DataType.FLOAT, [1, 3, 6, 6]);
      b.initializer("w", DataType.FLOAT, [4, 3, 3, 3], randomFloats(108, 11));
      if (withBias) b.initializer("cb", DataType.FLOAT, [4], randomFloats(4, 12));
      b.initializer("g", DataType.FLOAT, [4], new Float32Array([1.5, -0.5, 2, 0.25]));
      b.initializer("be", DataType.FLOAT, [4], new Float32Array([0.1, 0.2, -0.3, 0]));
      b.initializer("m", DataType.FLOAT, [4], new Float32Array([0.05, -0.1, 0.3, 1]));
      b.initializer("v", DataType.FLOAT, [4], new Float32Array([1, 0.5, 2, 0.01]));
      const c = b.node("Conv", ["x", "w", ...(withBias ? ["cb"] : [])], { pads: [1, 1, 1, 1] });
      const bn = b.node("BatchNormalization", [c, "g", "be", "m", "v"], { epsilon: 1e-3 });
      b.node("Relu", [bn], {}, ["y"]);
      b.output("y", DataType.FLOAT, [1, 4, 6, 6]);
      const bytes = encodeModelProto(b.model({ opset: 13 }));
      const model = loadModel(bytes);
      expect(foldBatchNorm(model)).toBe(1);
      expect(model.proto.graph!.node!.map((n) => n.op_type)).toEqual(["Conv", "Relu"]);
      expect(model.proto.graph!.initializer!.map((t) => t.name).sort()).toEqual(withBias ? ["cb", "w"] : ["Conv_node_1_folded_bias", "w"].sort());
      const x = randomFloats(108, 99);
      const a = await run(bytes, x);
      const f = await run(serializeModel(model), x);
      let maxErr = 0;
      for (let i = 0; i < a.length; i++) maxErr = Math.max(maxErr, Math.abs(a[i]! - f[i]!));
      expect(maxErr).toBeLessThan(2e-5);
    }
  });
  test("a Conv output read by something else besides BN is not folded", () => {
    const b = new GraphBuilder();
    b.input("x", DataType.FLOAT, [1, 3, 6, 6]);
    b.initializer("w", DataType.FLOAT, [4, 3, 1, 1], randomFloats(12, 1));
    for (const n of ["g", "be", "m", "v"]) b.initializer(n, DataType.FLOAT, [4], new Float32Array([1, 1, 1, 1]));
    const c = b.node("Conv", ["x", "w"]);
    b.node("BatchNormalization", [c, "g", "be", "m", "v"], {}, ["y"]);
    b.node("Relu", [c], {}, ["z"]);
    b.output("y");
    b.output("z");
    const model = loadModel(encodeModelProto(b.model({ opset: 13 })));
    expect(foldBatchNorm(model)).toBe(0);
  });
});
