/** Small models built in code for tests that must pass on a fresh clone. */
import { DataType, GraphBuilder, encodeModelProto, loadModel, type Model } from "../../src/index.ts";
import { randomFloats } from "./random.ts";
export { randomFloats };


/** x[1,8] → MatMul(W[8,16]) → Add(b) → Relu → MatMul(W2[16,4]) → y[1,4]. */
export function mlpModel(opset = 13): Model {
  const b = new GraphBuilder("mlp");
  const x = b.input("x", DataType.FLOAT, [1, 8]);
  const w1 = b.initializer("w1", DataType.FLOAT, [8, 16], randomFloats(128, 3));
  const b1 = b.initializer("b1", DataType.FLOAT, [16], randomFloats(16, 5));
  const w2 = b.initializer("w2", DataType.FLOAT, [16, 4], randomFloats(64, 7));
  const h = b.node("Relu", [b.node("Add", [b.node("MatMul", [x, w1], {}, 1, { name: "fc1" }), b1])]);
  b.node("MatMul", [h, w2], {}, ["y"], { name: "fc2" });
  b.output("y", DataType.FLOAT, [1, 4]);
  return loadModel(encodeModelProto(b.model({ opset })));
}
