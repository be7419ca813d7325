import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DataType, GraphBuilder, encodeModelProto } from "../../src/index.ts";
import { writeNpy } from "../../src/data/npy.ts";
import { corpus, hasCorpus } from "../helpers/corpus.ts";
import { quant } from "./helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "quant-validate-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** x[N,4] → MatMul(W) → y[N,3], W float or through DequantizeLinear(int8 per-channel); `dangling` breaks the MatMul's input. */
function write(name: string, kind: "float" | "qdq" | "dangling"): string {
  const b = new GraphBuilder(kind);
  b.input("x", DataType.FLOAT, ["N", 4]);
  const w = new Float32Array(12).map((_, i) => (i - 6) / 8);
  if (kind === "float") b.initializer("W", DataType.FLOAT, [4, 3], w);
  else {
    // W = q · (1/16): exactly representable, so the quantized model computes the same numbers.
    b.initializer("Wq", DataType.INT8, [4, 3], Int8Array.from(w, (v) => v * 16));
    b.initializer("s", DataType.FLOAT, [3], new Float32Array(3).fill(1 / 16));
    b.initializer("zp", DataType.INT8, [3], new Int8Array(3));
    b.node("DequantizeLinear", ["Wq", "s", "zp"], { axis: 1 }, ["W"], { name: "dq" });
  }
  b.node("MatMul", ["x", kind === "dangling" ? "W_gone" : "W"], {}, ["y"], { name: "mm" });
  b.output("y", DataType.FLOAT, ["N", 3]);
  const path = join(dir, name);
  writeFileSync(path, encodeModelProto(b.model({ opset: 13 })));
  return path;
}

const float = write("float.onnx", "float");
const good = write("qdq.onnx", "qdq");
const dangling = write("dangling.onnx", "dangling");
const data = join(dir, "x.npy");
writeNpy(data, new Float32Array(20).map((_, i) => Math.sin(i)), [5, 4]);

describe("quant validate", () => {
  test("exit 1 on a model with a dangling node input, naming it", () => {
    const r = quant(["validate", float, dangling]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("dangling-input");
    expect(r.stdout).toContain("W_gone");
    expect(r.stdout).toContain("FAIL");
  });

  test("exit 1 with --format json: parseable, ok false, structure errors counted, no outputs", () => {
    const r = quant(["validate", float, dangling, "--format", "json"]);
    expect(r.code).toBe(1);
    const j = JSON.parse(r.stdout);
    expect(j.ok).toBe(false);
    expect(j.structure.errors).toBe(2); // dangling-input + ort-load
    expect(j.structure.diagnostics.map((d: { code: string }) => d.code).sort()).toEqual(["dangling-input", "ort-load"]);
    expect(j.outputs).toEqual([]);
  });

  test("exit 0 on a good QDQ model, with its numbers in JSON", () => {
    const r = quant(["validate", float, good, "--data", data, "--format", "json", "--detailed"]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.ok).toBe(true);
    expect(j.structure).toMatchObject({ errors: 0, warnings: 0 });
    expect(j.fidelity).toMatchObject({ samples: 5, randomData: false, errors: 0 });
    // The weights are exact multiples of the scale, but ORT 1.30 rewrites DQ→MatMul into MatMulNBits, which
    // quantizes the activations too: close to, not exactly, the float result.
    expect(j.outputs).toHaveLength(1);
    expect(j.outputs[0]).toMatchObject({ name: "y", top1Agreement: 1, nonFinite: 0 });
    expect(j.outputs[0].sqnrDb).toBeGreaterThan(50);
    expect(j.outputs[0].cosine).toBeGreaterThan(0.9999);
    expect(j.layers).toEqual([]);
  });

  test("--min-sqnr fails a model below the bar (exit 1) and passes one above it", () => {
    const perturbed = join(dir, "perturbed.onnx");
    const b = new GraphBuilder("p");
    b.input("x", DataType.FLOAT, ["N", 4]);
    b.initializer("W", DataType.FLOAT, [4, 3], new Float32Array(12).map((_, i) => (i - 6) / 8 + (i === 0 ? 0.05 : 0)));
    b.node("MatMul", ["x", "W"], {}, ["y"], { name: "mm" });
    b.output("y", DataType.FLOAT, ["N", 3]);
    writeFileSync(perturbed, encodeModelProto(b.model({ opset: 13 })));
    const ok = JSON.parse(quant(["validate", float, perturbed, "--data", data, "--format", "json"]).stdout);
    const db = ok.outputs[0].sqnrDb as number;
    expect(db).toBeGreaterThan(10);
    const fail = quant(["validate", float, perturbed, "--data", data, "--min-sqnr", String(Math.ceil(db))]);
    expect(fail.code).toBe(1);
    expect(fail.stdout).toContain("fidelity-sqnr");
    expect(quant(["validate", float, perturbed, "--data", data, "--min-sqnr", String(Math.floor(db))]).code).toBe(0);
  });

  test("--help shows examples", () => {
    const r = quant(["validate", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).toContain("quant validate model.onnx model.qdq.onnx");
  });
});

describe.skipIf(!hasCorpus)("quant validate on the corpus", () => {
  test("digits_cnn against itself on its test set: exit 0, identical outputs", () => {
    const r = quant(["validate", corpus("digits_cnn.onnx"), corpus("digits_cnn.onnx"), "--data", corpus("digits_cnn_test_x.npy"), "--samples", "32", "--format", "json"]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.fidelity.samples).toBe(32);
    expect(j.outputs[0]).toMatchObject({ name: "logits", sqnrDb: null, top1Agreement: 1 });
  });
});
