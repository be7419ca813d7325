import { describe, expect, test } from "bun:test";
import { GraphIndex, constantTensor, opsetVersion } from "../../src/onnx/graph.ts";
import { insertNodes, removeInitializers, removeNodes, replaceUses, replaceUsesMany } from "../../src/onnx/graph-edit.ts";
import { loadModel } from "../../src/onnx/codec.ts";
import { encodeModelProto } from "../../src/onnx/proto.ts";
import type { GraphProto, ModelProto, NodeProto } from "../../src/onnx/types.ts";
import { DataType } from "../../src/tensor/dtypes.ts";
import { chainModel, constantModel, functionModel, identityModel, ifModel, loopModel } from "./fixtures.ts";
import { expectSameOutputs, randomFeeds, rng, run } from "./ort.ts";
import { CORPUS_DIR } from "../helpers/corpus.ts";

const sub = (m: ModelProto, node: string, attr: string): GraphProto =>
  m.graph!.node!.find((n) => n.name === node)!.attribute!.find((a) => a.name === attr)!.g!;
const byName = (g: GraphProto, name: string): NodeProto => g.node!.find((n) => n.name === name)!;

/** Every node input is defined before its node (inputs, initializers, earlier outputs, or an enclosing scope's `outer`). */
function isTopological(nodes: NodeProto[], defined: Iterable<string>): boolean {
  const seen = new Set(defined);
  for (const n of nodes) {
    for (const i of n.input ?? []) if (i && !seen.has(i)) return false;
    for (const o of n.output ?? []) seen.add(o);
  }
  return true;
}

describe("GraphIndex: producers and consumers", () => {
  test("If branches: outer reads make the If a consumer; readers() reaches into the branch", () => {
    const m = ifModel();
    const idx = new GraphIndex(m);
    const ifNode = byName(m.graph!, "if");
    const then = sub(m, "if", "then_branch");
    const els = sub(m, "if", "else_branch");
    expect(idx.scopes.map((s) => s.site.path)).toEqual(["main", "main/if.then_branch", "main/if.else_branch"]);
    expect(idx.consumers("W").map((c) => [c.node, c.input])).toEqual([[ifNode, -1]]);
    // x is read by both branches: the If consumes it once (implicitly).
    expect(idx.consumers("x").map((c) => [c.node.name, c.input])).toEqual([["if", -1]]);
    expect(idx.consumers("cond").map((c) => [c.node.name, c.input])).toEqual([["if", 0]]);
    expect(idx.readers("W").map((c) => [c.node.name, c.input, c.graph])).toEqual([["then_id", 0, then]]);
    expect(idx.readers("x").map((c) => c.node.name).sort()).toEqual(["else_mm", "then_mm"]);
    expect(idx.scope(then).outerReads).toEqual(new Set(["W", "x"]));
    expect(idx.scope(els).outerReads).toEqual(new Set(["x"]));
    expect(idx.producer("W2", els)?.kind).toBe("initializer");
    expect(idx.producer("W2")).toBeUndefined(); // not visible from main
    expect(idx.definingScope("W", then)).toBe(idx.main);
    expect(idx.producer("x", then)?.kind).toBe("input");
    expect(idx.producerNode("then_y", then)?.name).toBe("then_mm");
    expect(idx.isGraphOutput("then_y", then)).toBe(true);
    expect(idx.isGraphOutput("then_y")).toBe(false);
  });

  test("Loop body with a nested If reading a main-graph weight two levels up", () => {
    const m = loopModel();
    const idx = new GraphIndex(m);
    const body = sub(m, "loop", "body");
    const inner = byName(body, "body_if").attribute!.find((a) => a.name === "then_branch")!.g!;
    expect(idx.scopes.length).toBe(4);
    expect(idx.scope(body).outerReads).toEqual(new Set(["W"]));
    expect(idx.consumers("W").map((c) => c.node.name)).toEqual(["loop"]);
    expect(idx.consumers("W", body).map((c) => [c.node.name, c.input])).toEqual([["body_if", -1]]);
    expect(idx.readers("W").map((c) => [c.node.name, c.graph])).toEqual([["inner_mm", inner]]);
    // v_in is the body's own input, read inside the nested If: the If consumes it, main does not see it.
    expect(idx.consumers("v_in", body).map((c) => [c.node.name, c.input])).toEqual([["body_if", -1]]);
    expect(idx.consumers("v_in")).toEqual([]);
  });

  test("an initializer that is also an input is reported as an input with its default", () => {
    const m = chainModel(1, 4);
    m.graph!.input!.push({ name: "W0", type: { tensor_type: { elem_type: 1 } } });
    const p = new GraphIndex(m).producer("W0");
    expect(p?.kind).toBe("input");
    expect(p?.kind === "input" && p.initializer?.name).toBe("W0");
  });
});

describe("GraphIndex: order, names, shapes, opsets", () => {
  test("topoOrder keeps a sorted graph as is and sorts a shuffled one", () => {
    const m = loadModel(`${CORPUS_DIR}/digits_transformer.onnx`);
    const g = m.proto.graph!;
    const original = [...g.node!];
    expect(new GraphIndex(m).topoOrder()).toEqual(original);
    const r = rng(3);
    for (let i = g.node!.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [g.node![i], g.node![j]] = [g.node![j]!, g.node![i]!];
    }
    const defined = [...g.input!.map((v) => v.name!), ...g.initializer!.map((t) => t.name!)];
    expect(isTopological(g.node!, defined)).toBe(false);
    const sorted = new GraphIndex(m).topoOrder();
    expect(sorted.length).toBe(original.length);
    expect(new Set(sorted)).toEqual(new Set(original));
    expect(isTopological(sorted, defined)).toBe(true);
  });

  test("topoOrder counts subgraph outer reads as dependencies, and refuses a cycle with E_GRAPH", () => {
    const m = ifModel();
    // Put a producer of W (instead of the initializer) after the If: the order must move it first.
    const w = m.graph!.initializer!.pop()!;
    m.graph!.node!.push({ op_type: "Constant", name: "make_w", output: ["W"], attribute: [{ name: "value", type: 4, t: w }] });
    expect(new GraphIndex(m).topoOrder().map((n) => n.name)).toEqual(["make_w", "if"]);
    const c = chainModel(2, 4);
    c.graph!.node![0]!.input = ["h1", "W0"]; // mm0 reads mm1's output, which reads mm0's
    expect(() => new GraphIndex(c).topoOrder()).toThrow(expect.objectContaining({ code: "E_GRAPH" }));
  });

  test("uniqueName avoids names in every graph and function, and never repeats", () => {
    const f = new GraphIndex(functionModel());
    expect(f.uniqueName("T")).toBe("T_1"); // T is a value inside the function body
    expect(f.uniqueName("T")).toBe("T_2");
    expect(f.uniqueName("fn_relu")).toBe("fn_relu_1"); // a node name in the function
    expect(f.uniqueName("AffineRelu")).toBe("AffineRelu_1");
    expect(f.uniqueName("fresh")).toBe("fresh");
    expect(f.uniqueName("fresh")).toBe("fresh_1");
    const i = new GraphIndex(loopModel());
    for (const taken of ["inner_y", "v_in", "Bl", "cond_out", "body_tanh"]) expect(i.uniqueName(taken)).not.toBe(taken);
    const seen = new Set<string>();
    for (let k = 0; k < 1000; k++) seen.add(i.uniqueName("q"));
    expect(seen.size).toBe(1000);
  });

  test("shapeOf / elemTypeOf from inputs, initializers, Constant nodes and value_info", () => {
    const cnn = new GraphIndex(loadModel(`${CORPUS_DIR}/digits_cnn.onnx`));
    expect(cnn.shapeOf("image")).toEqual(["N", 1, 32, 32]);
    expect(cnn.elemTypeOf("image")).toBe(DataType.FLOAT);
    const w = cnn.main.graph.initializer![0]!;
    expect(cnn.shapeOf(w.name!)).toEqual(w.dims!.map(Number));
    const c = new GraphIndex(constantModel());
    expect(c.shapeOf("Wc")).toEqual([4, 3]);
    expect(c.shapeOf("s")).toEqual([]);
    expect(c.shapeOf("bias")).toEqual([3]);
    expect(c.elemTypeOf("shape")).toBe(DataType.INT64);
    expect(c.shapeOf("mm")).toBeUndefined(); // no value_info for intermediates
    expect(c.elemTypeOf("nothing")).toBeUndefined();
    const id = new GraphIndex(identityModel());
    expect(id.shapeOf("w2")).toEqual([4, 4]); // from value_info
    const ifm = ifModel();
    const idx = new GraphIndex(ifm);
    expect(idx.shapeOf("x", sub(ifm, "if", "then_branch"))).toEqual([2, 4]); // outer input seen from a branch
    expect(idx.shapeOf("W2", sub(ifm, "if", "else_branch"))).toEqual([4, 3]);
  });

  test("constantTensor reads value, value_float(s), value_int(s)", () => {
    const g = constantModel().graph!;
    expect(constantTensor(byName(g, "c_w"))?.dims).toEqual([4, 3]);
    expect(constantTensor(byName(g, "c_s"))).toEqual({ name: "s", data_type: DataType.FLOAT, dims: [], float_data: [0.5] });
    expect(constantTensor(byName(g, "c_b"))?.float_data).toEqual([0.25, -1, 2]);
    expect(constantTensor(byName(g, "c_shape"))).toEqual({ name: "shape", data_type: DataType.INT64, dims: [2], int64_data: [3, 2] });
    expect(constantTensor(byName(g, "mm"))).toBeUndefined();
  });

  test("opsetVersion per domain", () => {
    const f = functionModel();
    expect(opsetVersion(f)).toBe(13);
    expect(opsetVersion(f, "ai.onnx")).toBe(13);
    expect(opsetVersion(f, "local")).toBe(1);
    expect(opsetVersion(f, "com.microsoft")).toBeUndefined();
    expect(opsetVersion(loadModel(`${CORPUS_DIR}/digits_transformer.onnx`).proto)).toBe(14);
  });
});

describe("graph edits", () => {
  test("insertNodes puts a batch before the first reader; replaceUses rewires; outputs unchanged in ORT", async () => {
    const m = chainModel(3, 8);
    const feeds = randomFeeds(m, 2);
    const before = await run(m, feeds);
    const g = m.graph!;
    // Neg(Neg(W1)) == W1: insert the pair (the second reads the first), then point mm1 at it.
    const n1: NodeProto = { op_type: "Neg", name: "neg1", input: ["W1"], output: ["nW1"] };
    const n2: NodeProto = { op_type: "Neg", name: "neg2", input: ["nW1"], output: ["nnW1"] };
    expect(replaceUses(g, "W1", "nnW1", { filter: (n) => n.name === "mm1" })).toBe(1);
    insertNodes(g, [n1, n2]);
    expect(g.node!.map((n) => n.name)).toEqual(["mm0", "neg1", "neg2", "mm1", "mm2", "add_tiny"]);
    expectSameOutputs(before, await run(m, feeds));
    // A node with no reader goes to the end.
    insertNodes(g, [{ op_type: "Relu", name: "tail", input: ["y"], output: ["unused"] }]);
    expect(g.node!.at(-1)!.name).toBe("tail");
  });

  test("insertNodes refuses a node whose input is produced after its first reader", () => {
    const g = chainModel(3, 8).graph!;
    g.node![1]!.input = ["h0", "late"];
    expect(() => insertNodes(g, [{ op_type: "Relu", name: "r", input: ["h2"], output: ["late"] }])).toThrow(
      expect.objectContaining({ code: "E_GRAPH" }),
    );
    expect(g.node!.length).toBe(4);
  });

  test("replaceUses reaches into subgraphs, keeps the main graph's outputs, refuses capture", async () => {
    const m = ifModel();
    const then = sub(m, "if", "then_branch");
    m.graph!.initializer!.push({ ...m.graph!.initializer![0]!, name: "W_alt" });
    expect(replaceUses(m.graph!, "W", "W_alt")).toBe(1);
    expect(byName(then, "then_id").input).toEqual(["W_alt"]);
    expect(loadModel(encodeModelProto(m)).proto.graph!.node!.length).toBe(1);
    // Renaming a graph output only on request.
    const c = chainModel(1, 4);
    expect(replaceUses(c.graph!, "y", "y2")).toBe(0);
    expect(replaceUses(c.graph!, "y", "y2", { outputs: true })).toBe(1);
    expect(c.graph!.output![0]!.name).toBe("y2");
    // The else branch defines W2: pointing x's readers at "W2" would be captured there.
    const m2 = ifModel();
    expect(() => replaceUses(m2.graph!, "x", "W2")).toThrow(expect.objectContaining({ code: "E_GRAPH" }));
    expect(byName(sub(m2, "if", "then_branch"), "then_mm").input).toEqual(["x", "W_then"]); // untouched
  });

  test("replaceUsesMany renames a batch in one pass, respecting shadowing per subgraph", () => {
    const m = loopModel();
    const body = sub(m, "loop", "body");
    const inner = byName(body, "body_if").attribute!.find((a) => a.name === "then_branch")!.g!;
    m.graph!.initializer!.push({ ...m.graph!.initializer![0]!, name: "W_new" });
    // "v_in" is the body's own input: renaming it from main must not touch the body.
    expect(replaceUsesMany(m.graph!, new Map([["W", "W_new"], ["x", "x2"], ["v_in", "nope"]]))).toBe(2);
    expect(byName(inner, "inner_mm").input).toEqual(["v_in", "W_new"]);
    expect(byName(m.graph!, "loop").input).toEqual(["M", "C", "x2"]);
  });

  test("removeNodes and removeInitializers", () => {
    const m = identityModel();
    const g = m.graph!;
    const ids = g.node!.filter((n) => n.op_type === "Identity");
    expect(removeNodes(g, ids.slice(0, 2))).toBe(2);
    expect(g.node!.map((n) => n.name)).toEqual(["id3", "id_out", "mm_a", "mm_b"]);
    expect(removeNodes(g, [])).toBe(0);
    g.value_info!.push({ name: "W" });
    expect(removeInitializers(g, ["W", "absent"])).toBe(1);
    expect(g.initializer).toEqual([]);
    expect(g.value_info!.map((v) => v.name)).toEqual(["w2"]);
  });
});
