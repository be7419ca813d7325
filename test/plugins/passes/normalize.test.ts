import { describe, expect, test } from "bun:test";
import * as ort from "onnxruntime-node";
import { consola } from "consola";
import normalize, { normalizeModel } from "../../../plugins/passes/normalize.ts";
import { loadModel } from "../../../src/onnx/codec.ts";
import { encodeModelProto } from "../../../src/onnx/proto.ts";
import { findWeights } from "../../../src/onnx/weights.ts";
import type { ModelProto } from "../../../src/onnx/types.ts";
import type { PluginContext } from "../../../src/kernel/types.ts";
import { DataType } from "../../../src/tensor/dtypes.ts";
import { GraphBuilder } from "../../../src/onnx/builder.ts";
import { constantModel, identityModel, ifModel, loopModel, shadowedModel, randf } from "../../onnx/fixtures.ts";
import { expectSameOutputs, randomFeeds, run } from "../../onnx/ort.ts";
import { CORPUS_DIR } from "../../helpers/corpus.ts";

const ops = (m: ModelProto) => m.graph!.node!.map((n) => n.op_type);

/** Normalize a copy and check ORT gives bit-identical outputs (for each value of `cond` when the model has one). */
async function normalizedSame(make: () => ModelProto, seed = 1) {
  const before = encodeModelProto(make());
  const model = loadModel(before);
  const result = normalizeModel(model);
  const after = encodeModelProto(model.proto);
  loadModel(after); // still a valid model (unique names, DAG)
  const feeds = randomFeeds(model.proto, seed);
  for (const c of "cond" in feeds ? [0, 1] : [0]) {
    if ("cond" in feeds) (feeds.cond!.data as Uint8Array)[0] = c;
    expectSameOutputs(await run(before, feeds), await run(after, feeds));
  }
  return { result, model: model.proto };
}

describe("normalizeModel", () => {
  test("Constant nodes become initializers with the output's name", async () => {
    const { result, model } = await normalizedSame(constantModel);
    expect(result).toEqual({ constantsPromoted: 4, identitiesRemoved: 0 });
    expect(ops(model)).toEqual(["MatMul", "Mul", "Add", "Reshape"]);
    const inits = model.graph!.initializer!;
    expect(inits.map((t) => [t.name, t.data_type, t.dims])).toEqual([
      ["Wc", DataType.FLOAT, [4, 3]],
      ["s", DataType.FLOAT, []],
      ["bias", DataType.FLOAT, [3]],
      ["shape", DataType.INT64, [2]],
    ]);
    expect(findWeights(model).map((w) => [w.name, w.location])).toEqual([
      ["Wc", "initializer"],
      ["s", "initializer"],
      ["bias", "initializer"],
    ]);
  });

  test("Identity chains are bypassed; an Identity that is a graph output stays", async () => {
    const { result, model } = await normalizedSame(identityModel);
    expect(result).toEqual({ constantsPromoted: 0, identitiesRemoved: 3 });
    const g = model.graph!;
    expect(g.node!.map((n) => [n.name, n.input])).toEqual([
      ["id_out", ["W"]],
      ["mm_a", ["x", "W"]],
      ["mm_b", ["a", "W"]],
    ]);
    expect(g.value_info).toEqual([]); // w2's value_info went with it
    expect(findWeights(model)[0]!.consumers.map((c) => c.via.length)).toEqual([0, 0, 0]);
  });

  test("If branches: the branch Identity reads the outer weight, the branch Constant becomes a branch initializer", async () => {
    const { result, model } = await normalizedSame(ifModel);
    expect(result).toEqual({ constantsPromoted: 1, identitiesRemoved: 1 });
    const attrs = model.graph!.node![0]!.attribute!;
    const then = attrs.find((a) => a.name === "then_branch")!.g!;
    const els = attrs.find((a) => a.name === "else_branch")!.g!;
    expect(then.node!.map((n) => [n.op_type, n.input])).toEqual([["MatMul", ["x", "W"]]]);
    expect(els.initializer!.map((t) => t.name)).toEqual(["W2", "Wc"]);
    expect(model.graph!.initializer!.map((t) => t.name)).toEqual(["W"]);
  });

  test("Loop: an Identity of a loop-carried value is not a constant and stays", async () => {
    const { result } = await normalizedSame(loopModel);
    expect(result).toEqual({ constantsPromoted: 0, identitiesRemoved: 0 });
  });

  test("an Identity of a shadowed initializer stays (callers can feed W)", async () => {
    const { result, model } = await normalizedSame(shadowedModel);
    expect(result.identitiesRemoved).toBe(0);
    const feeds = randomFeeds(model, 4);
    feeds.W = new ort.Tensor("float32", randf(12, 77), [4, 3]);
    const before = await run(shadowedModel(), feeds);
    expectSameOutputs(before, await run(model, feeds));
  });

  test("a Constant that is a graph output stays a node; Identities reading it are still bypassed", async () => {
    const make = () => {
      const b = new GraphBuilder();
      b.input("x", DataType.FLOAT, [3]);
      b.node("Constant", [], { value_floats: { floats: [1, 2, 3] } }, ["k"], { name: "k" });
      b.node("Identity", ["k"], {}, ["k2"], { name: "id" });
      b.node("Add", ["x", "k2"], {}, ["y"], { name: "add" });
      b.output("y", DataType.FLOAT, [3]);
      b.output("k", DataType.FLOAT, [3]);
      return b.model();
    };
    const { result, model } = await normalizedSame(make);
    expect(result).toEqual({ constantsPromoted: 0, identitiesRemoved: 1 });
    expect(model.graph!.node!.map((n) => [n.op_type, n.input])).toEqual([
      ["Constant", []],
      ["Add", ["x", "k"]],
    ]);
  });

  test("before IR 4 a promoted Constant is also declared as a main-graph input (initializers had to be inputs)", async () => {
    const legacy = () => ({ ...constantModel(), ir_version: 3, opset_import: [{ domain: "", version: 8 }] });
    const { result, model } = await normalizedSame(legacy);
    expect(result.constantsPromoted).toBe(4);
    expect(model.graph!.input!.map((v) => v.name)).toEqual(["x", "Wc", "s", "bias", "shape"]);
    expect(findWeights(model).every((w) => !w.shadowed)).toBe(true);
  });

  test("an Identity whose constant name a subgraph reuses stays; the others in the same graph are still bypassed", () => {
    const then = new GraphBuilder("t");
    then.node("Constant", [], { value_floats: { floats: [1, 1, 1] } }, ["W"], { name: "inner_w" }); // shadows main's W
    then.node("Add", ["w1", "W"], {}, ["t_out"], { name: "t_add" });
    then.output("t_out", DataType.FLOAT, [3]);
    const els = new GraphBuilder("e");
    els.node("Identity", ["x"], {}, ["e_out"], { name: "e_id" });
    els.output("e_out", DataType.FLOAT, [3]);
    const b = new GraphBuilder();
    b.input("x", DataType.FLOAT, [3]);
    b.input("cond", DataType.BOOL, []);
    b.initializer("W", DataType.FLOAT, [3], new Float32Array([1, 2, 3]));
    b.node("Identity", ["W"], {}, ["w1"], { name: "id1" });
    b.node("Identity", ["W"], {}, ["w2"], { name: "id2" });
    b.node("Add", ["x", "w2"], {}, ["a"], { name: "add" });
    b.node("If", ["cond"], { then_branch: then.graph, else_branch: els.graph }, ["y"], { name: "if" });
    b.output("y", DataType.FLOAT, [3]);
    b.output("a", DataType.FLOAT, [3]);
    const m = b.model();
    const r = normalizeModel(m);
    expect(r.identitiesRemoved).toBe(1);
    expect(m.graph!.node!.map((n) => [n.name, n.input])).toEqual([
      ["id1", ["W"]],
      ["add", ["x", "W"]],
      ["if", ["cond"]],
    ]);
    // The branch's Constant became the branch's own initializer "W"; the branch still reads the outer w1.
    expect(then.graph.initializer!.map((t) => t.name)).toEqual(["W"]);
    expect(then.graph.node!.map((n) => n.input)).toEqual([["w1", "W"]]);
  });

  test("is idempotent", () => {
    const m = loadModel(encodeModelProto(ifModel()));
    normalizeModel(m);
    expect(normalizeModel(m)).toEqual({ constantsPromoted: 0, identitiesRemoved: 0 });
  });

  for (const [file, counts] of [
    ["squeezenet1_1.onnx", { constantsPromoted: 0, identitiesRemoved: 18 }],
    ["mobilenet_v2.onnx", { constantsPromoted: 70, identitiesRemoved: 39 }],
    ["resnet18.onnx", { constantsPromoted: 0, identitiesRemoved: 16 }],
    ["digits_transformer.onnx", { constantsPromoted: 70, identitiesRemoved: 0 }],
  ] as const) {
    test(`${file}: ${JSON.stringify(counts)}, identical ORT outputs, every weight read directly`, async () => {
      const path = `${CORPUS_DIR}/${file}`;
      const model = loadModel(path);
      expect(normalizeModel(model)).toEqual(counts);
      const feeds = randomFeeds(model.proto, 9);
      expectSameOutputs(await run(path, feeds), await run(model.proto, feeds));
      expect(model.proto.graph!.node!.some((n) => n.op_type === "Identity" || n.op_type === "Constant")).toBe(false);
      expect(findWeights(model).every((w) => w.location === "initializer" && w.consumers.every((c) => c.via.length === 0))).toBe(true);
    }, 60_000);
  }
});

describe("normalize pass plugin", () => {
  test("is a pass named normalize that normalizes the model it is given", async () => {
    const pass = normalize();
    expect(pass.kind).toBe("pass");
    expect(pass.name).toBe("normalize");
    const logs: string[] = [];
    const logger = consola.withTag("normalize");
    logger.debug = ((m: string) => void logs.push(m)) as unknown as typeof logger.debug;
    const ctx = { logger, options: {}, progress() {}, at() {} } as unknown as PluginContext;
    const model = loadModel(encodeModelProto(identityModel()));
    await pass.run(model, ctx);
    expect(model.proto.graph!.node!.filter((n) => n.op_type === "Identity").length).toBe(1);
    expect(logs[0]).toContain("removed 3 Identity");
  });
});
