/**
 * Small models in quantized forms, for the "already quantized" tests.
 */
import { GraphBuilder } from "../../src/onnx/builder.ts";
import { DataType } from "../../src/tensor/dtypes.ts";
import { randomFloats } from "./random.ts";

export const f32 = (n: number, v = 0.5) => new Float32Array(n).fill(v);

/** x[2,4] → MatMul(W1 [4,4]) → MatMul(W2 [4,3]) → y; each weight either float or int8 behind a DequantizeLinear. */
export function twoMatMuls(q1: boolean, q2: boolean, opts: { transposeW2?: boolean } = {}) {
  const b = new GraphBuilder();
  b.input("x", DataType.FLOAT, [2, 4]);
  b.initializer("s", DataType.FLOAT, [], f32(1, 0.1));
  const weight = (name: string, dims: number[], q: boolean) => {
    const n = dims[0]! * dims[1]!;
    if (!q) return b.initializer(name, DataType.FLOAT, dims, randomFloats(n, n));
    b.initializer(`${name}_q`, DataType.INT8, dims, Int8Array.from(randomFloats(n, n), (v) => Math.round(v * 10)));
    return b.node("DequantizeLinear", [`${name}_q`, "s"], {}, [name]);
  };
  const w1 = weight("W1", [4, 4], q1);
  let w2 = weight("W2", opts.transposeW2 ? [3, 4] : [4, 3], q2);
  if (opts.transposeW2) w2 = b.node("Transpose", [w2], { perm: [1, 0] }, ["W2t"]);
  const h = b.node("MatMul", ["x", w1], {}, ["h"]);
  b.node("MatMul", [h, w2], {}, ["y"]);
  b.output("y", DataType.FLOAT, [2, 3]);
  return b.model({ opset: 13 });
}

