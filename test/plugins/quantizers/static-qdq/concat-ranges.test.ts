/**
 * Shared Concat scales give way when an input's range is far narrower than the group's: that input gets its own scale
 * (QLinearConcat requantizes) and the Concat's output the union of its inputs' ranges.
 */
import { describe, expect, test } from "bun:test";
import { consola } from "consola";
import { DataType, GraphBuilder, defaultOptions, encodeModelProto, loadModel, tensorFloat32, type Model, type PluginContext, type RangeMap } from "../../../../src/index.ts";
import staticQdq from "../../../../plugins/quantizers/static-qdq/index.ts";
import { randomFloats } from "../../../helpers/random.ts";

const ctx: PluginContext = { logger: consola.withTag("test"), options: { ...defaultOptions }, progress() {}, at() {} };

/** x → Conv → Relu (a) and x → Conv → Relu (b); Concat(a, b) → Conv → y. */
function model(): Model {
  const b = new GraphBuilder("concat");
  const x = b.input("x", DataType.FLOAT, [1, 8, 4, 4]);
  const conv = (name: string, input: string, cin: number) => b.node("Conv", [input, b.initializer(`${name}_w`, DataType.FLOAT, [8, cin, 1, 1], randomFloats(8 * cin, cin + name.length, 0.5))]);
  b.node("Relu", [conv("a", x, 8)], {}, ["a"]);
  b.node("Relu", [conv("bb", x, 8)], {}, ["b"]);
  b.node("Concat", ["a", "b"], { axis: 1 }, ["cat"]);
  b.output(conv("c", "cat", 16), DataType.FLOAT, [1, 8, 4, 4]);
  return loadModel(encodeModelProto(b.model({ opset: 13 })));
}

/** Scale of the Q reading `t`. */
function qScale(m: Model, t: string): number {
  const q = m.proto.graph!.node!.find((n) => n.op_type === "QuantizeLinear" && n.input![0] === t)!;
  return tensorFloat32(m, m.proto.graph!.initializer!.find((i) => i.name === q.input![1])!)[0]!;
}

async function quantize(a: number, b: number): Promise<Model> {
  const m = model();
  const wanted = await staticQdq().activations!(m, ctx);
  const ranges: RangeMap = new Map(wanted.map((t) => [t, { min: t === "x" ? -1 : 0, max: t === "a" ? a : t === "b" ? b : 1 }]));
  await staticQdq().quantize(m, { ranges }, ctx);
  return m;
}

describe("Concat scale sharing", () => {
  test("inputs within 4× of each other share one scale (the widest range's)", async () => {
    const m = await quantize(30, 100);
    expect(qScale(m, "a")).toBe(qScale(m, "b"));
    expect(qScale(m, "a")).toBeCloseTo(100 / 255, 2);
  });

  test("an input 100× narrower keeps its own scale; the Concat output takes the union range", async () => {
    const m = await quantize(1, 100);
    expect(qScale(m, "a") / qScale(m, "b")).toBeCloseTo(0.01, 6);
    expect(qScale(m, "b")).toBeCloseTo(100 / 255, 2);
    expect(qScale(m, "cat")).toBe(qScale(m, "b"));
  });
});
