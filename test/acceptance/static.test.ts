/**
 * Issue 5 acceptance on ../shared/models, judged in onnxruntime-node (one thread): static INT8 accuracy and SQNR for
 * every calibration method, batch-size independence of the output bytes, and stats reuse without inference.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { corpus, hasCorpus } from "../helpers/corpus.ts";
import { judge } from "../helpers/evaluate.ts";
import { quant } from "../cli/helpers.ts";

const out = mkdtempSync(join(tmpdir(), "quant-accept-s-"));

function calibrate(model: string, name: string, flags: string[]) {
  const o = join(out, name);
  const r = quant(["calibrate", corpus(model), "-o", o, ...flags, "--format", "json"]);
  if (r.code !== 0) throw new Error(r.stderr);
  return { path: o, report: JSON.parse(r.stdout) };
}

describe.skipIf(!hasCorpus)("static quantization acceptance (issue 5)", () => {
  const cnn: Record<string, number> = {};
  for (const method of ["minmax", "percentile", "entropy", "mse"]) {
    test(`digits_cnn --per-channel --method ${method}: accuracy ≥ 0.99, SQNR ≥ 33.0 dB`, async () => {
      const { path } = calibrate("digits_cnn.onnx", `cnn-${method}.onnx`, ["--data", corpus("digits_cnn_calib.npy"), "--per-channel", "--method", method]);
      const r = await judge(corpus("digits_cnn.onnx"), path, "cnn");
      console.log(`digits_cnn static ${method}`, r);
      cnn[method] = r.sqnrDb;
      expect(r.accuracy).toBeGreaterThanOrEqual(0.99);
      expect(r.sqnrDb).toBeGreaterThanOrEqual(33.0);
      if (method === "minmax") expect(r.sqnrDb).toBeGreaterThanOrEqual(33.9);
    }, 60_000);
  }
  test("digits_cnn: the best method reaches ≥ 34.5 dB", () => {
    expect(Object.keys(cnn)).toHaveLength(4);
    expect(Math.max(...Object.values(cnn))).toBeGreaterThanOrEqual(34.5);
  });

  test("digits_transformer: accuracy ≥ 0.985, SQNR ≥ 32.6 dB", async () => {
    const { path, report } = calibrate("digits_transformer.onnx", "tf.onnx", ["--data", corpus("digits_tf_calib.npy"), "--per-channel"]);
    const r = await judge(corpus("digits_transformer.onnx"), path, "tf");
    console.log("digits_transformer static", r, report.activations);
    expect(r.accuracy).toBeGreaterThanOrEqual(0.985);
    expect(r.sqnrDb).toBeGreaterThanOrEqual(32.6);
  }, 60_000);

  test("the same input and options give a byte-identical model whatever --batch-size (histogram method)", () => {
    const flags = ["--data", corpus("digits_cnn_calib.npy"), "--per-channel", "--method", "entropy"];
    const a = calibrate("digits_cnn.onnx", "b1.onnx", [...flags, "--batch-size", "1"]);
    const b = calibrate("digits_cnn.onnx", "b16.onnx", [...flags, "--batch-size", "16"]);
    const c = calibrate("digits_cnn.onnx", "b7.onnx", [...flags, "--batch-size", "7"]);
    const bytes = [a, b, c].map((x) => readFileSync(x.path));
    expect(Buffer.compare(bytes[0]!, bytes[1]!)).toBe(0);
    expect(Buffer.compare(bytes[0]!, bytes[2]!)).toBe(0);
  }, 60_000);

  test("--stats-out then --stats-in re-quantizes without inference to the same model", () => {
    const stats = join(out, "stats.json");
    const flags = ["--per-channel", "--method", "mse"];
    const a = calibrate("digits_cnn.onnx", "sa.onnx", ["--data", corpus("digits_cnn_calib.npy"), "--stats-out", stats, ...flags]);
    const b = calibrate("digits_cnn.onnx", "sb.onnx", ["--stats-in", stats, ...flags]);
    expect(Buffer.compare(readFileSync(a.path), readFileSync(b.path))).toBe(0);
    expect(b.report.timings.calibrate).toBeLessThan(a.report.timings.calibrate);
  }, 60_000);
});
