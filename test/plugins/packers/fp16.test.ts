/**
 * fp16 packer: every scope's tensors, Constants, Cast targets and value_info become float16; float32 model inputs and
 * outputs are kept through boundary Casts; block-listed ops stay float32 between Casts; out-of-range values are
 * clamped and counted. Outputs checked in ONNX Runtime against the float32 model.
 */
import { describe, expect, test } from "bun:test";
import { consola } from "consola";
import * as ort from "onnxruntime-node";
import {
  DataType, GraphBuilder, convertToFloat16, encodeModelProto, loadModel, runPipeline, serializeModel, sqnrDb, type Model,
} from "../../../src/index.ts";
import fp16 from "../../../plugins/packers/fp16.ts";
import { randomFloats } from "../../helpers/models.ts";

async function run(m: Model, feeds: Record<string, ort.Tensor>) {
  const s = await ort.InferenceSession.create(serializeModel(m), { intraOpNumThreads: 1, logSeverityLevel: 3 });
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

function model() {
  const then = new GraphBuilder("then");
  then.initializer("T", DataType.FLOAT, [8], randomFloats(8, 4));
  then.node("Add", ["h", "T"], {}, ["t"]);
  then.output("t", DataType.FLOAT, [2, 8]);
  const els = new GraphBuilder("else");
  els.node("Max", ["h", "h"], {}, ["e"], { name: "max_in_branch" }); // block-listed inside a subgraph
  els.output("e", DataType.FLOAT, [2, 8]);
  const b = new GraphBuilder();
  b.input("x", DataType.FLOAT, [2, 8]);
  b.input("cond", DataType.BOOL, []);
  b.initializer("W", DataType.FLOAT, [8, 8], randomFloats(64, 1));
  b.initializer("Big", DataType.FLOAT, [8], Float32Array.of(1e6, -7e4, 1, 2, 3, 4, 5, 6));
  b.node("MatMul", ["x", "W"], {}, ["mm"]);
  b.node("Constant", [], { value_floats: { floats: [0.5, 0.25, 1, 1, 1, 1, 1, 1] } }, ["c"]);
  b.node("Mul", ["mm", "c"], {}, ["h"]);
  b.node("If", ["cond"], { then_branch: then.graph, else_branch: els.graph }, ["i"]);
  b.node("Shape", ["i"], {}, ["s"]);
  b.node("Cast", ["s"], { to: DataType.FLOAT }, ["sf"]);
  b.node("ReduceSum", ["sf"], { keepdims: 0 }, ["n"]);
  b.node("Div", ["i", "n"], {}, ["y"]);
  b.node("Min", ["Big", "x"], {}, ["z"], { name: "min_out" }); // block-listed, feeds an output directly
  b.node("Constant", [], { value: { name: "", data_type: DataType.FLOAT, dims: [], float_data: [0] } }, ["zero"]);
  b.node("Constant", [], { value: { name: "", data_type: DataType.FLOAT, dims: [], float_data: [70000.5] } }, ["lim"]);
  b.node("Constant", [], { value: { name: "", data_type: DataType.FLOAT, dims: [], float_data: [10000] } }, ["one"]);
  b.node("Range", ["zero", "lim", "one"], {}, ["r"]);
  b.output("y", DataType.FLOAT, [2, 8]);
  b.output("z", DataType.FLOAT, [2, 8]);
  b.output("r", DataType.FLOAT, [8]);
  return encodeModelProto(b.model({ opset: 17 }));
}

describe("fp16 conversion", () => {
  test("types in every scope, kept float32 I/O and blocked ops, clamping reported, outputs match in ORT", async () => {
    const float = loadModel(model());
    const m = loadModel(model());
    const r = convertToFloat16(m);
    const g = m.proto.graph!;
    expect(g.input!.map((v) => v.type!.tensor_type!.elem_type)).toEqual([DataType.FLOAT, DataType.BOOL]);
    expect(g.output!.map((v) => v.type!.tensor_type!.elem_type)).toEqual([DataType.FLOAT, DataType.FLOAT, DataType.FLOAT]);
    expect(g.initializer!.find((t) => t.name === "W")!.data_type).toBe(DataType.FLOAT16);
    // Big is read only by the blocked Min: it stays float32 and is not clamped.
    expect(g.initializer!.find((t) => t.name === "Big")!.data_type).toBe(DataType.FLOAT);
    const then = g.node!.find((n) => n.op_type === "If")!.attribute!.find((a) => a.name === "then_branch")!.g!;
    expect(then.initializer![0]!.data_type).toBe(DataType.FLOAT16);
    expect(then.output![0]!.type!.tensor_type!.elem_type).toBe(DataType.FLOAT16);
    const els = g.node!.find((n) => n.op_type === "If")!.attribute!.find((a) => a.name === "else_branch")!.g!;
    expect(els.node!.map((n) => n.op_type)).toEqual(["Cast", "Max", "Cast"]);
    expect(g.node!.find((n) => n.op_type === "Cast" && n.input![0] === "s")!.attribute![0]!.i).toBe(DataType.FLOAT16);
    expect(g.node!.find((n) => n.op_type === "Constant")!.attribute![0]!.t!.data_type).toBe(DataType.FLOAT16);
    expect(r.blocked).toBe(3);
    // The Range's float limits are Constants only the (blocked) Range reads: they stay float32, no Cast round trip.
    const limit = g.node!.find((n) => n.output?.[0] === "lim")!;
    expect(limit.attribute![0]!.t!.data_type).toBe(DataType.FLOAT);
    expect(g.node!.find((n) => n.op_type === "Range")!.input).toEqual(["zero", "lim", "one"]);
    expect(r.clamped).toBe(0);
    const x = randomFloats(16, 5);
    for (const c of [1, 0]) {
      const feeds = { x: new ort.Tensor("float32", x, [2, 8]), cond: new ort.Tensor("bool", Uint8Array.of(c), []) };
      const a = await run(float, feeds);
      const b = await run(m, feeds);
      expect(sqnrDb(a.y!.data as Float32Array, b.y!.data as Float32Array)).toBeGreaterThan(50);
      expect(Array.from(b.z!.data as Float32Array)).toEqual(Array.from(a.z!.data as Float32Array)); // Min stayed fp32, x fed as is
      expect(Array.from(b.r!.data as Float32Array)).toEqual([0, 1e4, 2e4, 3e4, 4e4, 5e4, 6e4, 7e4]);
    }
  });

  test("values beyond ±65504 are clamped and counted; the packer works alone in a pipeline", async () => {
    const b = new GraphBuilder();
    b.input("x", DataType.FLOAT, [4]);
    b.initializer("B", DataType.FLOAT, [4], Float32Array.of(1e6, -7e4, 65504, 1));
    b.node("Add", ["x", "B"], {}, ["y"]);
    b.output("y", DataType.FLOAT, [4]);
    const r = await runPipeline({ model: encodeModelProto(b.model({ opset: 13 })), plugins: [fp16()], write: false, logger: consola.create({ level: 0 }) });
    const t = r.model.proto.graph!.initializer![0]!;
    expect(t.data_type).toBe(DataType.FLOAT16);
    expect(Array.from(new Uint16Array(t.raw_data!.slice().buffer))).toEqual([0x7bff, 0xfbff, 0x7bff, 0x3c00]);
    const out = await run(r.model, { x: new ort.Tensor("float32", Float32Array.of(0, 0, 0, 1), [4]) });
    expect(Array.from(out.y!.data as Float32Array)).toEqual([65504, -65504, 65504, 2]);
  });
});
