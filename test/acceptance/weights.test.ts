/**
 * Issue 3 acceptance on ../shared/models, judged in onnxruntime-node: weight-only INT8 / INT4 accuracy and SQNR,
 * INT4 file size. Each run goes through the CLI exactly as a user would.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { corpus, hasCorpus } from "../helpers/corpus.ts";
import { judge } from "../helpers/evaluate.ts";
import { quant } from "../cli/helpers.ts";

const out = mkdtempSync(join(tmpdir(), "quant-accept-w-"));

function quantize(model: string, name: string, flags: string[]) {
  const o = join(out, name);
  const r = quant(["quantize", corpus(model), "-o", o, ...flags, "--format", "json"]);
  if (r.code !== 0) throw new Error(r.stderr);
  return { path: o, report: JSON.parse(r.stdout) };
}

describe.skipIf(!hasCorpus)("weight-only acceptance (issue 3)", () => {
  test("digits_cnn INT8 per-channel: accuracy ≥ 0.99, logits SQNR ≥ 35 dB", async () => {
    const { path } = quantize("digits_cnn.onnx", "cnn8.onnx", ["--bits", "8", "--per-channel"]);
    const r = await judge(corpus("digits_cnn.onnx"), path, "cnn");
    console.log("digits_cnn int8 per-channel", r);
    expect(r.accuracy).toBeGreaterThanOrEqual(0.99);
    expect(r.sqnrDb).toBeGreaterThanOrEqual(35);
  }, 60_000);

  test("digits_transformer INT8 per-channel: accuracy ≥ 0.985, SQNR ≥ 35 dB", async () => {
    const { path } = quantize("digits_transformer.onnx", "tf8.onnx", ["--bits", "8", "--per-channel"]);
    const r = await judge(corpus("digits_transformer.onnx"), path, "tf");
    console.log("digits_transformer int8 per-channel", r);
    expect(r.accuracy).toBeGreaterThanOrEqual(0.985);
    expect(r.sqnrDb).toBeGreaterThanOrEqual(35);
  }, 60_000);

  test("digits_transformer INT4 block 32 symmetric native, MatMul only: SQNR ≥ 26.6 dB; with --clip-search ≥ 27.3 dB", async () => {
    const flags = ["--bits", "4", "--block-size", "32", "--symmetric", "--native-int4", "--op-types", "MatMul"];
    const plain = quantize("digits_transformer.onnx", "tf4.onnx", flags);
    const clip = quantize("digits_transformer.onnx", "tf4c.onnx", [...flags, "--clip-search"]);
    expect(plain.report.opset.to).toBe(21);
    const a = await judge(corpus("digits_transformer.onnx"), plain.path, "tf");
    const b = await judge(corpus("digits_transformer.onnx"), clip.path, "tf");
    console.log("digits_transformer int4 block32 MatMul", a, "clip-search", b);
    expect(a.sqnrDb).toBeGreaterThanOrEqual(26.6);
    expect(b.sqnrDb).toBeGreaterThanOrEqual(27.3);
    // every MatMul weight went to INT4 (the per-layer error is in the report)
    const q = plain.report.tensors.filter((t: { action: string; opType: string }) => t.action === "quantized");
    expect(q.length).toBeGreaterThan(0);
    expect(q.every((t: { type: string; sqnrDb: number }) => t.type === "int4" && Number.isFinite(t.sqnrDb))).toBe(true);
  }, 60_000);

  test("digits_transformer INT4 default selection measures which layers are worth 4 bits: smaller and more accurate than MatMul-only", async () => {
    const flags = ["--bits", "4", "--block-size", "32", "--symmetric", "--native-int4"];
    const all = quantize("digits_transformer.onnx", "tf4all.onnx", flags);
    const mm = quantize("digits_transformer.onnx", "tf4mm.onnx", [...flags, "--op-types", "MatMul"]);
    const r = await judge(corpus("digits_transformer.onnx"), all.path, "tf");
    const m = await judge(corpus("digits_transformer.onnx"), mm.path, "tf");
    console.log("digits_transformer int4 default selection", r, "MatMul only", m);
    const kept8 = all.report.tensors.filter((t: { type: string; action: string }) => t.action === "quantized" && t.type === "int8").map((t: { tensor: string }) => t.tensor);
    // the 8x64 input projection and the classifier head cost far more output noise per byte than the rest
    expect(kept8.sort()).toEqual(["head.weight", "onnx::MatMul_301"]);
    expect(r.sqnrDb).toBeGreaterThan(m.sqnrDb);
    expect(statSync(all.path).size).toBeLessThan(statSync(mm.path).size);
  }, 60_000);

  test("resnet18 INT4 block 32 native: file ≤ 0.2× the fp32 file", () => {
    // The storage figure of native Int4: raw INT4, without INT4's default accuracy target (which keeps layers at
    // 8 bits when the random-input SQNR is under 20 dB: 0.274× here).
    const { path, report } = quantize("resnet18.onnx", "r18int4.onnx", ["--bits", "4", "--block-size", "32", "--native-int4", "--target-sqnr", "off"]);
    const ratio = statSync(path).size / statSync(corpus("resnet18.onnx")).size;
    console.log("resnet18 int4 size ratio", ratio);
    expect(ratio).toBeLessThanOrEqual(0.2);
    expect(report.opset.to).toBe(21);
  }, 60_000);
});
