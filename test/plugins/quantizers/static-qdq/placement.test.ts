/**
 * Q/DQ placement rules on small graphs built in code: where pairs go, which tensors share a scale, which need a range,
 * what stays float and why; then the parameters (Relu/Clip rules) and the rewrite (weights behind Identity/Constant).
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { DataType, GraphBuilder, encodeModelProto, loadModel, serializeModel, type Model } from "../../../../src/index.ts";
import { PlacementGraph } from "../../../../plugins/quantizers/static-qdq/placement-graph.ts";
import { DEFAULT_OP_TYPES, planPlacement, type Placement, type PlacementPolicy } from "../../../../plugins/quantizers/static-qdq/placement.ts";
import { clipRemovable, groupParams, placementParams } from "../../../../plugins/quantizers/static-qdq/placement-params.ts";
import { applyPlacement } from "../../../../plugins/quantizers/static-qdq/placement-rewrite.ts";
import { randomFloats } from "../../../helpers/models.ts";

const F = DataType.FLOAT;
function policy(over: Partial<PlacementPolicy> = {}): PlacementPolicy {
  return { opTypes: new Set(DEFAULT_OP_TYPES), keepNodeFloat: () => false, keepTensorFloat: () => false, ...over };
}
const plan = (m: Model, over: Partial<PlacementPolicy> = {}): Placement => planPlacement(new PlacementGraph(m), policy(over));
const build = (b: GraphBuilder, opset = 13) => loadModel(encodeModelProto(b.model({ opset })));
let seed = 1;
function conv(b: GraphBuilder, x: string, cin: number, cout: number, name: string, out?: string, k = 1): string {
  const w = b.initializer(`${name}.w`, F, [cout, cin, k, k], randomFloats(cout * cin * k * k, seed++));
  const bias = b.initializer(`${name}.b`, F, [cout], randomFloats(cout, seed++));
  return b.node("Conv", [x, w, bias], k > 1 ? { pads: [1, 1, 1, 1] } : {}, out ? [out] : 1, { name });
}

describe("planPlacement", () => {
  test("fire module: Q after each Relu, one scale through Concat and MaxPool, ranges only where a scale is set", () => {
    const b = new GraphBuilder("fire");
    const x = b.input("x", F, [1, 4, 8, 8]);
    const s = b.node("Relu", [conv(b, x, 4, 2, "squeeze")], {}, ["s"]);
    const e1 = b.node("Relu", [conv(b, s, 2, 4, "e1")], {}, ["e1"]);
    const e3 = b.node("Relu", [conv(b, s, 2, 4, "e3", undefined, 3)], {}, ["e3"]);
    const c = b.node("Concat", [e1, e3], { axis: 1 }, ["cat"]);
    const p = b.node("MaxPool", [c], { kernel_shape: [2, 2], strides: [2, 2] }, ["pool"]);
    b.node("Conv", [p, b.initializer("head.w", F, [3, 8, 1, 1], randomFloats(24, 99))], {}, ["y"], { name: "head" });
    b.output("y", F, [1, 3, 4, 4]);
    const pl = plan(build(b));
    expect(pl.tensors).toEqual(["x", "s", "e1", "e3", "cat", "pool"]);
    expect(pl.needsRange).toEqual(["x", "s", "e1", "e3"]);
    const g = pl.group.get("cat");
    expect(["e1", "e3", "pool"].map((t) => pl.group.get(t))).toEqual([g, g, g]);
    expect(pl.group.get("s")).not.toBe(g);
    expect([...pl.clamps.keys()]).toEqual(["s", "e1", "e3"]);
    expect(pl.anchors.map((a) => a.node.name)).toEqual(["squeeze", "e1", "e3", "head"]);
  });

  test("residual block: both Add inputs and the Relu after the Add are quantized (QLinearAdd, Relu dropped)", () => {
    const b = new GraphBuilder("res");
    const x = b.input("x", F, [1, 4, 8, 8]);
    const a = b.node("Relu", [conv(b, x, 4, 4, "c0")], {}, ["a"]);
    const h = b.node("Relu", [conv(b, a, 4, 4, "c1", undefined, 3)], {}, ["h"]);
    const r = conv(b, h, 4, 4, "c2", "r");
    const sum = b.node("Add", [r, a], {}, ["sum"]);
    const out = b.node("Relu", [sum], {}, ["out"]);
    b.node("GlobalAveragePool", [out], {}, ["y"]);
    b.output("y", F, [1, 4, 1, 1]);
    const pl = plan(build(b));
    // `sum` is read only by the Relu: the Q goes after it; GAP's output is the graph output and stays float.
    expect(pl.tensors).toEqual(["x", "a", "h", "r", "out"]);
    expect(pl.clamps.get("out")).toEqual({ lo: 0, hi: Infinity });
    expect(pl.clamps.has("r")).toBe(false);
  });

  test("a Conv output with two readers keeps its Q before the Relu; a Clip with run-time bounds is not skipped over", () => {
    const b = new GraphBuilder("two");
    const x = b.input("x", F, [1, 2, 4, 4]);
    const hi = b.input("hi", F, []);
    const c = conv(b, x, 2, 2, "c0", "c");
    const r = b.node("Relu", [c], {}, ["r"]);
    const k = b.node("Clip", [conv(b, r, 2, 2, "c1", "k"), b.initializer("lo", F, [], Float32Array.of(0)), hi], {}, ["clipped"]);
    b.node("Add", [c, conv(b, k, 2, 2, "c2", "z")], {}, ["y"]);
    b.output("y", F, [1, 2, 4, 4]);
    const pl = plan(build(b));
    expect(pl.tensors).toEqual(["x", "c", "r", "k", "clipped", "z"]);
    expect(pl.clamps.has("clipped")).toBe(false);
  });

  test("int64 shape arithmetic, constants and graph outputs never get a pair", () => {
    const b = new GraphBuilder("shape");
    const x = b.input("x", F, [1, 8]);
    const shape = b.node("Shape", [x], {}, ["shape"]);
    const n = b.node("Gather", [shape, b.initializer("zero", DataType.INT64, [1], BigInt64Array.of(0n))], { axis: 0 }, ["n"]);
    const target = b.node("Concat", [n, b.initializer("m", DataType.INT64, [1], BigInt64Array.of(-1n))], { axis: 0 }, ["target"]);
    const h = b.node("MatMul", [x, b.initializer("w", F, [8, 8], randomFloats(64, 5))], {}, ["h"], { name: "mm" });
    b.node("Reshape", [h, target], {}, ["y"]);
    b.output("y", F, [1, 8]);
    const pl = plan(build(b));
    expect(pl.tensors).toEqual(["x"]);
    expect(pl.anchors[0]!.weight).toEqual({ slot: 1, axis: 1 });
  });

  test("excluded nodes and tensors stay float with a reason; an excluded weight keeps its node float", () => {
    const b = new GraphBuilder("ex");
    const x = b.input("x", F, [1, 2, 4, 4]);
    const a = b.node("Relu", [conv(b, x, 2, 2, "c0")], {}, ["a"]);
    const z = b.node("Relu", [conv(b, a, 2, 2, "c1")], {}, ["z"]);
    b.node("Conv", [z, b.initializer("c2.w", F, [2, 2, 1, 1], randomFloats(4, 8))], {}, ["y"], { name: "c2" });
    b.output("y", F, [1, 2, 4, 4]);
    const m = build(b);
    const byNode = plan(m, { keepNodeFloat: (n) => n.name === "c1" });
    expect(byNode.skipped.map((s) => [s.node.name, s.reason])).toEqual([["c1", "excluded"]]);
    expect(byNode.floatNodes.size).toBe(1);
    const byTensor = plan(m, { keepTensorFloat: (t) => t === "a" });
    expect(byTensor.skipped.map((s) => s.node.name)).toEqual(["c1"]);
    expect(byTensor.skipped[0]!.reason).toMatch(/"a" is kept float/);
    const byWeight = plan(m, { keepTensorFloat: (t) => t === "c2.w" });
    expect(byWeight.skipped.map((s) => [s.node.name, s.reason])).toEqual([["c2", 'weight "c2.w" is excluded']]);
  });
});

describe("floatStem", () => {
  const stemModel = (pool: boolean) => {
    const b = new GraphBuilder("stem");
    const x = b.input("x", F, [1, 3, 8, 8]);
    const a = b.node("Relu", [conv(b, x, 3, 8, "stem", undefined, 3)], {}, ["a"]);
    const p = pool ? b.node("MaxPool", [a], { kernel_shape: [2, 2], strides: [2, 2] }, ["p"]) : a;
    b.node("Relu", [conv(b, p, 8, 8, "body")], {}, ["y"]);
    b.output("y", F, [1, 8, pool ? 4 : 8, pool ? 4 : 8]);
    return build(b);
  };

  test("a 3-channel stem Conv stays float and reads the float input; its activated output is still quantized", () => {
    const pl = plan(stemModel(false), { floatStem: true });
    expect(pl.skipped.map((s) => [s.node.name, s.reason])).toEqual([["stem", "float stem (faster in fp32)"]]);
    // The body Conv's Relu writes the graph output: its Q stays before the Relu (fuse-friendly), "conv_2".
    expect(pl.tensors).toEqual(["a", "conv_2"]);
    expect(plan(stemModel(false)).tensors).toEqual(["x", "a", "conv_2"]);
  });

  test("with a MaxPool after it: stem, Relu and MaxPool stay float, and the first Q is a per-axis guard ORT will not hoist", () => {
    const pl = plan(stemModel(true), { floatStem: true });
    expect(pl.skipped.map((s) => s.node.name)).toEqual(["stem"]);
    expect([...pl.floatNodes].map((n) => n.op_type).sort()).toEqual(["Conv", "MaxPool", "Relu"]);
    expect([...pl.guards]).toEqual([["p", 8]]);
    expect(pl.tensors).toEqual(["p", "conv_3"]);
  });
});

describe("placement parameters", () => {
  test("Relu: zero point at the lowest code, for uint8 and int8", () => {
    expect(groupParams({ min: 0, max: 3 }, "uint8", { lo: 0, hi: Infinity }).zeroPoint).toBe(0);
    expect(groupParams({ min: 0, max: 3 }, "int8", { lo: 0, hi: Infinity }).zeroPoint).toBe(-128);
  });

  test("a saturated Clip(0, 6) maps 6 onto code 255 exactly", () => {
    const p = groupParams({ min: 0, max: 6 }, "uint8", { lo: 0, hi: 6 });
    expect(p).toEqual({ scale: Math.fround(6 / 255), zeroPoint: 0, range: { min: 0, max: 6 } });
    expect(clipRemovable(p.scale, 0, 0, 255, 0, 6)).toBe(true);
    expect(clipRemovable(Math.fround(6.01 / 255), 0, 0, 255, 0, 6)).toBe(false);
  });

  test("property: any calibrated range under Clip(lo ≤ 0, hi) gives a Q that ORT can fold the Clip into", () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.01, max: 100, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: -50, max: 0, noNaN: true }),
        fc.double({ min: 0, max: 1.2, noNaN: true }), fc.constantFrom("uint8" as const, "int8" as const),
        (hi, fracMax, lo, fracMin, type) => {
          const range = { min: lo * fracMin, max: hi * Math.min(1, fracMax * 1.5) };
          const p = groupParams(range, type, { lo, hi });
          const [qmin, qmax] = type === "uint8" ? [0, 255] : [-128, 127];
          expect(clipRemovable(p.scale, p.zeroPoint, qmin, qmax, lo, hi)).toBe(true);
          if (lo === 0) expect(p.zeroPoint).toBe(qmin);
        },
      ),
      { numRuns: 1000 },
    );
  });

  test("a group with a member lacking a range is left out and reported", () => {
    const b = new GraphBuilder("miss");
    const x = b.input("x", F, [1, 2, 4, 4]);
    const a = b.node("Relu", [conv(b, x, 2, 2, "c0")], {}, ["a"]);
    b.node("Conv", [a, b.initializer("c1.w", F, [2, 2, 1, 1], randomFloats(4, 3))], {}, ["y"], { name: "c1" });
    b.output("y", F, [1, 2, 4, 4]);
    const pl = plan(build(b));
    const r = placementParams(pl, new Map([["x", { min: -1, max: 1 }]]), "uint8");
    expect(r.missing).toEqual(["a"]);
    expect([...r.byGroup.keys()]).toEqual([pl.group.get("x")!]);
  });
});

describe("applyPlacement", () => {
  test("bias behind Identity and weights in Constant nodes: per-Conv int32 biases, float originals removed", () => {
    const b = new GraphBuilder("ident");
    const x = b.input("x", F, [1, 2, 4, 4]);
    const shared = b.initializer("shared.b", F, [2], Float32Array.of(0.5, -0.25));
    const bias1 = b.node("Identity", [shared], {}, ["bias1"]);
    const w0 = b.node("Constant", [], { value: { name: "w0v", data_type: F, dims: [2, 2, 1, 1], raw_data: new Uint8Array(randomFloats(4, 11).buffer) } }, ["w0"]);
    const a = b.node("Relu", [b.node("Conv", [x, w0, shared], {}, ["c0"], { name: "c0" })], {}, ["a"]);
    const w1 = b.initializer("w1", F, [2, 2, 1, 1], randomFloats(4, 12));
    b.node("Relu", [b.node("Conv", [a, w1, bias1], {}, ["c1"], { name: "c1" })], {}, ["y"]);
    b.output("y", F, [1, 2, 4, 4]);
    const m = build(b);
    const pl = plan(m);
    const params = placementParams(pl, new Map([["x", { min: -1, max: 1 }], ["a", { min: 0, max: 2 }]]), "uint8");
    const r = applyPlacement(pl, params.byGroup, { activationType: "uint8", weightType: "int8", symmetricWeights: true, perChannel: true });
    const g = m.proto.graph!;
    expect(g.node!.some((n) => n.op_type === "Identity" || n.op_type === "Constant")).toBe(false);
    expect(g.initializer!.some((t) => t.name === "shared.b" || t.name === "w1")).toBe(false);
    const biases = r.pending.filter((p) => p.role === "bias");
    expect(biases.length).toBe(2);
    // Same float bias, different activation scales: different int32 values.
    const sa = params.byGroup.get(pl.group.get("a")!)!.scale;
    const sw0 = r.pending.find((p) => p.role === "weight" && p.tensor.name === "w0v_quantized");
    expect(sw0).toBeDefined();
    expect(biases[0]!.values).not.toEqual(biases[1]!.values);
    expect(r.minOpset).toBe(13);
    expect(sa).toBe(Math.fround(2 / 255.5));
    // Every node input still resolves.
    const known = new Set([...g.input!.map((i) => i.name), ...g.initializer!.map((t) => t.name)]);
    for (const n of g.node!) {
      for (const i of n.input!) if (i) expect(known.has(i)).toBe(true);
      for (const o of n.output!) known.add(o);
    }
  });

  test("the same model and ranges give byte-identical output", () => {
    const make = () => {
      seed = 100;
      const b = new GraphBuilder("det");
      const x = b.input("x", F, [1, 2, 4, 4]);
      b.node("Relu", [conv(b, x, 2, 2, "c0", "c")], {}, ["y"]);
      b.output("y", F, [1, 2, 4, 4]);
      const m = build(b);
      const pl = plan(m);
      applyPlacement(pl, placementParams(pl, new Map([["x", { min: -1, max: 1 }]]), "uint8").byGroup, { activationType: "uint8", weightType: "int8", symmetricWeights: true, perChannel: true });
      return serializeModel(m);
    };
    expect(make()).toEqual(make());
  });
});

