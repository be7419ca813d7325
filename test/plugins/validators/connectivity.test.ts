import { describe, expect, test } from "bun:test";
import { DataType, GraphBuilder, encodeModelProto, loadModel, makeTensor, type Model, type ModelProto, type NodeProto } from "../../../src/index.ts";
import { checkConnectivity } from "../../../src/validate/connectivity.ts";
import connectivity from "../../../plugins/validators/connectivity.ts";
import { checkOrtLoad } from "../../../src/validate/ort-load.ts";

/**
 * A float model and its QDQ version:
 *   float: x[1,4] → MatMul(W[4,3]) → y[1,3]
 *   qdq:   x → Q(s_x, zp_x:uint8) → DQ → MatMul(DQ(Wq:int8 [4,3], s_w[3], zp_w:int8[3], axis=1)) → y
 */
interface Fixture {
  opset?: number;
  wType?: number;
  wData?: ArrayBufferView;
  wScale?: Float32Array;
  wScaleDims?: number[];
  wZpType?: number;
  wZpDims?: number[];
  axis?: number;
  blockSize?: number;
  xScale?: number;
}

function floatModel(w = new Float32Array(12).map((_, i) => (i - 6) / 8)): Model {
  const b = new GraphBuilder("float");
  b.input("x", DataType.FLOAT, [1, 4]);
  b.initializer("W", DataType.FLOAT, [4, 3], w);
  b.node("MatMul", ["x", "W"], {}, ["y"], { name: "mm" });
  b.output("y", DataType.FLOAT, [1, 3]);
  return loadModel(encodeModelProto(b.model({ opset: 13 })));
}

function qdqProto(f: Fixture = {}): ModelProto {
  const b = new GraphBuilder("qdq");
  b.input("x", DataType.FLOAT, [1, 4]);
  b.initializer("s_x", DataType.FLOAT, [], new Float32Array([f.xScale ?? 0.02]));
  b.initializer("zp_x", DataType.UINT8, [], new Uint8Array([128]));
  b.initializer("Wq", f.wType ?? DataType.INT8, [4, 3], f.wData ?? new Int8Array(12).map((_, i) => (i - 6) * 16));
  const sDims = f.wScaleDims ?? [3];
  const nS = sDims.reduce((a, c) => a * c, 1);
  b.initializer("s_w", DataType.FLOAT, sDims, f.wScale ?? new Float32Array(nS).fill(1 / 128));
  const zDims = f.wZpDims ?? sDims;
  const zType = f.wZpType ?? f.wType ?? DataType.INT8;
  const nZ = zDims.reduce((a, c) => a * c, 1);
  b.graph.initializer!.push(makeTensor("zp_w", zType, zDims, zType === DataType.INT4 || zType === DataType.UINT4 ? new Uint8Array(Math.ceil(nZ / 2)) : zType === DataType.INT8 ? new Int8Array(nZ) : new Uint8Array(nZ)));
  b.node("QuantizeLinear", ["x", "s_x", "zp_x"], {}, ["x_q"], { name: "q_x" });
  b.node("DequantizeLinear", ["x_q", "s_x", "zp_x"], {}, ["x_dq"], { name: "dq_x" });
  const attrs: Record<string, number> = { axis: f.axis ?? 1 };
  if (f.blockSize !== undefined) attrs.block_size = f.blockSize;
  b.node("DequantizeLinear", ["Wq", "s_w", "zp_w"], attrs, ["W_dq"], { name: "dq_w" });
  b.node("MatMul", ["x_dq", "W_dq"], {}, ["y"], { name: "mm" });
  b.output("y", DataType.FLOAT, [1, 3]);
  return b.model({ opset: f.opset ?? 13 });
}

const qdq = (f?: Fixture): Model => loadModel(encodeModelProto(qdqProto(f)), { check: false });
const codes = (m: Model, original = floatModel()) => checkConnectivity(m, original).filter((d) => d.level === "error").map((d) => d.code);
const node = (p: ModelProto, name: string): NodeProto => p.graph!.node!.find((n) => n.name === name)!;

describe("connectivity: a well-formed QDQ model", () => {
  test("no errors or warnings, and ORT agrees: it loads", async () => {
    const m = qdq();
    expect(checkConnectivity(m, floatModel())).toEqual([]);
    const [d] = await checkOrtLoad(m);
    expect(d!.level).toBe("info");
  });
  test("the plugin returns the same diagnostics", async () => {
    const v = connectivity();
    expect(v.kind).toBe("validator");
    const state = { original: floatModel(), model: qdq({ xScale: 0 }), ranges: new Map(), entries: [], pending: [] };
    const ds = await v.validate(state, {} as never);
    expect(ds.map((d) => d.code)).toEqual(["dq-scale", "dq-scale"]);
  });
});

describe("connectivity: resolution", () => {
  test("a dangling node input is an error naming the node and the value; ORT refuses the model too", async () => {
    const p = qdqProto();
    node(p, "mm").input![1] = "W_missing";
    const m = loadModel(encodeModelProto(p), { check: false });
    const ds = checkConnectivity(m, floatModel()).filter((d) => d.level === "error");
    expect(ds.map((d) => d.code)).toEqual(["dangling-input"]);
    expect(ds[0]!.target).toBe("mm");
    expect(ds[0]!.message).toContain('"W_missing"');
    const [o] = await checkOrtLoad(m);
    expect(o!.level).toBe("error");
    expect(o!.code).toBe("ort-load");
    expect(o!.message).not.toContain("\n");
  });
  test("a dangling graph output", () => {
    const p = qdqProto();
    p.graph!.output![0]!.name = "nothing";
    expect(codes(loadModel(encodeModelProto(p), { check: false }))).toContain("dangling-output");
  });
  test("subgraphs: outer-scope reads resolve at any depth, and a missing one is reported in its subgraph", () => {
    const build = (innerReads: string) => {
      const inner = new GraphBuilder("inner");
      inner.node("Identity", [innerReads], {}, ["i_out"], { name: "inner_id" });
      inner.output("i_out", DataType.FLOAT, [1, 3]);
      const mid = new GraphBuilder("mid");
      mid.node("If", ["cond"], { then_branch: inner.graph, else_branch: inner.graph }, ["m_out"], { name: "inner_if" });
      mid.output("m_out", DataType.FLOAT, [1, 3]);
      const b = new GraphBuilder("main");
      b.input("x", DataType.FLOAT, [1, 4]);
      b.input("cond", DataType.BOOL, []);
      b.initializer("W", DataType.FLOAT, [4, 3], new Float32Array(12));
      b.node("MatMul", ["x", "W"], {}, ["h"], { name: "mm" });
      b.node("If", ["cond"], { then_branch: mid.graph, else_branch: mid.graph }, ["y"], { name: "outer_if" });
      b.output("y", DataType.FLOAT, [1, 3]);
      return loadModel(encodeModelProto(b.model({ opset: 13 })), { check: false });
    };
    expect(checkConnectivity(build("h"))).toEqual([]);
    const bad = checkConnectivity(build("h_typo"));
    expect(bad.map((d) => d.code)).toEqual(["dangling-input", "dangling-input", "dangling-input", "dangling-input"]);
    expect(bad[0]!.message).toContain("outer_if.then_branch/inner_if.then_branch");
  });
  test("nodes out of topological order: one warning per graph, counting the early reads (ORT sorts them itself)", () => {
    const p = qdqProto();
    p.graph!.node!.reverse();
    const ds = checkConnectivity(loadModel(encodeModelProto(p), { check: false }));
    expect(ds.map((d) => [d.level, d.code])).toEqual([["warning", "node-order"]]);
    expect(ds[0]!.message).toContain("nodes are not in topological order: 3 read(s) of values produced later");
  });
});

describe("connectivity: interface preserved", () => {
  test("a renamed output and a changed input type are io-changed errors", () => {
    const p = qdqProto();
    node(p, "mm").output![0] = "y2";
    p.graph!.output![0]!.name = "y2";
    p.graph!.input![0]!.type!.tensor_type!.elem_type = DataType.FLOAT16;
    const ds = checkConnectivity(loadModel(encodeModelProto(p), { check: false }), floatModel()).filter((d) => d.code === "io-changed");
    expect(ds.map((d) => d.target).sort()).toEqual(["x", "y", "y2"]);
    expect(ds.find((d) => d.target === "x")!.message).toContain("FLOAT → FLOAT16");
  });
  test("a changed fixed dim is io-changed; a renamed symbolic dim is not", () => {
    const p = qdqProto();
    p.graph!.input![0]!.type!.tensor_type!.shape!.dim![1] = { dim_value: 5 };
    expect(codes(loadModel(encodeModelProto(p), { check: false }))).toEqual(["io-changed"]);
    const q = qdqProto();
    q.graph!.input![0]!.type!.tensor_type!.shape!.dim![0] = { dim_param: "batch" };
    expect(codes(loadModel(encodeModelProto(q), { check: false }))).toEqual([]);
  });
});

describe("connectivity: Q/DQ rules", () => {
  test("scale 0, NaN, Inf, negative activation scale: dq-scale", () => {
    for (const v of [0, NaN, Infinity, -0.5]) {
      const ds = checkConnectivity(qdq({ wScale: new Float32Array([0.01, v, 0.01]) }));
      if (v === -0.5) expect(ds).toEqual([]); // a mirrored grid on a constant weight is valid (DQ is (q − zp)·scale)
      else {
        expect(ds.map((d) => d.code)).toEqual(["dq-scale"]);
        expect(ds[0]!.message).toContain(`[1] = ${v}`);
      }
    }
    // The activation's Q and DQ both read s_x: both are reported.
    expect(codes(qdq({ xScale: -0.02 }))).toEqual(["dq-scale", "dq-scale"]);
    expect(codes(qdq({ xScale: NaN }))).toEqual(["dq-scale", "dq-scale"]);
  });
  test("zero point of another type than the quantized input: dq-zero-point", () => {
    const ds = checkConnectivity(qdq({ wZpType: DataType.UINT8 }));
    expect(ds.map((d) => d.code)).toEqual(["dq-zero-point"]);
    expect(ds[0]!.message).toContain("UINT8");
    expect(ds[0]!.message).toContain("INT8");
  });
  test("a Q output declared with another type than its zero point: dq-zero-point", () => {
    const p = qdqProto();
    p.graph!.value_info!.push({ name: "x_q", type: { tensor_type: { elem_type: DataType.INT8 } } });
    expect(codes(loadModel(encodeModelProto(p), { check: false }))).toContain("dq-zero-point");
  });
  test("scale and zero-point shapes differ: dq-shape", () => {
    expect(codes(qdq({ wZpDims: [1] }))).toEqual(["dq-shape"]);
  });
  test("axis out of range for the input rank, or per-axis scale length ≠ dim: dq-axis", () => {
    expect(codes(qdq({ axis: 2 }))).toEqual(["dq-axis"]);
    expect(codes(qdq({ axis: -3 }))).toEqual(["dq-axis"]);
    expect(codes(qdq({ axis: -1 }))).toEqual([]);
    const ds = checkConnectivity(qdq({ axis: 0 }));
    expect(ds.map((d) => d.code)).toEqual(["dq-axis"]);
    expect(ds[0]!.message).toContain("has 3 values");
    expect(ds[0]!.message).toContain("4 along axis 0");
  });
  test("block_size: consistent blocks pass, wrong block count or other dims fail with dq-block", () => {
    // W [4,3], blocks of 2 along axis 0 → scale [2,3].
    expect(codes(qdq({ opset: 21, axis: 0, blockSize: 2, wScaleDims: [2, 3] }))).toEqual([]);
    // block 3 along a dim of 4 → ceil(4/3) = 2 blocks.
    expect(codes(qdq({ opset: 21, axis: 0, blockSize: 3, wScaleDims: [2, 3] }))).toEqual([]);
    const wrong = checkConnectivity(qdq({ opset: 21, axis: 0, blockSize: 2, wScaleDims: [3, 3] }));
    expect(wrong.map((d) => d.code)).toEqual(["dq-block"]);
    expect(wrong[0]!.message).toContain("ceil(4/2) = 2");
    expect(codes(qdq({ opset: 21, axis: 0, blockSize: 2, wScaleDims: [2, 1] }))).toEqual(["dq-block"]);
    expect(codes(qdq({ opset: 21, axis: 0, blockSize: 2, wScaleDims: [2] }))).toEqual(["dq-block"]);
    // A 2-D scale without block_size.
    expect(codes(qdq({ opset: 21, axis: 0, wScaleDims: [2, 3] }))).toEqual(["dq-block"]);
  });
  test("opset support: block_size needs 21, INT4 needs 21, axis needs 13", () => {
    expect(codes(qdq({ opset: 13, axis: 0, blockSize: 2, wScaleDims: [2, 3] }))).toEqual(["dq-opset"]);
    const int4 = { wType: DataType.INT4, wData: new Uint8Array(6).fill(0x21) };
    expect(codes(qdq({ opset: 13, ...int4 }))).toContain("dq-opset");
    expect(codes(qdq({ opset: 21, ...int4 }))).toEqual([]);
    expect(codes(qdq({ opset: 10 }))).toEqual(["dq-opset"]);
  });
  test("4-bit storage with the wrong byte count: int4-range", () => {
    const ds = checkConnectivity(qdq({ opset: 21, wType: DataType.INT4, wData: new Uint8Array(5).fill(0x21) }));
    expect(ds.map((d) => d.code)).toEqual(["int4-range"]);
    expect(ds[0]!.message).toContain("12 values need 6");
  });
  test("a 4-bit int32_data entry that is not a packed byte: int4-range", () => {
    const p = qdqProto({ opset: 21, wType: DataType.INT4, wData: new Uint8Array(6) });
    const w = p.graph!.initializer!.find((t) => t.name === "Wq")!;
    delete w.raw_data;
    w.int32_data = [0x21, 0x21, 300, 0x21, 0x21, 0x21];
    expect(codes(loadModel(encodeModelProto(p), { check: false }))).toEqual(["int4-range"]);
  });
  test("a constant quantized weight is a warning; one equal to its zero point dequantizes to zeros", () => {
    const all7 = checkConnectivity(qdq({ wData: new Int8Array(12).fill(7) }));
    expect(all7.map((d) => [d.level, d.code])).toEqual([["warning", "dq-constant-weight"]]);
    expect(all7[0]!.message).toContain("one repeated value");
    const zeros = checkConnectivity(qdq({ wData: new Int8Array(12) }));
    expect(zeros[0]!.message).toContain("dequantizes to all zeros");
    const int4 = checkConnectivity(qdq({ opset: 21, wType: DataType.INT4, wData: new Uint8Array(6).fill(0x33) }));
    expect(int4.map((d) => d.code)).toEqual(["dq-constant-weight"]);
  });
  test("not flagged when the original float weight was itself constant (zero biases of untrained models)", () => {
    const zeros = qdq({ wData: new Int8Array(12) });
    expect(checkConnectivity(zeros, floatModel(new Float32Array(12))).map((d) => d.code)).toEqual([]);
    expect(checkConnectivity(zeros, floatModel()).map((d) => d.code)).toEqual(["dq-constant-weight"]);
  });
});
