import { describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { saveModel, writeNpy } from "../../src/index.ts";
import { ROOT } from "../helpers/corpus.ts";
import { mlpModel } from "../helpers/models.ts";
import { quant } from "./helpers.ts";

const EXAMPLE = join(ROOT, "examples/digits_cnn.onnx");
const tmp = () => mkdtempSync(join(tmpdir(), "quant-cli-"));

async function runs(path: string): Promise<number> {
  const s = await ort.InferenceSession.create(path);
  const name = s.inputNames[0]!;
  const dims = name === "image" ? [1, 1, 32, 32] : [1, 8];
  const out = await s.run({ [name]: new ort.Tensor("float32", new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(0.25), dims) });
  return (out[s.outputNames[0]!]!.data as Float32Array).length;
}

describe("quant info", () => {
  test("--format json prints only JSON with node counts and weights", () => {
    const r = quant(["info", EXAMPLE, "--format", "json"]);
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.nodeCounts ?? info.nodes).toBeDefined();
    expect(JSON.stringify(info)).toContain('"Conv"');
  });
  test("a missing model: one line on stderr, exit 1, no stack", () => {
    const r = quant(["info", "nope.onnx"]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe("error E_LOAD_MISSING nope.onnx: file not found");
    expect(r.stdout).toBe("");
  });
  test("random bytes: E_LOAD_PARSE, exit 1", () => {
    const d = tmp();
    writeFileSync(join(d, "junk.onnx"), new Uint8Array(4096).map((_, i) => (i * 7919) & 255));
    const r = quant(["info", join(d, "junk.onnx")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error E_LOAD_(PARSE|NOT_MODEL) /);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });
});

describe("quant quantize", () => {
  test("writes a loadable model and a JSON report", async () => {
    const d = tmp();
    const out = join(d, "q.onnx");
    const r = quant(["quantize", EXAMPLE, "-o", out, "--per-channel", "--symmetric", "--format", "json"]);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.weights.quantized).toBe(7); // 5 Conv + 2 Gemm weights; the 7 biases stay float
    expect(rep.skippedReasons).toEqual({ bias: 7 });
    expect(rep.bytes.ratio).toBeLessThan(0.3);
    expect(await runs(out)).toBe(10);
  });
  test("an already quantized model: E_QUANT_ALREADY from quantize and calibrate, one line, nothing written", () => {
    const d = tmp();
    const once = join(d, "once.onnx");
    expect(quant(["quantize", EXAMPLE, "-o", once, "--per-channel"]).code).toBe(0);
    for (const cmd of [["quantize", "--per-channel"], ["calibrate", "--samples", "2"]]) {
      const r = quant([cmd[0]!, once, "-o", join(d, "twice.onnx"), ...cmd.slice(1)]);
      expect(r.code).toBe(1);
      const errors = r.stderr.trim().split("\n").filter((l) => l.startsWith("error"));
      expect(errors).toEqual([expect.stringContaining("E_QUANT_ALREADY")]);
      expect(errors[0]).toContain("the model is already quantized (DequantizeLinear 7) and has no float weights left to quantize");
    }
    expect(readdirSync(d)).toEqual(["once.onnx"]);
  });
  test("bad flags exit 2 with E_USAGE; nothing is written", () => {
    const d = tmp();
    const r = quant(["quantize", EXAMPLE, "-o", join(d, "q.onnx"), "--bits", "3"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("E_USAGE");
    expect(readdirSync(d)).toEqual([]);
  });
  test("--opset below what the output needs fails clearly", () => {
    const d = tmp();
    const r = quant(["quantize", EXAMPLE, "-o", join(d, "q.onnx"), "--bits", "4", "--block-size", "32", "--opset", "13"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("E_OPSET");
    expect(readdirSync(d)).toEqual([]);
  });
});

describe("quant calibrate", () => {
  test("calibrates on the example's data, JSON report with activations, loadable output", async () => {
    const d = tmp();
    const out = join(d, "q.onnx");
    const r = quant(["calibrate", EXAMPLE, "--data", join(ROOT, "examples/digits_cnn_calib.npy"), "-o", out, "--method", "percentile", "--percentile", "99.9", "--format", "json"]);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.chain).toEqual(["normalize", "fold-batchnorm", "percentile", "static-qdq", "int8", "onnx", "connectivity"]);
    expect(rep.activations.quantized).toBeGreaterThan(0);
    expect(await runs(out)).toBe(10);
  });
  test("no --data: random samples of an unnamed --shape, with a warning", async () => {
    const d = tmp();
    const out = join(d, "r.onnx");
    const r = quant(["calibrate", EXAMPLE, "--shape", "1x1x32x32", "--samples", "4", "-o", out]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("random");
    expect(await runs(out)).toBe(10);
  });
  test("data that does not fit the model input: E_CALIB_SHAPE naming the input, exit 1, nothing written", () => {
    const d = tmp();
    const bad = join(d, "bad.npy");
    writeNpy(bad, new Float32Array(2 * 3 * 5 * 5), [2, 3, 5, 5]);
    const r = quant(["calibrate", EXAMPLE, "--data", bad, "-o", join(d, "q.onnx")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("E_CALIB_SHAPE");
    expect(r.stderr).toContain("image");
    expect(readdirSync(d)).toEqual(["bad.npy"]);
  });
  test("NaN in the data: E_CALIB_NONFINITE, exit 1", () => {
    const d = tmp();
    const bad = join(d, "nan.npy");
    const x = new Float32Array(2 * 1024);
    x[1500] = NaN;
    writeNpy(bad, x, [2, 1, 32, 32]);
    const r = quant(["calibrate", EXAMPLE, "--data", bad, "-o", join(d, "q.onnx")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("E_CALIB_NONFINITE");
  });
});

describe("quant batch", () => {
  test("--jobs 2 over three models writes three loadable models and an ordered summary", async () => {
    const d = tmp();
    const a = join(d, "a.onnx"), b = join(d, "b.onnx"), c = join(d, "c.onnx");
    copyFileSync(EXAMPLE, a);
    saveModel(mlpModel(), b);
    copyFileSync(EXAMPLE, c);
    const out = join(d, "out");
    const r = quant(["batch", a, b, c, "-o", out, "--jobs", "2", "--per-channel", "--format", "json"]);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.models.map((m: { input: string; status: string }) => [m.input, m.status])).toEqual([[a, "ok"], [b, "ok"], [c, "ok"]]);
    for (const f of ["a.onnx", "b.onnx", "c.onnx"]) expect(await runs(join(out, f))).toBeGreaterThan(0);
    // --skip-existing skips them all now
    const again = quant(["batch", a, b, c, "-o", out, "--skip-existing", "--format", "json"]);
    expect(JSON.parse(again.stdout).models.map((m: { status: string }) => m.status)).toEqual(["skipped", "skipped", "skipped"]);
  });
  test("one failing model does not corrupt the others with --continue-on-error; exit 1", async () => {
    const d = tmp();
    const bad = join(d, "bad.onnx");
    writeFileSync(bad, "not a model");
    const out = join(d, "out");
    const r = quant(["batch", EXAMPLE, bad, "-o", out, "--jobs", "2", "--continue-on-error", "--format", "json"]);
    expect(r.code).toBe(1);
    const rep = JSON.parse(r.stdout);
    expect(rep.models.map((m: { status: string }) => m.status)).toEqual(["ok", "failed"]);
    expect(rep.models[1].error).toContain("E_LOAD");
    expect(readdirSync(out).sort()).toEqual(["digits_cnn.onnx"]);
  });
});

describe("quant config", () => {
  test("the seed-format YAML runs; --dry-run writes nothing", async () => {
    const d = tmp();
    copyFileSync(EXAMPLE, join(d, "digits_cnn.onnx"));
    writeFileSync(join(d, "seed.yaml"), `bits: 8\nper_channel: true\nmodels:\n  - input: digits_cnn.onnx\n    output: quantized/digits_int8.onnx\nbatch:\n  input_dir: "*.onnx"\n  output_dir: quantized/batch/\n  skip_existing: true\nplugins: [normalize, weight-only, int8, onnx, connectivity]\n`);
    const dry = quant(["config", join(d, "seed.yaml"), "--dry-run", "--format", "json"]);
    expect(dry.code).toBe(0);
    const plan = JSON.parse(dry.stdout);
    expect(plan.jobs.map((j: { output: string }) => j.output)).toEqual([join(d, "quantized/digits_int8.onnx"), join(d, "quantized/batch/digits_cnn.onnx")]);
    expect(plan.jobs[0].chain.map((p: { name: string; kind: string }) => `${p.kind}:${p.name}`)).toEqual(["pass:normalize", "quantizer:weight-only", "packer:int8", "exporter:onnx", "validator:connectivity"]);
    expect(existsSync(join(d, "quantized"))).toBe(false);
    const r = quant(["config", join(d, "seed.yaml")]);
    expect(r.code).toBe(0);
    expect(await runs(join(d, "quantized/digits_int8.onnx"))).toBe(10);
    expect(await runs(join(d, "quantized/batch/digits_cnn.onnx"))).toBe(10);
  });
  test("an unknown plugin name: one line naming it and the known ones, exit 1", () => {
    const d = tmp();
    writeFileSync(join(d, "c.yaml"), "models:\n  - input: m.onnx\n    output: o.onnx\nplugins: [normalize, turbo]\n");
    const r = quant(["config", join(d, "c.yaml"), "--dry-run"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('unknown plugin "turbo"; known plugins: normalize');
  });
  test("an output folder that cannot be created: E_OUTPUT_DIR, exit 1", () => {
    const d = tmp();
    writeFileSync(join(d, "file"), "x");
    const r = quant(["quantize", EXAMPLE, "-o", join(d, "file", "sub", "o.onnx")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("E_OUTPUT_DIR");
  });
});
