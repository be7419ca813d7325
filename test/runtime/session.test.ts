import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadModel, saveModel } from "../../src/onnx/codec.ts";
import { GraphBuilder } from "../../src/onnx/builder.ts";
import { encodeModelProto } from "../../src/onnx/proto.ts";
import { DataType } from "../../src/tensor/dtypes.ts";
import { RuntimeSession, SINGLE_THREAD, fixedBatch, modelInputs, ortSessionOptions, ortType } from "../../src/runtime/session.ts";
import { convReluMatMul, twoInputs } from "./models.ts";
import { randomFloats } from "./helpers.ts";

describe("modelInputs / fixedBatch", () => {
  test("graph inputs minus initializers, with shapes", () => {
    expect(modelInputs(twoInputs())).toEqual([
      { name: "a", elemType: DataType.FLOAT, shape: ["N", 4] },
      { name: "b", elemType: DataType.FLOAT, shape: ["N", 4] },
    ]);
    const b = new GraphBuilder();
    b.input("ids", DataType.INT64, [1, "seq"]);
    b.input("mask", DataType.BOOL, [1, null]);
    b.input("anything", DataType.FLOAT);
    b.node("Identity", ["anything"], {}, ["o"]);
    b.output("o");
    const m = loadModel(encodeModelProto(b.model()));
    expect(modelInputs(m)).toEqual([
      { name: "ids", elemType: DataType.INT64, shape: [1, "seq"] },
      { name: "mask", elemType: DataType.BOOL, shape: [1, null] },
      { name: "anything", elemType: DataType.FLOAT, shape: [] },
    ]);
    expect(fixedBatch(modelInputs(m))).toBe(1);
    expect(fixedBatch(modelInputs(twoInputs()))).toBeUndefined();
    expect(fixedBatch(modelInputs(convReluMatMul({ batch: 1 })))).toBe(1);
  });
});

describe("RuntimeSession", () => {
  test("single-thread preset maps to onnxruntime options; errors are quiet by default", () => {
    expect(ortSessionOptions(SINGLE_THREAD)).toEqual({ graphOptimizationLevel: "all", logSeverityLevel: 3, intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: "sequential" });
    expect(ortSessionOptions({ optimization: "extended", optimizedModelFilePath: "/tmp/x.onnx" })).toMatchObject({ graphOptimizationLevel: "extended", optimizedModelFilePath: "/tmp/x.onnx" });
    expect(ortType(DataType.INT64)).toBe("int64");
    expect(() => ortType(DataType.BFLOAT16)).toThrow(/BFLOAT16/);
  });

  test("a model with external data runs from a temporary folder, removed on release, same outputs as inline", async () => {
    const dir = mkdtempSync(join(tmpdir(), "quant-test-"));
    try {
      const inline = convReluMatMul();
      saveModel(inline, join(dir, "m.onnx"), { externalData: { threshold: 0 } });
      const ext = loadModel(join(dir, "m.onnx"));
      expect(ext.proto.graph!.initializer!.every((t) => t.data_location === 1)).toBe(true);
      const before = readdirSync(tmpdir()).filter((f) => f.startsWith("quant-session-")).length;
      const a = await RuntimeSession.create(ext, SINGLE_THREAD);
      expect(readdirSync(tmpdir()).filter((f) => f.startsWith("quant-session-")).length).toBe(before + 1);
      const b = await RuntimeSession.create(inline, SINGLE_THREAD);
      const x = randomFloats(2 * 72, 3);
      const ya = await a.run({ x: a.tensor(x, [2, 2, 6, 6], DataType.FLOAT) });
      const yb = await b.run({ x: b.tensor(x, [2, 2, 6, 6], DataType.FLOAT) });
      expect(Array.from(ya.y!.data as Float32Array)).toEqual(Array.from(yb.y!.data as Float32Array));
      expect(Array.from(ya.xshape!.data as BigInt64Array)).toEqual([2n, 2n, 6n, 6n]);
      await a.release();
      await a.release(); // twice is fine
      await b.release();
      expect(readdirSync(tmpdir()).filter((f) => f.startsWith("quant-session-")).length).toBe(before);
      ext.external?.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("bytes and paths load too; a broken model or a bad run is E_RUNTIME", async () => {
    const bytes = encodeModelProto(convReluMatMul().proto);
    const s = await RuntimeSession.create(bytes);
    expect(s.inputNames).toEqual(["x"]);
    expect(s.outputNames).toEqual(["y", "xshape"]);
    // A fetch subset returns exactly those outputs, under their names.
    const part = await s.run({ x: s.tensor(new Float32Array(72), [1, 2, 6, 6], DataType.FLOAT) }, ["xshape"]);
    expect(Object.keys(part)).toEqual(["xshape"]);
    expect(Array.from(part.xshape!.data as BigInt64Array)).toEqual([1n, 2n, 6n, 6n]);
    await expect(s.run({ x: s.tensor(new Float32Array(3), [1, 3], DataType.FLOAT) })).rejects.toMatchObject({ code: "E_RUNTIME" });
    await s.release();
    const b = new GraphBuilder();
    b.input("x");
    b.node("NoSuchOp", ["x"], {}, ["y"]);
    b.output("y");
    await expect(RuntimeSession.create(encodeModelProto(b.model()))).rejects.toMatchObject({ code: "E_RUNTIME" });
    await expect(RuntimeSession.create("/nonexistent/model.onnx")).rejects.toMatchObject({ code: "E_RUNTIME", site: { file: "/nonexistent/model.onnx" } });
    expect(existsSync("/nonexistent")).toBe(false);
  });

  test("feeds: typed tensors over the batch data (no copy); a missing input is E_CALIB_SHAPE", async () => {
    const s = await RuntimeSession.create(twoInputs());
    const a = new Float32Array(8);
    const feeds = s.feeds({ a: { data: a, dims: [2, 4], elemType: DataType.FLOAT }, b: { data: new Float32Array(8), dims: [2, 4], elemType: DataType.FLOAT }, extra: { data: new Int32Array(1), dims: [1], elemType: DataType.INT32 } });
    expect(Object.keys(feeds)).toEqual(["a", "b"]);
    expect(feeds.a!.data).toBe(a);
    expect(() => s.feeds({ a: { data: a, dims: [2, 4], elemType: DataType.FLOAT } })).toThrow(expect.objectContaining({ code: "E_CALIB_SHAPE" }));
    expect(() => s.tensor(new Float32Array(3), [2, 2], DataType.FLOAT)).toThrow(expect.objectContaining({ code: "E_CALIB_DTYPE" }));
    await s.release();
  });
});
