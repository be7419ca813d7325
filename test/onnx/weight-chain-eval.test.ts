/**
 * Folding a weight's data-movement chain must give exactly what onnxruntime computes: each chain is evaluated by
 * PlacementGraph.chainValue and by ORT (the chain's output as a graph output), bit for bit.
 */
import { describe, expect, test } from "bun:test";
import * as ort from "onnxruntime-node";
import { DataType, GraphBuilder, encodeModelProto, loadModel } from "../../src/index.ts";
import { PlacementGraph } from "../../plugins/quantizers/static-qdq/placement-graph.ts";
import { randf } from "./fixtures.ts";

const F = DataType.FLOAT;
const ints = (b: GraphBuilder, name: string, v: number[], dims = [v.length]) => b.initializer(name, DataType.INT64, dims, BigInt64Array.from(v.map(BigInt)));

/** Build W [dims] → chain → output "out"; compare the folded value with ORT's. */
async function same(dims: number[], chain: (b: GraphBuilder) => string, opset = 13) {
  const b = new GraphBuilder();
  b.initializer("W", F, dims, randf(dims.reduce((a, c) => a * c, 1), 17));
  b.input("x", F, [1]);
  const last = chain(b);
  b.node("Identity", [last], {}, ["out"]);
  b.output("out", F);
  b.node("Identity", ["x"], {}, ["x_out"]);
  b.output("x_out", F, [1]);
  const bytes = encodeModelProto(b.model({ opset }));
  const g = new PlacementGraph(loadModel(bytes));
  const v = g.chainValue(last);
  expect(v).toBeDefined();
  const s = await ort.InferenceSession.create(bytes);
  const o = (await s.run({ x: new ort.Tensor("float32", Float32Array.of(0), [1]) })).out!;
  expect([...v!.dims]).toEqual([...o.dims]);
  expect([...v!.data]).toEqual([...(o.data as Float32Array)]);
  return v!;
}

describe("chain folding equals onnxruntime", () => {
  test("Slice with negative starts, steps and axes; Transpose 4-D", async () => {
    await same([4, 5, 6], (b) => {
      ints(b, "st", [-1, 1]);
      ints(b, "en", [-100, 6]);
      ints(b, "ax", [0, -1]);
      ints(b, "sp", [-2, 2]);
      return b.node("Slice", ["W", "st", "en", "ax", "sp"]);
    });
    await same([2, 3, 4, 5], (b) => b.node("Transpose", ["W"], { perm: [2, 0, 3, 1] }));
    await same([3, 4], (b) => b.node("Transpose", ["W"]));
  });

  test("opset-9 Slice attributes, Split outputs (uneven), Gather with negative and 2-D indices", async () => {
    await same([6, 4], (b) => b.node("Slice", ["W"], { starts: [1], ends: [5], axes: [0] }), 9);
    await same([10, 3], (b) => {
      b.node("Split", ["W"], { axis: 0, split: [2, 5, 3] }, ["s0", "s1", "s2"]);
      return "s2";
    }, 11);
    await same([4, 6], (b) => {
      ints(b, "sp", [1, 5]);
      b.node("Split", ["W", "sp"], { axis: 1 }, ["a", "b2"]);
      return "b2";
    });
    await same([5, 4], (b) => {
      ints(b, "idx", [-1, 0, 3, 2], [2, 2]);
      return b.node("Gather", ["W", "idx"], { axis: 0 });
    });
    await same([3, 5, 2], (b) => {
      ints(b, "k", [4], []);
      return b.node("Gather", ["W", "k"], { axis: 1 });
    });
  });

  test("Reshape (0 and -1), Squeeze/Unsqueeze/Flatten, Concat with another constant, Cast to float", async () => {
    await same([2, 3, 4], (b) => {
      ints(b, "shape", [0, -1]);
      const r = b.node("Reshape", ["W", "shape"]);
      ints(b, "ax", [0]);
      const u = b.node("Unsqueeze", [r, "ax"]);
      const sq = b.node("Squeeze", [u, "ax"]);
      return b.node("Flatten", [sq], { axis: 0 });
    });
    await same([3, 4], (b) => {
      b.initializer("V", F, [3, 2], randf(6, 5));
      return b.node("Cast", [b.node("Concat", ["W", "V"], { axis: 1 })], { to: F });
    });
  });

  test("not folded: Expand and Tile (they store repeated values), a Cast to float16, a Gather that repeats rows", () => {
    const b = new GraphBuilder();
    b.initializer("W", F, [2, 3], randf(6, 1));
    ints(b, "shape", [4, 2, 3]);
    ints(b, "reps", [3, 1]);
    ints(b, "idx", [0, 0, 1, 1, 0]);
    b.node("Expand", ["W", "shape"], {}, ["e"]);
    b.node("Tile", ["W", "reps"], {}, ["t"]);
    b.node("Cast", ["W"], { to: DataType.FLOAT16 }, ["c"]);
    b.node("Gather", ["W", "idx"], { axis: 0 }, ["g"]);
    const g = new PlacementGraph(loadModel(encodeModelProto(b.model())));
    for (const v of ["e", "t", "c", "g"]) {
      expect(g.isChainConstant(v)).toBe(true);
      expect(g.chainValue(v)).toBeUndefined();
    }
  });
});
