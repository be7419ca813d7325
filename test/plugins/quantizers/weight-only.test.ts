/**
 * Weights wherever exporters put them get quantized in their own scope, and the result still runs in
 * onnxruntime-node with outputs close to the float model's.
 */
import { describe, expect, test } from "bun:test";
import * as ort from "onnxruntime-node";
import { DataType, GraphBuilder, allGraphs, sqnrDb, encodeModelProto, loadModel, runPipeline, serializeModel, type ModelProto } from "../../../src/index.ts";
import normalize from "../../../plugins/passes/normalize.ts";
import weightOnly from "../../../plugins/quantizers/weight-only.ts";
import int8 from "../../../plugins/packers/int8.ts";
import int4 from "../../../plugins/packers/int4.ts";
import { constantModel, identityModel, ifModel, loopModel, randf } from "../../onnx/fixtures.ts";

async function outputs(bytes: Uint8Array, feeds: Record<string, ort.Tensor>) {
  const s = await ort.InferenceSession.create(bytes);
  const out = await s.run(feeds);
  return out[s.outputNames[0]!]!.data as Float32Array;
}

/** Quantize, then: which graphs got DequantizeLinear nodes (by path), the quantized names, and the output SQNR. */
async function check(proto: ModelProto, feeds: Record<string, ort.Tensor>, options = {}) {
  const bytes = encodeModelProto(proto);
  const r = await runPipeline({ model: loadModel(bytes), plugins: [normalize(), weightOnly(), int8(), int4()], options: { perChannel: true, ...options } });
  const q = serializeModel(r.model);
  const dq: Record<string, string[]> = {};
  for (const site of allGraphs(r.model.proto))
    for (const n of site.graph.node ?? []) if (n.op_type === "DequantizeLinear") (dq[site.path] ??= []).push(n.output![0]!);
  const quantized = r.entries.filter((e) => e.action === "quantized").map((e) => e.tensor).sort();
  return { dq, quantized, sqnr: sqnrDb(await outputs(bytes, feeds), await outputs(q, feeds)), entries: r.entries };
}

const x = () => new ort.Tensor("float32", randf(8, 42), [2, 4]);

describe("weight-only quantizer: weights wherever they live", () => {
  test("Constant-node weights (value) are quantized in place; value_float/value_floats scalars and shapes are not weights", async () => {
    const r = await check(constantModel(), { x: x() });
    expect(r.quantized).toEqual(["Wc"]);
    expect(r.dq).toEqual({ main: ["Wc"] });
    expect(r.sqnr).toBeGreaterThan(35);
  });

  test("a weight behind Identity chains is quantized once, consumers untouched", async () => {
    const m = identityModel();
    m.graph!.output = m.graph!.output!.filter((o) => o.name !== "w_out");
    m.graph!.node = m.graph!.node!.filter((n) => n.name !== "id_out");
    const r = await check(m, { x: x() });
    expect(r.quantized).toEqual(["W"]);
    expect(r.dq).toEqual({ main: ["W"] });
    expect(r.sqnr).toBeGreaterThan(35);
  });

  test("a weight that is also a graph output (through Identity) stays float", async () => {
    const r = await check(identityModel(), { x: x() });
    expect(r.quantized).toEqual([]);
    expect(r.entries.find((e) => e.tensor === "W")!.reason).toContain("Identity");
  });

  test("If: the outer weight read inside a branch and the branch's own initializer are quantized, each in its scope", async () => {
    for (const cond of [true, false]) {
      const r = await check(ifModel(), { x: x(), cond: new ort.Tensor("bool", [cond], []) });
      expect(r.quantized).toEqual(["W", "W2"]);
      expect(r.dq).toEqual({ main: ["W"], "main/if.else_branch": ["W2"] });
      expect(r.sqnr).toBeGreaterThan(35);
    }
  });

  test("Loop: the outer weight read by an If nested in the body is quantized; INT4 block-wise works there too", async () => {
    const r = await check(loopModel(), { x: x() });
    expect(r.quantized).toEqual(["W"]);
    expect(r.dq).toEqual({ main: ["W"] });
    expect(r.sqnr).toBeGreaterThan(30);
    const r4 = await check(loopModel(), { x: x() }, { bits: 4, blockSize: 2, nativeInt4: true });
    expect(r4.entries.find((e) => e.tensor === "W")).toMatchObject({ type: "int4", granularity: "block 2 axis 0" });
    expect(r4.sqnr).toBeGreaterThan(15);
  });

  test("--exclude (glob), --min-elements and --layer-bits select per layer", async () => {
    const r = await check(ifModel(), { x: x(), cond: new ort.Tensor("bool", [true], []) }, { exclude: ["W2*"] });
    expect(r.quantized).toEqual(["W"]);
    expect(r.entries.find((e) => e.tensor === "W2")!.reason).toBe("excluded (W2*)");
    const small = await check(ifModel(), { x: x(), cond: new ort.Tensor("bool", [true], []) }, { minElements: 13 });
    expect(small.quantized).toEqual([]);
    const mixed = await check(ifModel(), { x: x(), cond: new ort.Tensor("bool", [true], []) }, { layerBits: { W2: 4 }, nativeInt4: true });
    expect(mixed.entries.filter((e) => e.action === "quantized").map((e) => [e.tensor, e.type])).toEqual([["W", "int8"], ["W2", "int4"]]);
  });

  test("NaN in a weight is an error naming the tensor", async () => {
    const m = constantModel();
    const t = m.graph!.node![0]!.attribute![0]!.t!;
    const f = new Float32Array(12);
    f[3] = NaN;
    t.raw_data = new Uint8Array(f.buffer);
    const err = await runPipeline({ model: loadModel(encodeModelProto(m)), plugins: [normalize(), weightOnly(), int8()] }).catch((e) => e);
    expect(err.code).toBe("E_QUANT_NONFINITE");
    expect(err.site.target).toBe("Wc");
  });
});

describe("weight-only quantizer: axes from consumers", () => {
  async function entryFor(build: (b: GraphBuilder) => void, options = {}) {
    const b = new GraphBuilder();
    build(b);
    const r = await runPipeline({ model: loadModel(encodeModelProto(b.model({ opset: 13 }))), plugins: [weightOnly(), int8()], options: { perChannel: true, ...options } });
    return r.entries.find((e) => e.tensor === "W")!;
  }
  test("Conv axis 0, MatMul [K,N] axis 1, Gemm transB=1 axis 0, Gather rows axis 0", async () => {
    expect((await entryFor((b) => {
      b.input("x", DataType.FLOAT, [1, 3, 4, 4]);
      b.initializer("W", DataType.FLOAT, [8, 3, 3, 3], randf(216, 1));
      b.node("Conv", ["x", "W"], {}, ["y"]);
      b.output("y");
    })).granularity).toBe("per-channel axis 0");
    expect((await entryFor((b) => {
      b.input("x", DataType.FLOAT, [2, 4]);
      b.initializer("W", DataType.FLOAT, [4, 6], randf(24, 1));
      b.node("MatMul", ["x", "W"], {}, ["y"]);
      b.output("y");
    })).granularity).toBe("per-channel axis 1");
    expect((await entryFor((b) => {
      b.input("x", DataType.FLOAT, [2, 4]);
      b.initializer("W", DataType.FLOAT, [6, 4], randf(24, 1));
      b.node("Gemm", ["x", "W"], { transB: 1 }, ["y"]);
      b.output("y");
    })).granularity).toBe("per-channel axis 0");
    expect((await entryFor((b) => {
      b.input("ids", DataType.INT64, [3]);
      b.initializer("W", DataType.FLOAT, [10, 4], randf(40, 1));
      b.node("Gather", ["W", "ids"], {}, ["y"]);
      b.output("y");
    })).granularity).toBe("per-channel axis 0");
  });
  test("block-wise runs along the reduction axis: MatMul K (axis 0), Gemm transB=1 K (axis 1), Conv C_in (axis 1)", async () => {
    const opts = { blockSize: 2, bits: 4 as const, nativeInt4: true };
    const mm = await entryFor((b) => {
      b.input("x", DataType.FLOAT, [2, 4]);
      b.initializer("W", DataType.FLOAT, [4, 6], randf(24, 1));
      b.node("MatMul", ["x", "W"], {}, ["y"]);
      b.output("y");
    }, { ...opts, layerBits: { W: 4 } });
    expect(mm.granularity).toBe("block 2 axis 0");
    const gemm = await entryFor((b) => {
      b.input("x", DataType.FLOAT, [2, 4]);
      b.initializer("W", DataType.FLOAT, [6, 4], randf(24, 1));
      b.node("Gemm", ["x", "W"], { transB: 1 }, ["y"]);
      b.output("y");
    }, { ...opts, layerBits: { W: 4 } });
    expect(gemm.granularity).toBe("block 2 axis 1");
    const conv = await entryFor((b) => {
      b.input("x", DataType.FLOAT, [1, 4, 4, 4]);
      b.initializer("W", DataType.FLOAT, [8, 4, 3, 3], randf(288, 1));
      b.node("Conv", ["x", "W"], {}, ["y"]);
      b.output("y");
    }, { ...opts, layerBits: { W: 4 } });
    expect(conv.granularity).toBe("block 2 axis 1");
  });
  test("a weight shared by consumers that disagree on the axis is quantized once, per-tensor", async () => {
    const e = await entryFor((b) => {
      b.input("x", DataType.FLOAT, [2, 4]);
      b.initializer("W", DataType.FLOAT, [4, 4], randf(16, 1));
      const a = b.node("MatMul", ["x", "W"]); // channels on axis 1
      b.node("Gemm", [a, "W"], { transB: 1 }, ["y"]); // channels on axis 0
      b.output("y");
    });
    expect(e).toMatchObject({ action: "quantized", granularity: "per-tensor" });
  });
});
