/**
 * convertOpset as a whole: opset_import / ir_version bookkeeping, subgraphs and local functions, other domains,
 * unique names, and refusals (one E_OPSET error naming every blocking op, with the model left untouched).
 */
import { describe, expect, test } from "bun:test";
import * as ort from "onnxruntime-node";
import { GraphBuilder, makeAttribute, valueInfo } from "../../src/onnx/builder.ts";
import { encodeModelProto } from "../../src/onnx/proto.ts";
import { loadModel } from "../../src/onnx/codec.ts";
import { convertOpset, irVersionFor, schemaVersion } from "../../src/onnx/opset/index.ts";
import { isQuantError, type QuantError } from "../../src/errors/errors.ts";
import { num, type GraphProto } from "../../src/onnx/types.ts";
import { DataType } from "../../src/tensor/dtypes.ts";
import { build, expectSameAfterConversion, opsetOf, opTypes, randomTensor } from "./opset-harness.ts";

const F = DataType.FLOAT;

/** The QuantError thrown by `fn`. */
function refusal(fn: () => unknown): QuantError {
  try {
    fn();
  } catch (e) {
    if (isQuantError(e)) return e;
    throw e;
  }
  throw new Error("expected a QuantError");
}

describe("versions and bookkeeping", () => {
  test("schema versions and IR versions follow the ONNX tables", () => {
    expect(schemaVersion("Softmax", 12)).toBe(11);
    expect(schemaVersion("Softmax", 21)).toBe(13);
    expect(schemaVersion("ReduceMean", 17)).toBe(13);
    expect(schemaVersion("LayerNormalization", 16)).toBeUndefined();
    expect([7, 9, 10, 11, 13, 15, 18, 19, 20, 21, 22].map(irVersionFor)).toEqual([3, 4, 5, 6, 7, 8, 8, 9, 9, 10, 10]);
  });

  test("opset_import and ir_version are raised, other domains' imports kept", async () => {
    for (const [from, to, ir] of [[11, 13, 7], [13, 15, 8], [13, 19, 9], [11, 21, 10], [9, 22, 10]] as const) {
      const m = build(from, (b) => b.output(b.node("Relu", [b.input("x", F, [4])], {}, ["y"]), F), { extraOpsets: [{ domain: "com.microsoft", version: 1 }] });
      const { result } = await expectSameAfterConversion(m, to);
      expect(result).toEqual({ from, to, converted: [] });
      expect(opsetOf(m.proto)).toBe(to);
      expect(num(m.proto.ir_version)).toBe(ir);
      expect(m.proto.opset_import!.find((o) => o.domain === "com.microsoft")!.version).toBe(1);
    }
  });

  test("ir_version is never lowered", () => {
    const m = build(11, (b) => b.output(b.node("Relu", [b.input("x", F, [4])], {}, ["y"]), F), { irVersion: 10 });
    convertOpset(m, 13);
    expect(num(m.proto.ir_version)).toBe(10);
  });

  test("a model without a default-domain import gets one", () => {
    const b = new GraphBuilder();
    b.output(b.input("x", F, [1]), F);
    const proto = b.model();
    proto.opset_import = [{ domain: "com.example", version: 1 }];
    const m = loadModel(encodeModelProto(proto));
    expect(convertOpset(m, 21)).toEqual({ from: 0, to: 21, converted: [] });
    expect(opsetOf(m.proto)).toBe(21);
  });

  test("converted lists each rewritten node once per adapter", () => {
    const m = build(11, (b) => {
      const x = b.input("x", F, [2, 3, 4]);
      b.node("Softmax", [x], {}, ["s"], { name: "sm" });
      b.output(b.node("ReduceSum", ["s"], { axes: [1] }, ["y"], { name: "rs" }), F);
      b.output(b.node("Relu", [x], {}, ["r"]), F);
    });
    const { converted } = convertOpset(m, 21);
    expect(converted).toHaveLength(2);
    expect(converted[0]).toStartWith('Softmax "sm" → v13: coerce-to-2D');
    expect(converted[1]).toBe('ReduceSum "rs" → v13: axes attribute → input');
  });

  test("generated names never collide with existing ones", async () => {
    const m = build(11, (b) => {
      const x = b.input("x", F, [2, 3]);
      b.input("rs_axes_0", F, [1]);
      b.output(b.node("ReduceSum", [x], { axes: [1] }, ["y"], { name: "rs" }), F);
      b.output(b.node("Identity", ["rs_axes_0"], {}, ["z"]), F);
    });
    await expectSameAfterConversion(m, 13);
    const axes = m.proto.graph!.node![0]!.input![1]!;
    expect(axes).not.toBe("rs_axes_0");
    expect(m.proto.graph!.initializer!.map((t) => t.name)).toEqual([axes]);
  });
});

describe("scopes", () => {
  const branch = (name: string, op: string): GraphProto => {
    const b = new GraphBuilder(name);
    const s = b.node("Softmax", ["x"], {}, [`${name}_s`]);
    b.node(op, [s], { axes: [2], keepdims: 1 }, [`${name}_out`]);
    b.output(`${name}_out`, F);
    return b.graph;
  };

  test("If branches are converted (constants go into the subgraph) and compute the same", async () => {
    const m = build(11, (b) => {
      b.input("x", F, [2, 3, 4]);
      b.input("c", DataType.BOOL, []);
      b.output(b.node("If", ["c"], { then_branch: branch("then", "ReduceSum"), else_branch: branch("else", "ReduceMax") }, ["y"]), F);
    });
    for (const c of [true, false]) {
      const copy = loadModel(encodeModelProto(m.proto));
      const feeds = { x: randomTensor([2, 3, 4], 3), c: new ort.Tensor("bool", [c], []) };
      const { result } = await expectSameAfterConversion(copy, 18, { feeds });
      expect(result.converted).toHaveLength(4);
      const [then, other] = copy.proto.graph!.node![0]!.attribute!.map((a) => a.g!);
      expect(then!.node!.map((n) => n.op_type)).toEqual(["Shape", "Flatten", "Softmax", "Reshape", "ReduceSum"]);
      expect(then!.initializer).toHaveLength(1);
      expect(other!.initializer).toHaveLength(1);
      expect(copy.proto.graph!.initializer ?? []).toHaveLength(0);
    }
  });

  test("a subgraph reads constants of its enclosing graph (Resize-10 scales)", async () => {
    const body = new GraphBuilder("body");
    body.output(body.node("Resize", ["x", "scales"], {}, ["up"]), F);
    const m = build(10, (b) => {
      b.input("x", F, [1, 1, 3, 3]);
      b.initializer("scales", F, [4], new Float32Array([1, 1, 0.5, 0.7]));
      b.output(b.node("If", [b.input("c", DataType.BOOL, [])], { then_branch: body.graph, else_branch: body.graph }, ["y"]), F);
    });
    await expectSameAfterConversion(m, 13, { feeds: { x: randomTensor([1, 1, 3, 3], 2), c: new ort.Tensor("bool", [true], []) } });
    const resize = m.proto.graph!.node![0]!.attribute![0]!.g!.node![0]!;
    expect(resize.attribute!.find((a) => a.name === "nearest_mode")!.s).toEqual(new TextEncoder().encode("ceil"));
  });

  test("local functions importing the default domain are converted with Constant nodes", async () => {
    const b = new GraphBuilder("g");
    b.input("x", F, [2, 3, 4]);
    b.output(b.node("SumLast", ["x"], {}, ["y"], { domain: "local" }), F);
    const proto = b.model({ opset: 11, irVersion: 8, extraOpsets: [{ domain: "local", version: 1 }] });
    proto.functions = [
      {
        name: "SumLast",
        domain: "local",
        input: ["a"],
        output: ["b"],
        opset_import: [{ domain: "", version: 11 }],
        node: [
          { op_type: "Softmax", input: ["a"], output: ["t"], attribute: [makeAttribute("axis", 1)] },
          { op_type: "ReduceSum", input: ["t"], output: ["b"], attribute: [makeAttribute("axes", [-1]), makeAttribute("keepdims", 0)] },
        ],
      },
    ];
    const m = loadModel(encodeModelProto(proto));
    const { result } = await expectSameAfterConversion(m, 13);
    const fn = m.proto.functions![0]!;
    expect(num(fn.opset_import![0]!.version)).toBe(13);
    expect(fn.node!.map((n) => n.op_type)).toEqual(["Shape", "Flatten", "Softmax", "Reshape", "Constant", "ReduceSum"]);
    expect(result.converted.every((c) => c.includes("in function local.SumLast"))).toBe(true);
    expect(opTypes(m)).toEqual(["SumLast"]);
  });

  test("nodes of other domains are left alone", async () => {
    const m = build(10, (b) => {
      const g = b.node("Gelu", [b.input("x", F, [2, 5])], {}, ["g"], { domain: "com.microsoft" });
      b.output(b.node("Clip", [g], { min: -0.1, max: { float: 0.7 } }, ["y"]), F);
    }, { extraOpsets: [{ domain: "com.microsoft", version: 1 }] });
    const gelu = JSON.stringify(m.proto.graph!.node![0]);
    // Gelu's output type is unknown to quant: Clip's scalar bounds need CastLike (opset 15) …
    expect(refusal(() => convertOpset(m, 13)).message).toContain('Clip "Clip_node_1": element type of input "g" is unknown');
    await expectSameAfterConversion(m, 15);
    expect(JSON.stringify(m.proto.graph!.node!.find((n) => n.op_type === "Gelu"))).toBe(gelu);
    expect(opTypes(m)).toEqual(["Gelu", "CastLike", "CastLike", "Clip"]);
  });
});

describe("refusals", () => {
  const blocked = () =>
    build(10, (b) => {
      const x = b.input("x", F, [1, 1, 4, 4]);
      b.node("Dropout", [x], {}, ["d", "mask"], { name: "drop" });
      b.output("d", F);
      b.output("mask", F);
      b.node("MysteryOp", [x], {}, ["m1"], { name: "m1" });
      b.node("MysteryOp", [x], {}, ["m2"], { name: "m2" });
      b.initializer("sc", F, [4], new Float32Array([1, 1, 0.5, 2]));
      b.output(b.node("Resize", [x, "sc"], {}, ["r"], { name: "rz" }), F);
      b.output(b.node("Resize", [x, b.input("dyn", F, [4])], {}, ["r2"], { name: "rz2" }), F);
      b.output(b.node("Softmax", [x], {}, ["s"], { name: "fine" }), F);
    });

  test("one E_OPSET error names every blocking op and node; nothing is changed", () => {
    const m = blocked();
    const before = encodeModelProto(m.proto);
    const e = refusal(() => convertOpset(m, 13));
    expect(e.code).toBe("E_OPSET");
    expect(e.message).toStartWith("cannot convert from opset 10 to 13: ");
    expect(e.message).toContain('MysteryOp "m1", "m2": not an ai.onnx operator');
    expect(e.message).toContain('Resize "rz": its scales both up- and downsample');
    expect(e.message).toContain('Resize "rz2": its scales are not constant');
    expect(e.message).not.toContain("fine");
    expect(e.message).not.toContain("Dropout"); // the mask only changes type at 10, which this model already has
    expect(encodeModelProto(m.proto)).toEqual(before);
  });

  test("a read Dropout mask, BatchNormalization training outputs, Scan-8 and tf_half_pixel_for_nn are refused", () => {
    const m = build(8, (b) => {
      const x = b.input("x", F, [2, 3]);
      b.node("Dropout", [x], {}, ["d", "mask"], { name: "drop" });
      b.output("d", F);
      b.output("mask", F);
      for (const n of ["s", "bb", "mu", "var"]) b.initializer(n, F, [3], new Float32Array(3).fill(1));
      b.node("BatchNormalization", [b.input("img", F, [1, 3, 2, 2]), "s", "bb", "mu", "var"], {}, ["bn", "rm", "rv", "sm", "sv"], { name: "bn" });
      b.output("bn", F);
      b.output(b.node("Relu", ["sv"], {}, ["svr"]), F);
      b.output(b.node("Scan", [x], {}, ["sc"], { name: "scan" }), F);
    });
    const e = refusal(() => convertOpset(m, 21));
    expect(e.message).toContain('Dropout "drop": its mask output "mask" is read');
    expect(e.message).toContain('BatchNormalization "bn": its saved_mean/saved_var outputs (sv) are read');
    expect(e.message).toContain('Scan "scan": Scan-8');
    // … while 8 → 9 only crosses the Scan and BatchNormalization(9) boundaries.
    expect(refusal(() => convertOpset(m, 9)).message).not.toContain("Dropout");

    const r = build(11, (b) => b.output(b.node("Resize", [b.input("x", F, [1, 1, 2, 2]), "", b.input("s", F, [4])], { coordinate_transformation_mode: "tf_half_pixel_for_nn" }, ["y"], { name: "tf" }), F));
    expect(refusal(() => convertOpset(r, 13)).message).toContain('Resize "tf": coordinate_transformation_mode "tf_half_pixel_for_nn" was removed at opset 13');
    expect(() => convertOpset(r, 12)).not.toThrow();
  });

  test("a failure while rewriting undoes everything done so far", () => {
    const b = new GraphBuilder("g");
    const x = b.input("x", F, [3, 4]);
    b.output(b.node("ReduceSum", [x], { axes: [1] }, ["r"]), F);
    b.output(b.node("Slice", [x], { starts: [0], ends: [2] }, ["s"], { name: "bad" }), F);
    // An int64 attribute holding 1.5 cannot come from a file, but it makes the Slice adapter throw after ReduceSum changed.
    b.graph.node![1]!.attribute![0]!.ints = [1.5];
    const model = { proto: b.model({ opset: 9, irVersion: 4 }) };
    const before = encodeModelProto(model.proto);
    const e = refusal(() => convertOpset(model, 13));
    expect(e.message).toStartWith("conversion from opset 9 to 13 failed and was undone");
    expect(encodeModelProto(model.proto)).toEqual(before);
    expect(model.proto.graph!.node![0]!.input).toEqual(["x"]);
  });

  test("out-of-range opsets", () => {
    const m = build(13, (b) => b.output(b.node("Relu", [b.input("x", F, [1])], {}, ["y"]), F));
    for (const t of [23, 6, 13.5]) expect(refusal(() => convertOpset(m, t)).message).toContain(`target opset ${t} is not supported`);
    const old = build(6, (b) => b.output(b.node("Relu", [b.input("x", F, [1])], {}, ["y"]), F));
    expect(refusal(() => convertOpset(old, 13)).message).toContain("the model is at opset 6");
    const invalid = build(13, (b) => b.output(b.node("LayerNormalization", [b.input("x", F, [1])], {}, ["y"]), F));
    expect(refusal(() => convertOpset(invalid, 21)).message).toContain(`LayerNormalization "LayerNormalization_node_0": does not exist at opset 13`);
  });

  test("downward conversion only when no op used changes schema", async () => {
    const same = build(14, (b) => b.output(b.node("Conv", [b.input("x", F, [1, 1, 3, 3]), b.input("w", F, [1, 1, 2, 2])], {}, ["y"]), F));
    const { result } = await expectSameAfterConversion(same, 13);
    expect(result).toEqual({ from: 14, to: 13, converted: [] });
    expect(opsetOf(same.proto)).toBe(13);
    const changed = build(14, (b) => {
      const x = b.input("x", F, [2]);
      b.output(b.node("Add", [x, x], {}, ["y"], { name: "add" }), F);
      b.output(b.node("Relu", [x], {}, ["z"], { name: "relu" }), F);
    });
    const e = refusal(() => convertOpset(changed, 13));
    expect(e.message).toContain('Add "add": its schema differs between opset 13 and 14');
    expect(e.message).toContain('Relu "relu"');
    expect(opsetOf(changed.proto)).toBe(14);
  });
});

test("ranks known through MatMul / broadcasting let Softmax on the last axis skip the Flatten path", async () => {
  const m = build(11, (b) => {
    b.initializer("w", F, [4, 5], randomTensor([4, 5], 1).data as Float32Array);
    b.initializer("bias", F, [5], randomTensor([5], 2).data as Float32Array);
    const h = b.node("Add", [b.node("MatMul", [b.input("x", F, [2, 3, 4]), "w"]), "bias"]);
    b.output(b.node("Softmax", [h], { axis: 2 }, ["y"]), F);
  });
  await expectSameAfterConversion(m, 13);
  expect(opTypes(m)).toEqual(["MatMul", "Add", "Softmax"]);
});

test("valueInfo helper keeps declared ranks usable for the softmax shortcut", async () => {
  // A declared intermediate rank lets Softmax on the last axis skip the Flatten path.
  const m = build(11, (b) => {
    const t = b.node("Transpose", [b.input("x", F, [2, 3, 4])], { perm: [2, 0, 1] }, ["t"]);
    b.graph.value_info!.push(valueInfo("t", F, [4, 2, 3]));
    b.output(b.node("Softmax", [t], { axis: 2 }, ["y"]), F);
  });
  await expectSameAfterConversion(m, 13);
  expect(opTypes(m)).toEqual(["Transpose", "Softmax"]);
});
