/**
 * Data-movement chains between a weight and its consumer: shapes through each step, and the consumer's channel axis
 * traced back to the weight. The tracing is checked against brute force: an input axis maps to an output axis only
 * if, element by element, the input index along it is a function of the output index along the other.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { findWeights } from "../../src/onnx/weights.ts";
import { GraphBuilder } from "../../src/onnx/builder.ts";
import { mapAxisBack, reshapeAxisBack, stepOutputShape, traceAxisBack, type ChainContext, type ChainStep } from "../../src/onnx/weight-chain.ts";
import { weightUse } from "../../src/quant/axes.ts";
import type { NodeProto } from "../../src/onnx/types.ts";
import { DataType } from "../../src/tensor/dtypes.ts";
import { lstmCellModel, recurrentOpModel, embeddingModel } from "../helpers/recurrent.ts";

const F = DataType.FLOAT;
const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Row-major multi-index of flat index `l` in `shape`. */
function unflatten(l: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let i = shape.length - 1; i >= 0; i--) {
    idx[i] = l % shape[i]!;
    l = Math.floor(l / shape[i]!);
  }
  return idx;
}

/** Brute force: is the index along input axis a a function of the index along output axis b, over every element? */
function dependsOnlyOn(inShape: number[], outShape: number[], a: number, b: number): boolean {
  const seen = new Map<number, number>();
  for (let l = 0; l < prod(inShape); l++) {
    const i = unflatten(l, inShape)[a]!, j = unflatten(l, outShape)[b]!;
    if (seen.has(j) && seen.get(j) !== i) return false;
    seen.set(j, i);
  }
  return true;
}

const transposeStep = (perm: number[], inShape: number[]): ChainStep => ({
  node: { op_type: "Transpose", attribute: [{ name: "perm", type: 7, ints: perm }] } as NodeProto,
  input: 0, output: 0, inShape, outShape: perm.map((p) => inShape[p]!),
});

describe("axis tracing", () => {
  test("property: through random Transposes the traced axis is the composed permutation", () => {
    const permOf = (n: number) => fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }).chain((n) => fc.tuple(fc.constant(n), fc.array(permOf(n), { minLength: 1, maxLength: 4 }), fc.nat(n - 1))), ([n, perms, b]) => {
        let shape = Array.from({ length: n }, (_, i) => i + 2);
        const steps = perms.map((p) => {
          const s = transposeStep(p, shape);
          shape = s.outShape as number[];
          return s;
        });
        // Output axis b of the last Transpose reads input axis perm[b] of it, and so on back to the weight.
        let expected = b;
        for (let i = perms.length - 1; i >= 0; i--) expected = perms[i]![expected]!;
        expect(traceAxisBack(steps, b)).toBe(expected);
      }),
      { numRuns: 300 },
    );
  });

  test("property: a Reshape maps output axis b to input axis a only when a's index depends on b's alone (brute force)", () => {
    const dims = fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 });
    let traced = 0, refused = 0;
    fc.assert(
      fc.property(dims, fc.nat(), fc.nat(), (inShape, cut, pick) => {
        // An output shape of the same size: regroup the prime factors of the input's dims.
        const factors = inShape.flatMap((d) => (d === 4 ? [2, 2] : d > 1 ? [d] : []));
        const outShape: number[] = [];
        let k = cut % (factors.length + 1);
        for (let i = 0; i < factors.length; i++) {
          if (!outShape.length || k % 2 === 0) outShape.push(factors[i]!);
          else outShape[outShape.length - 1]! *= factors[i]!;
          k = (k * 7 + 3) % 11;
        }
        if (!outShape.length) outShape.push(1);
        const b = pick % outShape.length;
        const a = reshapeAxisBack(inShape, outShape, b);
        if (a !== undefined) {
          traced++;
          expect(inShape[a]!).toBeGreaterThan(1);
          expect(dependsOnlyOn(inShape, outShape, a, b)).toBe(true);
        } else if (outShape[b]! > 1) {
          refused++;
          for (let x = 0; x < inShape.length; x++) if (inShape[x]! > 1) expect(dependsOnlyOn(inShape, outShape, x, b)).toBe(false);
        }
      }),
      { numRuns: 400 },
    );
    expect(traced).toBeGreaterThan(50); // both outcomes are exercised
    expect(refused).toBeGreaterThan(20);
  });

  test("Reshape: kept and merged axes trace, a split one does not", () => {
    expect(reshapeAxisBack([512, 64], [4, 128, 64], 2)).toBe(1); // kept
    expect(reshapeAxisBack([512, 64], [4, 128, 64], 1)).toBeUndefined(); // 512 split in 4 × 128
    // Merged: rows of the [512, 64] value come from (axis 0, axis 1) of W; either axis gives each row one scale, the
    // longer one (128 groups) is finer.
    expect(reshapeAxisBack([4, 128, 64], [512, 64], 0)).toBe(1);
    expect(reshapeAxisBack([4, 1, 64], [4, 64], 0)).toBe(0);
    expect(reshapeAxisBack([6, 8], [6, 2, 4], 2)).toBeUndefined();
    expect(reshapeAxisBack([1, 12, 5], [12, 5], 0)).toBe(1); // a squeezed leading 1
  });
});

describe("findWeights through chains", () => {
  test("LSTMCell: packed W_ih → Slice → Transpose → MatMul (axis 0), W_hh → Split → MatMul (axis 1), bias → Slice → Add", () => {
    const ws = findWeights(lstmCellModel({ input: 6, hidden: 4, steps: 2 }));
    const byName = new Map(ws.map((w) => [w.name, w]));
    const ih = byName.get("W_ih")!;
    expect(ih.dims).toEqual([16, 6]);
    expect(ih.consumers.length).toBe(8); // 4 gates × 2 steps
    const c = ih.consumers[0]!;
    expect([c.node.name, c.input, c.steps.map((s) => s.node.op_type), c.shape]).toEqual(["mm_x_i_0", 1, ["Slice", "Transpose"], [6, 4]]);
    expect(c.steps.map((s) => s.outShape)).toEqual([[4, 6], [6, 4]]);
    expect(weightUse(c, ih.dims)!.role).toEqual({ channelAxis: 0, blockAxis: 1 });
    const hh = byName.get("W_hh")!;
    const u = weightUse(hh.consumers.find((x) => x.node.name === "mm_h_o_1")!, hh.dims)!;
    expect([u.steps.map((s) => [s.node.op_type, s.output]), u.role]).toEqual([[["Split", 3]], { channelAxis: 1, blockAxis: 0 }]);
    const bias = byName.get("bias")!;
    expect(bias.consumers.map((x) => [x.opType, x.input, x.steps.map((st) => st.node.op_type)])).toContainEqual(["Add", 1, ["Slice"]]);
    expect(weightUse(bias.consumers[0]!, bias.dims)).toBeUndefined();
  });

  test("LSTM/GRU/RNN: W and R on the gate axis 1, B is no weight role; a tied embedding agrees on rows", () => {
    for (const op of ["LSTM", "GRU", "RNN"] as const) {
      const ws = findWeights(recurrentOpModel(op, { input: 3, hidden: 2, directions: 2 }));
      const roles = ws.filter((w) => w.consumers[0]!.opType === op).map((w) => [w.name, weightUse(w.consumers[0]!, w.dims)?.role]);
      expect(roles).toEqual([["W", { channelAxis: 1, blockAxis: 2 }], ["R", { channelAxis: 1, blockAxis: 2 }], ["B", undefined]]);
    }
    const e = findWeights(embeddingModel({ vocab: 10, dim: 4 })).find((w) => w.name === "E")!;
    expect(e.consumers.map((c) => [c.node.name, weightUse(c, e.dims)!.role])).toEqual([
      ["embed", { channelAxis: 0, blockAxis: 1 }],
      ["lm_head", { channelAxis: 0, blockAxis: 1 }], // MatMul B [D, V] channels = V = E's rows, through the Transpose
    ]);
  });

  test("Gather with constant indices is followed; when nothing past it is a weight op, the Gather is the use (per row)", () => {
    const b = new GraphBuilder();
    b.input("x", F, [2, 4]);
    b.initializer("P", F, [3, 8, 4], new Float32Array(96));
    b.initializer("k", DataType.INT64, [], BigInt64Array.of(1n));
    b.initializer("rows", DataType.INT64, [2], BigInt64Array.of(0n, 2n));
    b.node("Gather", ["P", "k"], { axis: 0 }, ["Pk"], { name: "pick" }); // [8, 4]
    b.node("Transpose", ["Pk"], { perm: [1, 0] }, ["PkT"], { name: "t" }); // [4, 8]
    b.node("MatMul", ["x", "PkT"], {}, ["y"], { name: "mm" });
    b.initializer("pos", F, [5, 8], new Float32Array(40));
    b.node("Gather", ["pos", "rows"], { axis: 0 }, ["pe"], { name: "pos_lookup" });
    b.node("Add", ["y", "pe"], {}, ["z"], { name: "add" });
    b.output("z", F, [2, 8]);
    const ws = findWeights(b.model());
    const p = ws.find((w) => w.name === "P")!;
    const up = weightUse(p.consumers[0]!, p.dims)!;
    // MatMul channels (axis 1 of [4, 8]) ← Transpose axis 0 of [8, 4] ← Gather (scalar index) axis 1 of P.
    expect([up.node.name, up.steps.map((s) => s.node.op_type), up.role.channelAxis]).toEqual(["mm", ["Gather", "Transpose"], 1]);
    const pos = ws.find((w) => w.name === "pos")!;
    const u = weightUse(pos.consumers[0]!, pos.dims)!;
    expect([pos.consumers[0]!.opType, u.node.name, u.steps.length, u.role]).toEqual(["Add", "pos_lookup", 0, { channelAxis: 0, blockAxis: 1 }]);
  });
});

describe("hostile chains are not followed", () => {
  const ctx: ChainContext = { opset: 13, ints: (n) => ({ sizes: [2, 2], big: [9] } as Record<string, number[]>)[n], shape: (n) => ({ other: [5, 7] } as Record<string, number[]>)[n] };
  const node = (op: string, attrs: Record<string, number | number[]> = {}, input: string[] = ["W"], output = ["y"]): NodeProto => ({
    op_type: op, input, output,
    attribute: Object.entries(attrs).map(([name, v]) => (Array.isArray(v) ? { name, type: 7, ints: v } : { name, type: 2, i: v })),
  });
  test("a perm that is no permutation, an axis out of range, Split sizes that do not add up, a Concat whose shapes disagree", () => {
    expect(stepOutputShape(node("Transpose", { perm: [0, 0] }), 0, 0, [3, 4], ctx)).toBeUndefined();
    expect(mapAxisBack({ node: node("Transpose", { perm: [1, 5] }), input: 0, output: 0, inShape: [3, 4], outShape: [4, 3] }, 1)).toBeUndefined();
    expect(stepOutputShape(node("Gather", { axis: 3 }, ["W", "sizes"]), 0, 0, [3, 4], ctx)).toBeUndefined();
    expect(stepOutputShape(node("Split", { axis: 0 }, ["W", "big"], ["a"]), 0, 0, [4, 4], ctx)).toBeUndefined();
    expect(stepOutputShape(node("Split", { axis: 0 }, ["W", "sizes"], ["a", "b"]), 0, 1, [4, 4], ctx)).toEqual([2, 4]);
    expect(stepOutputShape(node("Concat", { axis: 0 }, ["W", "other"]), 0, 0, [3, 4], ctx)).toBeUndefined();
    expect(stepOutputShape(node("Squeeze", { axes: [1] }), 0, 0, [3, 4], { ...ctx, opset: 11 })).toBeUndefined();
    expect(stepOutputShape(node("Unsqueeze", { axes: [0, 0] }), 0, 0, [3, 4], { ...ctx, opset: 11 })).toBeUndefined();
  });
});
