/**
 * Every adapter of the opset converter, checked in onnxruntime-node: a small model at the old opset computes the same
 * outputs (bit for bit unless a tolerance is stated) after conversion, and has the expected new signature.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import * as ort from "onnxruntime-node";
import { DataType } from "../../src/tensor/dtypes.ts";
import { build, expectSameAfterConversion, opTypes, randomTensor } from "./opset-harness.ts";
import { getAttr, intAttr, stringAttr } from "../../src/onnx/opset/attrs.ts";
import { convertOpset } from "../../src/onnx/opset/index.ts";
import type { NodeProto } from "../../src/onnx/types.ts";

const F = DataType.FLOAT;
const node = (m: { proto: { graph?: { node?: NodeProto[] } } }, op: string) => m.proto.graph!.node!.find((n) => n.op_type === op)!;

describe("softmax family (13: coerce-to-2D → single axis)", () => {
  for (const op of ["Softmax", "LogSoftmax", "Hardmax"]) {
    test(`${op} rank 3, default axis 1 → Flatten/${op}/Reshape`, async () => {
      const m = build(11, (b) => b.output(b.node(op, [b.input("x", F, [2, 3, 4])], {}, ["y"]), F, [2, 3, 4]));
      const { result } = await expectSameAfterConversion(m, 13);
      expect(opTypes(m)).toEqual(["Shape", "Flatten", op, "Reshape"]);
      expect(intAttr(node(m, op), "axis")).toBe(1);
      expect(result.converted).toHaveLength(1);
    });
  }

  test("axis on the last dimension only makes the axis explicit", async () => {
    const m = build(11, (b) => b.output(b.node("Softmax", [b.input("x", F, [2, 3, 4])], { axis: 2 }, ["y"]), F));
    await expectSameAfterConversion(m, 13);
    expect(opTypes(m)).toEqual(["Softmax"]);
    expect(intAttr(node(m, "Softmax"), "axis")).toBe(-1);
  });

  test("unknown rank takes the Flatten path", async () => {
    const m = build(12, (b) => b.output(b.node("LogSoftmax", [b.input("x", F)], { axis: 1 }, ["y"]), F));
    await expectSameAfterConversion(m, 21, { feeds: { x: randomTensor([2, 3, 2, 2], 5) } });
    expect(opTypes(m)).toEqual(["Shape", "Flatten", "LogSoftmax", "Reshape"]);
  });

  test("property: any rank 1-4 and axis, any of the three ops, computes the same after 11 → 13", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }).chain((rank) =>
          fc.record({
            dims: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: rank, maxLength: rank }),
            axis: fc.integer({ min: -rank, max: rank - 1 }),
            op: fc.constantFrom("Softmax", "LogSoftmax", "Hardmax"),
            declared: fc.boolean(),
          }),
        ),
        async ({ dims, axis, op, declared }) => {
          const m = build(11, (b) => b.output(b.node(op, [b.input("x", F, declared ? dims : undefined)], { axis }, ["y"]), F));
          await expectSameAfterConversion(m, 13, { feeds: { x: randomTensor(dims, dims.length * 31 + axis) } });
        },
      ),
      { numRuns: 25 },
    );
  });
});

describe("axes attribute → input", () => {
  test("ReduceSum 11 → 13 with axes, keepdims=0, and without axes", async () => {
    const m = build(11, (b) => {
      const x = b.input("x", F, [2, 3, 4]);
      b.output(b.node("ReduceSum", [x], { axes: [1, -1], keepdims: 0 }, ["y"]), F);
      b.output(b.node("ReduceSum", [x], {}, ["z"]), F);
    });
    await expectSameAfterConversion(m, 13);
    const [withAxes, all] = m.proto.graph!.node!;
    expect(withAxes!.input).toHaveLength(2);
    expect(getAttr(withAxes!, "axes")).toBeUndefined();
    expect(all!.input).toHaveLength(1);
  });

  const reduces = ["ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"];
  test(`${reduces.length} other Reduce ops 13 → 18 (and 11 → 21)`, async () => {
    for (const [from, to] of [[13, 18], [11, 21]] as const) {
      const m = build(from, (b) => {
        const x = b.input("x", F, [2, 3, 4]);
        reduces.forEach((op, i) => b.output(b.node(op, [x], i % 2 ? { axes: [0, 2] } : { axes: [-1], keepdims: 0 }, [`y${i}`]), F));
      });
      // positive inputs keep the Log variants finite
      await expectSameAfterConversion(m, to, { feeds: { x: randomTensor([2, 3, 4], 3, 0.1, 2) } });
      for (const n of m.proto.graph!.node!) expect(n.input).toHaveLength(2);
    }
  });

  test("property: any Reduce op, axes subset and keepdims computes the same after 11 → 18", async () => {
    const ops = ["ReduceSum", ...reduces];
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }).chain((rank) =>
          fc.record({
            dims: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: rank, maxLength: rank }),
            axes: fc.option(fc.uniqueArray(fc.integer({ min: 0, max: rank - 1 }), { minLength: 1, maxLength: rank }), { nil: undefined }),
            negate: fc.boolean(),
            keepdims: fc.constantFrom(0, 1),
            op: fc.constantFrom(...ops),
          }),
        ),
        async ({ dims, axes, negate, keepdims, op }) => {
          const attrs: Record<string, number | number[]> = { keepdims };
          if (axes) attrs.axes = negate ? axes.map((a) => a - dims.length) : axes;
          const m = build(11, (b) => b.output(b.node(op, [b.input("x", F, dims)], attrs, ["y"]), F));
          await expectSameAfterConversion(m, 18, { feeds: { x: randomTensor(dims, dims.length + keepdims, 0.1, 2) } });
        },
      ),
      { numRuns: 30 },
    );
  });

  test("Squeeze / Unsqueeze 11 → 13", async () => {
    const m = build(11, (b) => {
      const x = b.input("x", F, [2, 1, 3, 1]);
      const s = b.node("Squeeze", [x], { axes: [1] });
      b.output(b.node("Unsqueeze", [s], { axes: [0, -1] }, ["y"]), F);
      b.output(b.node("Squeeze", [x], {}, ["all"]), F);
    });
    await expectSameAfterConversion(m, 13);
    expect(m.proto.graph!.node!.map((n) => n.input!.length)).toEqual([2, 2, 1]);
  });
});

describe("Split", () => {
  test("split attribute → input at 13", async () => {
    const m = build(11, (b) => b.node("Split", [b.input("x", F, [2, 6])], { axis: 1, split: [1, 2, 3] }, ["a", "b", "c"]) && ["a", "b", "c"].forEach((o) => b.output(o, F)));
    await expectSameAfterConversion(m, 13);
    expect(m.proto.graph!.node![0]!.input).toHaveLength(2);
  });

  test("equal split gets num_outputs at 18", async () => {
    const m = build(12, (b) => b.node("Split", [b.input("x", F, [6, 2])], {}, ["a", "b", "c"]) && ["a", "b", "c"].forEach((o) => b.output(o, F)));
    await expectSameAfterConversion(m, 18);
    expect(intAttr(m.proto.graph!.node![0]!, "num_outputs")).toBe(3);
  });

  test("split attribute at 11 → 21 has the input and no num_outputs", async () => {
    const m = build(11, (b) => b.node("Split", [b.input("x", F, [5])], { split: [2, 3] }, ["a", "b"]) && ["a", "b"].forEach((o) => b.output(o, F)));
    await expectSameAfterConversion(m, 21);
    const n = m.proto.graph!.node![0]!;
    expect(n.input).toHaveLength(2);
    expect(getAttr(n, "num_outputs")).toBeUndefined();
  });
});

describe("attributes → inputs at 10 / 11", () => {
  test("Clip 10 → 11 with min/max, and with defaults (±inf clamps to ±FLT_MAX both times)", async () => {
    const m = build(10, (b) => {
      const x = b.input("x", F, [6]);
      b.output(b.node("Clip", [x], { min: -0.5, max: { float: 1 } }, ["y"]), F);
      b.output(b.node("Clip", [x], {}, ["z"]), F);
    });
    const x = new ort.Tensor("float32", new Float32Array([-Infinity, -2, 0.25, 3, Infinity, NaN]), [6]);
    const { actual } = await expectSameAfterConversion(m, 11, { feeds: { x } });
    expect(Array.from(actual.z!.data as Float32Array).slice(0, 5)).toEqual([-3.4028234663852886e38, -2, 0.25, 3, 3.4028234663852886e38]);
    for (const n of m.proto.graph!.node!) expect(n.input).toHaveLength(3);
  });

  test("Pad 10 → 11: constant value, reflect, edge, zero", async () => {
    const m = build(10, (b) => {
      const x = b.input("x", F, [1, 2, 3, 3]);
      b.output(b.node("Pad", [x], { pads: [0, 0, 1, 2, 0, 0, 2, 1], value: 1.5 }, ["c"]), F);
      b.output(b.node("Pad", [x], { pads: [0, 0, 1, 1, 0, 0, 1, 1], mode: "reflect" }, ["r"]), F);
      b.output(b.node("Pad", [x], { pads: [0, 0, 2, 0, 0, 0, 0, 2], mode: "edge" }, ["e"]), F);
      b.output(b.node("Pad", [x], { pads: [0, 1, 0, 0, 0, 0, 0, 1] }, ["z"]), F);
    });
    await expectSameAfterConversion(m, 11);
    expect(m.proto.graph!.node!.map((n) => n.input!.length)).toEqual([3, 2, 2, 2]);
    expect(stringAttr(m.proto.graph!.node![1]!, "mode")).toBe("reflect");
  });

  test("Slice 9 → 10 (ends = INT64_MAX, negative starts, axes) and TopK 9 → 10", async () => {
    const m = build(9, (b) => {
      const x = b.input("x", F, [4, 5, 6]);
      b.output(b.node("Slice", [x], { starts: [1, -4], ends: [Number.MAX_SAFE_INTEGER, -1], axes: [0, 2] }, ["s"]), F);
      b.output(b.node("Slice", [x], { starts: [0, 1, 2], ends: [2, 3, 4] }, ["t"]), F);
      b.node("TopK", [x], { k: 3, axis: 1 }, ["v", "i"]);
      b.output("v", F);
      b.output("i", DataType.INT64);
    });
    // INT64_MAX itself, as exporters write it, must survive as an exact int64.
    const { default: Long } = await import("long");
    getAttr(m.proto.graph!.node![0]!, "ends")!.ints![0] = Long.MAX_VALUE;
    await expectSameAfterConversion(m, 10);
    expect(m.proto.graph!.node!.map((n) => n.input!.length)).toEqual([4, 3, 2]);
  });

  test("property: Slice 9 → 10 for any starts/ends/axes (clamped, negative, INT64_MAX)", async () => {
    const big = Number.MAX_SAFE_INTEGER;
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 3 }),
        fc.array(fc.tuple(fc.integer({ min: -6, max: 6 }), fc.oneof(fc.integer({ min: -6, max: 6 }), fc.constant(big))), { minLength: 3, maxLength: 3 }),
        fc.boolean(),
        async (axes, bounds, withAxes) => {
          const n = withAxes ? axes.length : 3;
          const attrs: Record<string, number[]> = { starts: bounds.slice(0, n).map((b) => b[0]), ends: bounds.slice(0, n).map((b) => b[1]) };
          if (withAxes) attrs.axes = axes;
          const m = build(9, (b) => b.output(b.node("Slice", [b.input("x", F, [4, 5, 6])], attrs, ["y"]), F));
          await expectSameAfterConversion(m, 10);
        },
      ),
      { numRuns: 30 },
    );
  });

  test("Dropout 7 → 12: ratio → input, unread mask dropped", async () => {
    const m = build(7, (b) => {
      b.node("Dropout", [b.input("x", F, [3, 4])], { ratio: { float: 0.3 } }, ["y", "mask"]);
      b.output(b.node("Relu", ["y"], {}, ["z"]), F);
    });
    await expectSameAfterConversion(m, 12);
    const d = node(m, "Dropout");
    expect(d.output).toEqual(["y"]);
    expect(d.input).toHaveLength(2);
  });
});

describe("Upsample / Resize", () => {
  const nearestUp = (b: Parameters<Parameters<typeof build>[1]>[0]) => {
    const x = b.input("x", F, [1, 2, 3, 4]);
    b.output(b.node("Upsample", [x], { scales: { floats: [1, 1, 2, 3] } }, ["n"]), F);
    b.output(b.node("Upsample", [x], { scales: { floats: [1, 1, 2.5, 1.5] }, mode: "linear" }, ["l"]), F);
  };

  test("Upsample 7 → 9: scales attribute → input", async () => {
    const m = build(7, nearestUp);
    await expectSameAfterConversion(m, 9);
    expect(opTypes(m)).toEqual(["Upsample", "Upsample"]);
    expect(m.proto.graph!.node![0]!.input).toHaveLength(2);
  });

  for (const target of [10, 11, 13, 19]) {
    test(`Upsample 7 → ${target} becomes Resize (nearest and linear)`, async () => {
      const m = build(7, nearestUp);
      await expectSameAfterConversion(m, target);
      expect(opTypes(m)).toEqual(["Resize", "Resize"]);
      if (target >= 11) {
        const [n, l] = m.proto.graph!.node!;
        expect(stringAttr(n!, "coordinate_transformation_mode")).toBe("asymmetric");
        expect(stringAttr(n!, "nearest_mode")).toBe("floor");
        expect(stringAttr(l!, "nearest_mode")).toBeUndefined();
        expect(n!.input![1]).toBe(target >= 13 ? "" : n!.input![1]);
      }
    });
  }

  test("Resize 10 → 11 / 13 / 19: nearest up- and downsampling, linear", async () => {
    for (const target of [11, 13, 19]) {
      const m = build(10, (b) => {
        const x = b.input("x", F, [1, 1, 6, 8]);
        b.initializer("up", F, [4], new Float32Array([1, 1, 1.5, 2]));
        b.initializer("down", F, [4], new Float32Array([1, 1, 0.5, 0.75]));
        b.output(b.node("Resize", [x, "up"], {}, ["u"]), F);
        b.output(b.node("Resize", [x, "down"], { mode: "nearest" }, ["d"]), F);
        b.output(b.node("Resize", [x, "down"], { mode: "linear" }, ["l"]), F);
      });
      await expectSameAfterConversion(m, target);
      expect(m.proto.graph!.node!.map((n) => stringAttr(n, "nearest_mode"))).toEqual(["floor", "ceil", undefined]);
    }
  });

  test("Resize 11 → 13 drops empty roi and empty scales next to sizes", async () => {
    const m = build(11, (b) => {
      const x = b.input("x", F, [1, 1, 4, 4]);
      b.initializer("roi", F, [0], new Float32Array(0));
      b.initializer("noscales", F, [0], new Float32Array(0));
      b.initializer("sizes", DataType.INT64, [4], new BigInt64Array([1n, 1n, 7n, 5n]));
      b.output(b.node("Resize", [x, "roi", "noscales", "sizes"], { mode: "linear" }, ["y"]), F);
    });
    await expectSameAfterConversion(m, 13);
    expect(m.proto.graph!.node![0]!.input).toEqual(["x", "", "", "sizes"]);
  });
});

describe("normalization", () => {
  const bnModel = (spatial: number | undefined) =>
    build(7, (b) => {
      const x = b.input("x", F, [2, 3, 4]);
      const shape = spatial === 0 ? [3, 4] : [3];
      const n = shape.reduce((a, c) => a * c, 1);
      const r = (s: number, lo: number) => Float32Array.from({ length: n }, (_, i) => lo + ((i * s) % 7) / 7);
      b.initializer("scale", F, shape, r(3, 0.5));
      b.initializer("bias", F, shape, r(5, -0.5));
      b.initializer("mean", F, shape, r(2, -0.2));
      b.initializer("var", F, shape, r(4, 0.3));
      b.output(b.node("BatchNormalization", [x, "scale", "bias", "mean", "var"], spatial === undefined ? {} : { spatial, epsilon: { float: 1e-3 } }, ["y"]), F);
    });

  test("BatchNormalization spatial=0 in training mode is refused", () => {
    const m = build(7, (b) => {
      for (const n of ["s", "bb", "mu", "var"]) b.initializer(n, F, [3, 2], new Float32Array(6).fill(1));
      b.node("BatchNormalization", [b.input("x", F, [1, 3, 2]), "s", "bb", "mu", "var"], { spatial: 0 }, ["y", "m"], { name: "bn0" });
      b.output("y", F);
    });
    expect(() => convertOpset(m, 9)).toThrow('BatchNormalization "bn0": spatial=0 in training mode');
  });

  test("BatchNormalization 7 → 15 with spatial=1 only moves versions", async () => {
    const m = bnModel(1);
    const { result } = await expectSameAfterConversion(m, 15);
    expect(opTypes(m)).toEqual(["BatchNormalization"]);
    expect(getAttr(node(m, "BatchNormalization"), "spatial")).toBeUndefined();
    expect(result.converted).toEqual([]);
  });

  test("BatchNormalization 9 → 15 in training mode (extra outputs): training_mode=1, unread saved stats dropped", async () => {
    const m = build(9, (b) => {
      for (const n of ["s", "bb", "mu", "var"]) b.initializer(n, F, [3], Float32Array.from([0.5, 1, 2]));
      b.node("BatchNormalization", [b.input("x", F, [2, 3, 2]), "s", "bb", "mu", "var"], { momentum: { float: 0.8 } }, ["y", "m", "v", "sm", "sv"]);
      for (const o of ["y", "m", "v"]) b.output(o, F);
    });
    // Y uses the batch statistics in both (ONNX Runtime too), and the running statistics match exactly.
    await expectSameAfterConversion(m, 15);
    const bn = node(m, "BatchNormalization");
    expect(bn.output).toEqual(["y", "m", "v"]);
    expect(intAttr(bn, "training_mode")).toBe(1);
  });

  test("BatchNormalization spatial=0 → elementwise ops (equal to float rounding: ORT's kernel folds scale/sqrt differently)", async () => {
    const m = bnModel(0);
    await expectSameAfterConversion(m, 15, { tol: 2e-6 });
    expect(opTypes(m)).toEqual(["Add", "Sqrt", "Div", "Sub", "Mul", "Add"]);
  });

  test("GroupNormalization 18 → 21: per-group scale/bias repeated per channel (static and run-time paths)", async () => {
    for (const declared of [true, false]) {
      const m = build(18, (b) => {
        const x = b.input("x", F, declared ? [2, 6, 5] : undefined);
        b.initializer("s", F, [3], new Float32Array([0.5, 2, -1]));
        b.initializer("b", F, [3], new Float32Array([0.1, -0.2, 0.3]));
        b.output(b.node("GroupNormalization", [x, "s", "b"], { num_groups: 3, epsilon: { float: 1e-4 } }, ["y"]), F);
      });
      await expectSameAfterConversion(m, 21, { feeds: { x: randomTensor([2, 6, 5], 9) } });
      expect(opTypes(m).at(-1)).toBe("GroupNormalization");
      expect(opTypes(m).length).toBe(declared ? 1 : 10);
    }
  });
});

describe("other adapters", () => {
  test("Scatter 9 → 11 becomes ScatterElements", async () => {
    const m = build(9, (b) => {
      const x = b.input("x", F, [3, 3]);
      b.initializer("idx", DataType.INT64, [2, 3], new BigInt64Array([1n, 0n, 2n, 0n, 2n, 1n]));
      b.output(b.node("Scatter", [x, "idx", b.input("u", F, [2, 3])], { axis: 0 }, ["y"]), F);
    });
    await expectSameAfterConversion(m, 11);
    expect(opTypes(m)).toEqual(["ScatterElements"]);
  });

  test("RoiAlign 10 → 16 keeps output_half_pixel", async () => {
    const m = build(10, (b) => {
      const x = b.input("x", F, [1, 2, 8, 8]);
      b.initializer("rois", F, [2, 4], new Float32Array([0.5, 1, 5.5, 6, 2, 2.5, 7, 7.5]));
      b.initializer("bi", DataType.INT64, [2], new BigInt64Array([0n, 0n]));
      b.output(b.node("RoiAlign", [x, "rois", "bi"], { output_height: 3, output_width: 2, sampling_ratio: 2 }, ["y"]), F);
    });
    await expectSameAfterConversion(m, 16);
    expect(stringAttr(node(m, "RoiAlign"), "coordinate_transformation_mode")).toBe("output_half_pixel");
  });

  test("DFT 17 → 20: axis attribute → input (default 1 written out)", async () => {
    const m = build(17, (b) => {
      const x = b.input("x", F, [2, 8, 4, 1]);
      b.output(b.node("DFT", [x], {}, ["d"]), F);
      b.output(b.node("DFT", [x], { axis: 2, onesided: 1 }, ["e"]), F);
    });
    await expectSameAfterConversion(m, 20);
    for (const n of m.proto.graph!.node!) expect(n.input).toHaveLength(3);
  });

  test("GridSample 16 → 20 renames bilinear / bicubic", async () => {
    const m = build(16, (b) => {
      const x = b.input("x", F, [1, 2, 5, 5]);
      b.initializer("grid", F, [1, 3, 4, 2], randomTensor([1, 3, 4, 2], 4, -1, 1).data as Float32Array);
      b.output(b.node("GridSample", [x, "grid"], { mode: "bicubic" }, ["c"]), F);
      b.output(b.node("GridSample", [x, "grid"], {}, ["l"]), F);
    });
    await expectSameAfterConversion(m, 20);
    expect(m.proto.graph!.node!.map((n) => stringAttr(n, "mode"))).toEqual(["cubic", undefined]);
  });

  test("Cast 13 → 19 and Shape 13 → 15 only change version", async () => {
    const m = build(13, (b) => {
      const x = b.input("x", F, [2, 3]);
      b.output(b.node("Cast", [x], { to: DataType.INT32 }, ["c"]), DataType.INT32);
      b.output(b.node("Shape", [x], {}, ["s"]), DataType.INT64);
    });
    const before = JSON.stringify(m.proto.graph!.node);
    const { result } = await expectSameAfterConversion(m, 19);
    expect(JSON.stringify(m.proto.graph!.node)).toBe(before);
    expect(result.converted).toEqual([]);
  });
});

describe("chains of adapters", () => {
  // One opset-7 model using most ops whose signature changed, converted in one go to every opset where one changed.
  const wide = () =>
    build(7, (b) => {
      const r = (dims: number[], seed: number, lo = -1, hi = 1) => randomTensor(dims, seed, lo, hi).data as Float32Array;
      const x = b.input("x", F, [1, 3, 8, 8]);
      b.initializer("w", F, [4, 3, 3, 3], r([4, 3, 3, 3], 1));
      b.initializer("cb", F, [4], r([4], 2));
      for (const [n, lo] of [["s", 0.5], ["bb", -1], ["mu", -0.5], ["var", 0.2]] as const) b.initializer(n, F, [4], r([4], n.length * 7, lo, lo + 1));
      b.initializer("gw", F, [100, 5], r([100, 5], 3));
      b.initializer("gc", F, [5], r([5], 4));
      const c = b.node("Conv", [x, "w", "cb"], { pads: [1, 1, 1, 1] });
      const d = b.node("Dropout", [b.node("Relu", [b.node("BatchNormalization", [c, "s", "bb", "mu", "var"])])], { ratio: { float: 0.2 } });
      const p = b.node("Pad", [d], { pads: [0, 0, 1, 1, 0, 0, 1, 1], value: 0.5 });
      const mp = b.node("MaxPool", [b.node("Clip", [p], { min: { float: -1 }, max: { float: 2 } })], { kernel_shape: [2, 2], strides: [2, 2] });
      const up = b.node("Upsample", [mp], { scales: { floats: [1, 1, 2, 2] } });
      const sl = b.node("Slice", [up], { starts: [1], ends: [9], axes: [2] });
      b.node("Split", [sl], { axis: 1, split: [1, 3] }, ["a", "rest"]);
      const us = b.node("Unsqueeze", [b.node("Squeeze", ["a"], { axes: [1] })], { axes: [0] });
      const rs = b.node("ReduceSum", ["rest"], { axes: [1], keepdims: 1 });
      const rm = b.node("ReduceMean", ["rest"], { axes: [3], keepdims: 0 });
      b.output(b.node("Softmax", [b.node("Add", [us, rs])], {}, ["sm"]), F);
      b.node("TopK", [rm], { k: 2 }, ["tv", "ti"]);
      b.output("tv", F);
      b.output("ti", DataType.INT64);
      b.output(b.node("LogSoftmax", [rm], { axis: 2 }, ["ls"]), F);
      b.output(b.node("Hardmax", [b.node("Gemm", [b.node("Flatten", [mp]), "gw", "gc"])], {}, ["hm"]), F);
    });

  for (const target of [9, 10, 11, 13, 18, 21, 22]) {
    test(`opset 7 → ${target}`, async () => {
      const m = wide();
      const { result } = await expectSameAfterConversion(m, target);
      expect(result.converted.length).toBeGreaterThan(0);
      if (target >= 22) expect(opTypes(m)).toContain("Resize");
    });
  }
});
