import { describe, expect, test } from "bun:test";
import { builtinPlugins } from "../../../plugins/registry.ts";
import * as ort from "onnxruntime-node";
import { DataType, GraphBuilder, encodeModelProto, foldConvAffine, loadModel, serializeModel, type Model } from "../../../src/index.ts";
import { randomFloats } from "../../helpers/models.ts";

async function run(bytes: Uint8Array, x: Float32Array, dims: number[]): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: "disabled" });
  return (await s.run({ x: new ort.Tensor("float32", x, dims) })).y!.data as Float32Array;
}

/** max |a − b| / max |a|. */
function relErr(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(a[i]!));
  }
  return d / m;
}

const ops = (m: Model) => m.proto.graph!.node!.map((n) => n.op_type);

describe("fold-conv-affine", () => {
  test("Mul/Add, Sub/Div chains after Convs fold into them; ORT outputs equal within 1e-5 relative", async () => {
    const b = new GraphBuilder();
    b.input("x", DataType.FLOAT, [1, 4, 8, 8]);
    b.initializer("w1", DataType.FLOAT, [6, 4, 3, 3], randomFloats(216, 1));
    b.initializer("b1", DataType.FLOAT, [6], randomFloats(6, 2));
    b.initializer("gamma", DataType.FLOAT, [1, 6, 1, 1], new Float32Array([0.02, 1, 5, -3, 0.5, 40]));
    b.initializer("beta", DataType.FLOAT, [6, 1, 1], new Float32Array([1, -2, 0.5, 0, 3, -1]));
    b.initializer("w2", DataType.FLOAT, [6, 6, 1, 1], randomFloats(36, 3)); // no bias: the Add creates one
    b.initializer("shift", DataType.FLOAT, [], new Float32Array([0.75]));
    b.initializer("div", DataType.FLOAT, [1, 6, 1, 1], new Float32Array([2, 4, 0.5, -8, 1, 3]));
    const c1 = b.node("Conv", ["x", "w1", "b1"], { pads: [1, 1, 1, 1] });
    const m = b.node("Mul", ["gamma", c1]); // constant first: Mul commutes
    const a = b.node("Add", [m, "beta"]);
    const r = b.node("Relu", [a]);
    const c2 = b.node("Conv", [r, "w2"]);
    const s = b.node("Sub", [c2, "shift"]);
    b.node("Div", [s, "div"], {}, ["y"]);
    b.output("y", DataType.FLOAT, [1, 6, 8, 8]);
    const bytes = encodeModelProto(b.model({ opset: 13 }));
    const model = loadModel(bytes);
    const folded = foldConvAffine(model);
    expect(folded.map((f) => f.op).sort()).toEqual(["Add", "Div", "Mul", "Sub"]);
    expect(ops(model)).toEqual(["Conv", "Relu", "Conv"]);
    // The replaced constants are gone; nothing else is left over.
    expect(model.proto.graph!.initializer!.length).toBe(4);
    const x = randomFloats(256, 9);
    const err = relErr(await run(bytes, x, [1, 4, 8, 8]), await run(serializeModel(model), x, [1, 4, 8, 8]));
    expect(err).toBeLessThan(1e-5);
  });

  test("what is not a per-channel affine of a Conv output stays", () => {
    const b = new GraphBuilder();
    b.input("x", DataType.FLOAT, [1, 2, 4, 4]);
    b.input("g", DataType.FLOAT, [1, 2, 1, 1]);
    b.initializer("w", DataType.FLOAT, [2, 2, 1, 1], randomFloats(4, 1));
    b.initializer("alongW", DataType.FLOAT, [1, 1, 1, 4], new Float32Array([1, 2, 3, 4]));
    b.initializer("k", DataType.FLOAT, [2, 1, 1], new Float32Array([1, 2]));
    const c1 = b.node("Conv", ["x", "w"]);
    b.node("Mul", [c1, "alongW"], {}, ["y1"]); // varies along W, not per channel
    const c2 = b.node("Conv", ["x", "w"]);
    b.node("Sub", ["k", c2], {}, ["y2"]); // k − conv
    const c3 = b.node("Conv", ["x", "w"]);
    b.node("Mul", [c3, "g"], {}, ["y3"]); // a graph input, not a constant
    const c4 = b.node("Conv", ["x", "w"]);
    b.node("Add", [c4, "k"], {}, ["y4"]);
    b.node("Relu", [c4], {}, ["y5"]); // the Conv output has another reader
    for (const y of ["y1", "y2", "y3", "y4", "y5"]) b.output(y);
    const model = loadModel(encodeModelProto(b.model({ opset: 13 })));
    expect(foldConvAffine(model)).toEqual([]);
    expect(ops(model)).toEqual(["Conv", "Mul", "Conv", "Sub", "Conv", "Mul", "Conv", "Add", "Relu"]);
  });

  test("a weight shared with another Conv is folded into a copy; the other Conv keeps the original", async () => {
    const b = new GraphBuilder();
    b.input("x", DataType.FLOAT, [1, 3, 5, 5]);
    b.initializer("w", DataType.FLOAT, [3, 3, 3, 3], randomFloats(81, 4));
    b.initializer("g", DataType.FLOAT, [1, 3, 1, 1], new Float32Array([3, -1, 0.25]));
    const c1 = b.node("Conv", ["x", "w"], { pads: [1, 1, 1, 1] });
    const m = b.node("Mul", [c1, "g"]);
    const c2 = b.node("Conv", ["x", "w"], { pads: [1, 1, 1, 1] });
    b.node("Add", [m, c2], {}, ["y"]);
    b.output("y", DataType.FLOAT, [1, 3, 5, 5]);
    const bytes = encodeModelProto(b.model({ opset: 13 }));
    const model = loadModel(bytes);
    expect(foldConvAffine(model).length).toBe(1);
    const convs = model.proto.graph!.node!.filter((n) => n.op_type === "Conv");
    expect(convs[1]!.input![1]).toBe("w");
    expect(convs[0]!.input![1]).not.toBe("w");
    const x = randomFloats(75, 5);
    expect(relErr(await run(bytes, x, [1, 3, 5, 5]), await run(serializeModel(model), x, [1, 3, 5, 5]))).toBeLessThan(1e-5);
  });

  test("the plugin runs from a config chain", async () => {
    const { resolveChain } = await import("../../../src/index.ts");
    const [p] = await resolveChain(["fold-conv-affine"], { registry: builtinPlugins });
    expect(p!.kind).toBe("pass");
    expect(p!.name).toBe("fold-conv-affine");
  });
});
