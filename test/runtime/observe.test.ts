import { describe, expect, test } from "bun:test";
import { GraphIndex } from "../../src/onnx/graph.ts";
import { observationModel, buildObservation } from "../../src/runtime/observe.ts";
import { localTypes, ortTypes } from "../../src/runtime/value-types.ts";
import { RuntimeSession } from "../../src/runtime/session.ts";
import { DataType } from "../../src/tensor/dtypes.ts";
import { convReluMatMul, ifModel, twoInputs } from "./models.ts";
import { exposeAndRun, minMaxOf, randomFloats } from "./helpers.ts";

describe("observationModel", () => {
  test("adds ReduceMin/ReduceMax (no axes) right after each producer, packs them by rank, drops unneeded nodes", async () => {
    const model = convReluMatMul();
    const obs = await observationModel(model, ["conv", "relu", "flat"], "minmax");
    expect(obs.unobservable).toEqual([]);
    expect(obs.observed.map((o) => o.tensor)).toEqual(["conv", "relu", "flat"]);
    const nodes = obs.model.proto.graph!.node!;
    const ops = nodes.map((n) => n.op_type);
    const probe = ["ReduceMin", "ReduceMax"];
    // MatMul and Shape feed no observation: left out. One Concat per rank (flat is rank 2, conv/relu rank 4).
    expect(ops).toEqual(["Conv", ...probe, "Relu", ...probe, "GlobalAveragePool", "Flatten", ...probe, "Concat", "Concat"]);
    for (const n of nodes.filter((n) => n.op_type!.startsWith("Reduce"))) {
      expect(n.input!.length).toBe(1); // no axes input: all axes in every opset
      expect(n.attribute!.map((a) => [a.name, a.i])).toEqual([["keepdims", 1]]); // rank known: [1,…,1] joins its rank's Concat
    }
    const outs = obs.model.proto.graph!.output!;
    expect(outs.map((o) => o.name)).toEqual([...obs.packed]);
    expect(outs.map((o) => o.type!.tensor_type!.shape!.dim!.map((d) => d.dim_value))).toEqual([[2, 1], [4, 1, 1, 1]]);
    expect(obs.observed.map((o) => [o.output, o.index])).toEqual([[obs.packed[1], 0], [obs.packed[1], 2], [obs.packed[0], 0]]);
    const concat = nodes.at(-1)!;
    expect(concat.input).toEqual(["conv", "relu"].flatMap((t) => [obs.observed.find((o) => o.tensor === t)!.min, obs.observed.find((o) => o.tensor === t)!.max]));
    // The original is untouched and the weights are shared, not copied; w2 (MatMul's) is not needed any more.
    expect(model.proto.graph!.node!.length).toBe(6);
    expect(obs.model.proto.graph!.initializer![0]).toBe(model.proto.graph!.initializer![0]!);
    expect(obs.model.proto.graph!.initializer!.map((t) => t.name)).toEqual(["w", "bias"]);
    expect(model.proto.graph!.initializer!.length).toBe(3);
  });

  test("values of unknown rank reduce to scalars and are reshaped to [1]", () => {
    const model = convReluMatMul();
    const obs = buildObservation(model, new GraphIndex(model), new Map([["conv", DataType.FLOAT]]), "minmax");
    const ops = obs.model.proto.graph!.node!.map((n) => n.op_type);
    expect(ops).toEqual(["Conv", "ReduceMin", "ReduceMax", "Reshape", "Reshape", "Concat"]);
    expect(obs.model.proto.graph!.node![1]!.attribute).toEqual([{ name: "keepdims", type: 2, i: 0 }]);
    expect(obs.model.proto.graph!.output![0]!.type!.tensor_type!.shape!.dim).toEqual([{ dim_value: 2 }]);
  });

  test("reports int tensors, subgraph values and unknown names as not observable", async () => {
    const model = ifModel();
    const obs = await observationModel(model, ["r", "cond", "inner_then", "inner_else", "nope", "z", "x", "sum"], "minmax");
    expect(obs.observed.map((o) => o.tensor).sort()).toEqual(["r", "sum", "x", "z"]);
    const why = Object.fromEntries(obs.unobservable.map((u) => [u.tensor, u.reason]));
    expect(Object.keys(why).sort()).toEqual(["cond", "inner_else", "inner_then", "nope"]);
    expect(why.cond).toContain("BOOL");
    expect(why.inner_then).toContain("subgraph");
    expect(why.inner_else).toContain("else_branch");
    expect(why.nope).toContain("not a tensor");
  });

  test("derives undeclared types locally, and onnxruntime agrees (int64 Shape output, float Conv output)", async () => {
    const model = convReluMatMul();
    const expected = { conv: { type: DataType.FLOAT, rank: 4 }, xshape: { type: DataType.INT64, rank: 1 }, flat: { type: DataType.FLOAT, rank: 2 }, gap: { type: DataType.FLOAT, rank: 4 } };
    expect(Object.fromEntries(await ortTypes(model, Object.keys(expected)))).toEqual(expected);
    expect(Object.fromEntries(localTypes(new GraphIndex(model), Object.keys(expected)))).toEqual(expected);
    // A node type the local pass does not know leaves its outputs (and what follows) to onnxruntime.
    const odd = convReluMatMul();
    odd.proto.graph!.node![1]!.op_type = "Shrink";
    expect(localTypes(new GraphIndex(odd), ["conv", "relu", "gap"])).toEqual(new Map([["conv", { type: DataType.FLOAT, rank: 4 }]]));
    expect(Object.fromEntries(await ortTypes(odd, ["relu", "gap"]))).toEqual({ relu: { type: DataType.FLOAT, rank: 4 }, gap: { type: DataType.FLOAT, rank: 4 } });
    const obs = await observationModel(convReluMatMul(), ["xshape"], "values");
    expect(obs.observed).toEqual([]);
    expect(obs.unobservable[0]!.reason).toContain("INT64");
  });

  test("float16 and double tensors are observed through Cast to float; graph inputs get an Identity in values mode", async () => {
    const model = twoInputs();
    const obs = await observationModel(model, ["a", "m16", "m64", "s"], "values");
    expect(obs.unobservable).toEqual([]);
    const byName = Object.fromEntries(obs.observed.map((o) => [o.tensor, o]));
    const nodes = obs.model.proto.graph!.node!;
    const producer = (out: string) => nodes.find((n) => n.output!.includes(out))!;
    expect(producer(byName.m16!.values!).op_type).toBe("Cast");
    expect(producer(byName.m64!.values!).op_type).toBe("Cast");
    expect(producer(byName.a!.values!).op_type).toBe("Identity");
    expect(byName.s!.values).toBe("s");
    // Runs, and the values equal the plain model's.
    const s = await RuntimeSession.create(obs.model, { optimization: "disabled" });
    const a = randomFloats(8, 3), b = randomFloats(8, 4);
    const out = await s.run({ a: s.tensor(a, [2, 4], DataType.FLOAT), b: s.tensor(b, [2, 4], DataType.FLOAT) });
    await s.release();
    const ref = await exposeAndRun(model, ["m"], { a: { data: a, dims: [2, 4] }, b: { data: b, dims: [2, 4] } });
    const m64 = out[byName.m64!.values!]!.data as Float32Array;
    expect(Array.from(m64)).toEqual(Array.from(ref.m!)); // float → double → float is exact
    const m16 = out[byName.m16!.values!]!.data as Float32Array;
    for (let i = 0; i < 8; i++) expect(Math.abs(m16[i]! - ref.m![i]!)).toBeLessThanOrEqual(Math.abs(ref.m![i]!) * 2 ** -11);
    expect((out[byName.m16!.output]!.data as Float32Array)[byName.m16!.index]).toBe(minMaxOf(m16).min);
    expect((out[byName.a!.output]!.data as Float32Array)[byName.a!.index + 1]).toBe(minMaxOf(a).max);
  });

  test("opset 18 (axes as an input) reduces over all axes too", async () => {
    const model = convReluMatMul({ opset: 18 });
    const obs = await observationModel(model, ["conv"], "minmax");
    const s = await RuntimeSession.create(obs.model, { optimization: "disabled" });
    const x = randomFloats(2 * 72, 5, 3);
    const out = await s.run({ x: s.tensor(x, [2, 2, 6, 6], DataType.FLOAT) });
    await s.release();
    const ref = await exposeAndRun(model, ["conv"], { x: { data: x, dims: [2, 2, 6, 6] } }, "disabled"); // same Conv kernel as above
    expect(out[obs.packed[0]!]!.dims).toEqual([2, 1, 1, 1]);
    expect(Array.from(out[obs.packed[0]!]!.data as Float32Array)).toEqual([minMaxOf(ref.conv!).min, minMaxOf(ref.conv!).max]);
  });

  test("generated names never collide with existing ones", () => {
    const model = convReluMatMul();
    // Occupy the names the builder would pick first.
    model.proto.graph!.value_info = [{ name: "conv_observe_min" }, { name: "conv_observe_max" }];
    const index = new GraphIndex(model);
    const { observed } = buildObservation(model, index, new Map([["conv", DataType.FLOAT]]), "minmax");
    expect(observed[0]!.min).not.toBe("conv_observe_min");
    expect(observed[0]!.max).not.toBe("conv_observe_max");
    const names = new Set<string>();
    for (const n of observed.length ? buildObservation(model, new GraphIndex(model), new Map([["conv", DataType.FLOAT], ["relu", DataType.FLOAT]]), "values").model.proto.graph!.node! : [])
      for (const o of n.output!) {
        expect(names.has(o)).toBe(false);
        names.add(o);
      }
  });
});
