/**
 * computeInFloat32: a float16 graph retyped to float32 compute keeps its inputs/outputs, its stored weights (float16
 * behind a Cast), and computes the same function in onnxruntime-node — through Constant/ConstantOfShape values, Casts
 * to float16, an If whose branch reads an outer value and holds its own float16 initializer.
 */
import { describe, expect, test } from "bun:test";
import * as ort from "onnxruntime-node";
import { DataType, GraphBuilder, floatToHalf, loadModel, makeTensor, serializeModel, encodeModelProto, type Model } from "../../src/index.ts";
import { computeInFloat32, hasHalfCompute } from "../../src/quant/float32-compute.ts";
import { ortTensor, tensorFloats } from "../../src/runtime/session.ts";
import { PlacementGraph } from "../../plugins/quantizers/static-qdq/placement-graph.ts";
import { randomFloats } from "../helpers/random.ts";

const H = DataType.FLOAT16;
const half = (a: Float32Array) => Uint16Array.from(a, floatToHalf);

/** x fp16 [2,6] → MatMul(w fp16) → + Constant fp16 → If(flag){ Mul by a branch fp16 initializer } else { Neg } → y fp16; z = ConstantOfShape fp16 + Cast. */
function model(): Model {
  const thenB = new GraphBuilder("then");
  const k = thenB.initializer("k", H, [1], half(Float32Array.of(1.5)));
  thenB.output(thenB.node("Mul", ["sum", k], {}, ["then_out"]), H, [2, 4]);
  const elseB = new GraphBuilder("else");
  elseB.output(elseB.node("Neg", ["sum"], {}, ["else_out"]), H, [2, 4]);

  const b = new GraphBuilder("g");
  const x = b.input("x", H, [2, 6]);
  const flag = b.input("flag", DataType.BOOL, []);
  const w = b.initializer("w", H, [6, 4], half(randomFloats(24, 3, 0.5)));
  const c = b.node("Constant", [], { value: makeTensor("c", H, [4], half(Float32Array.of(0.25, -0.5, 1, 2))) });
  b.node("Add", [b.node("MatMul", [x, w]), c], {}, ["sum"]);
  const y = b.node("If", [flag], { then_branch: thenB.graph, else_branch: elseB.graph });
  b.graph.value_info!.push({ name: "sum", type: { tensor_type: { elem_type: H } } });
  b.output(y, H, [2, 4]);
  const shape = b.initializer("shape", DataType.INT64, [1], BigInt64Array.of(4n));
  const filled = b.node("ConstantOfShape", [shape], { value: makeTensor("v", H, [1], half(Float32Array.of(3))) });
  // A float32 detour, as exporters wrap ops without float16 kernels: Cast to float, Sqrt, Cast back to float16.
  const root = b.node("Cast", [b.node("Sqrt", [b.node("Cast", [filled], { to: DataType.FLOAT })])], { to: H });
  b.output(root, H, [4]);
  return loadModel(encodeModelProto(b.model({ opset: 17 })));
}

async function run(m: Model, flag: boolean) {
  const s = await ort.InferenceSession.create(serializeModel(m), { logSeverityLevel: 3 });
  const x = ortTensor(ort, "float16", half(randomFloats(12, 9, 2)), [2, 6]);
  const out = await s.run({ x, flag: new ort.Tensor("bool", Uint8Array.of(flag ? 1 : 0), []) });
  await s.release();
  return s.outputNames.map((n) => ({ type: out[n]!.type, values: tensorFloats(out[n]!) }));
}

describe("computeInFloat32", () => {
  test("same outputs in ONNX Runtime (both branches), float16 I/O kept, weights stored float16 behind a Cast", async () => {
    const before = model();
    const after = model();
    const r = computeInFloat32(after)!;
    expect(r).toEqual({ types: ["FLOAT16"], weights: 2, boundaryCasts: 3, retypedCasts: 1, bypassedCasts: 2 });
    const g = after.proto.graph!;
    expect([...g.input!, ...g.output!].map((v) => v.type!.tensor_type!.elem_type)).toEqual([H, DataType.BOOL, H, H]);
    // Stored data untouched: the main graph's and the branch's float16 initializers are still float16.
    expect(g.initializer!.filter((t) => t.data_type === H).map((t) => t.name)).toEqual(["w_float16"]);
    const thenG = g.node!.find((n) => n.op_type === "If")!.attribute!.find((a) => a.name === "then_branch")!.g!;
    expect(thenG.initializer![0]!.data_type).toBe(H);
    expect(thenG.output![0]!.type!.tensor_type!.elem_type).toBe(DataType.FLOAT);
    // Every value inside is float32 now: the placement graph sees the MatMul's output as float.
    const pg = new PlacementGraph(after);
    expect(pg.types.get("sum")).toBe(DataType.FLOAT);
    expect(pg.constantOf(g.node!.find((n) => n.op_type === "MatMul")!.input![1]!)!.name).toBe("w_float16");
    for (const flag of [true, false]) {
      const [a, b] = [await run(before, flag), await run(after, flag)];
      expect(b.map((o) => o.type)).toEqual(["float16", "float16"]);
      // float32 compute rounds once at the end instead of after every op: equal within float16 rounding.
      for (let o = 0; o < 2; o++) for (let i = 0; i < a[o]!.values.length; i++) expect(Math.abs(a[o]!.values[i]! - b[o]!.values[i]!)).toBeLessThanOrEqual(Math.abs(a[o]!.values[i]!) * 2 ** -9 + 1e-3);
    }
    expect(hasHalfCompute(after)).toBe(true); // the I/O and stored weights are still float16: callers remember
  });

  test("a branch that returns the outer float16 input itself returns its float copy (interface and type agree)", () => {
    const build = () => {
      const thenB = new GraphBuilder("then");
      thenB.graph.output!.push({ name: "x", type: { tensor_type: { elem_type: H, shape: { dim: [{ dim_value: 2 }, { dim_value: 6 }] } } } });
      const elseB = new GraphBuilder("else");
      elseB.output(elseB.node("Neg", ["x"], {}, ["else_out"]), H, [2, 6]);
      const b = new GraphBuilder("g");
      b.input("x", H, [2, 6]);
      b.input("flag", DataType.BOOL, []);
      b.output(b.node("If", ["flag"], { then_branch: thenB.graph, else_branch: elseB.graph }), H, [2, 6]);
      // A second output, so the model is not only the If.
      b.output(b.node("Relu", ["x"]), H, [2, 6]);
      return loadModel(encodeModelProto(b.model({ opset: 17 })));
    };
    const after = build();
    computeInFloat32(after);
    const thenG = after.proto.graph!.node!.find((n) => n.op_type === "If")!.attribute!.find((a) => a.name === "then_branch")!.g!;
    expect(thenG.output![0]!.name).toBe("x_float");
    expect(thenG.output![0]!.type!.tensor_type!.elem_type).toBe(DataType.FLOAT);
    // ONNX Runtime refuses a branch returning an outer value directly (it wants an Identity), so this is judged on
    // the graph: the branch's declared float output must name the float value, not the float16 input.
    expect(after.proto.graph!.node!.find((n) => n.output?.includes("x_float"))!.op_type).toBe("Cast");
  });

  test("a float32 model is left untouched", () => {
    const b = new GraphBuilder();
    b.output(b.node("Relu", [b.input("x", DataType.FLOAT, [2])]), DataType.FLOAT, [2]);
    const m = loadModel(encodeModelProto(b.model()));
    const bytes = serializeModel(m);
    expect(computeInFloat32(m)).toBeUndefined();
    expect(Buffer.compare(Buffer.from(serializeModel(m)), Buffer.from(bytes))).toBe(0);
  });
});
