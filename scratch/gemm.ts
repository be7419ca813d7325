import { encodeModelProto, GraphBuilder, DataType } from "../src/index.ts";
import { writeFileSync } from "node:fs";
import { randomFloats } from "../test/helpers/random.ts";
const b = new GraphBuilder();
const H = 64, I = 32;
b.input("x", DataType.FLOAT, [4, I]);
b.initializer("W", DataType.FLOAT, [4 * H, I], randomFloats(4 * H * I, 1, 0.1));
b.initializer("B", DataType.FLOAT, [4 * H], randomFloats(4 * H, 2, 0.1));
b.initializer("ax", DataType.INT64, [1], BigInt64Array.of(0n));
const outs: string[] = [];
for (let k = 0; k < 4; k++) {
  b.initializer(`s${k}`, DataType.INT64, [1], BigInt64Array.of(BigInt(k * H)));
  b.initializer(`e${k}`, DataType.INT64, [1], BigInt64Array.of(BigInt((k + 1) * H)));
  const w = b.node("Slice", ["W", `s${k}`, `e${k}`, "ax"]);
  const bb = b.node("Slice", ["B", `s${k}`, `e${k}`, "ax"]);
  outs.push(b.node("Sigmoid", [b.node("Gemm", ["x", w, bb], { transB: 1 })]));
}
b.node("Concat", outs, { axis: 1 }, ["y"]);
b.output("y", DataType.FLOAT, [4, 4 * H]);
writeFileSync("/tmp/wq/gemm.onnx", encodeModelProto(b.model({ opset: 13 })));
