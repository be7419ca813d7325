/**
 * Issue 14 acceptance on ../shared/models, judged in onnxruntime-node on the digits test set: the transformers.js
 * variants of digits_transformer (dynamic INT8, q4 MatMulNBits, fp16), each made through the CLI as a user would.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { corpus, hasCorpus } from "../helpers/corpus.ts";
import { judge } from "../helpers/evaluate.ts";
import { quant } from "../cli/helpers.ts";

const out = mkdtempSync(join(tmpdir(), "quant-accept-tf-"));
const MODEL = "digits_transformer.onnx";

function cli(name: string, args: string[]) {
  const o = join(out, name);
  const r = quant([...args, "-o", o, "--format", "json"]);
  if (r.code !== 0) throw new Error(r.stderr);
  return { path: o, report: JSON.parse(r.stdout), ratio: statSync(o).size / statSync(corpus(MODEL)).size };
}

describe.skipIf(!hasCorpus)("transformers.js variants (issue 14)", () => {
  test("dynamic INT8: SQNR ≥ 43.0 dB at ≤ 0.44× size (ORT quantize_dynamic: 42.98 dB, 0.444×)", async () => {
    const { path, ratio } = cli("dynamic.onnx", ["quantize", corpus(MODEL), "--mode", "dynamic"]);
    const r = await judge(corpus(MODEL), path, "tf");
    console.log("digits_transformer dynamic int8", r, "size", ratio);
    expect(r.sqnrDb).toBeGreaterThanOrEqual(43.0);
    expect(ratio).toBeLessThanOrEqual(0.44);
    expect(r.accuracy).toBeGreaterThanOrEqual(r.floatAccuracy - 0.005);
  }, 60_000);

  test("the transformer preset picks dynamic INT8 (faster than fp32 at batch ≥ 8, where static Q/DQ is 0.86×)", async () => {
    const { path, report } = cli("preset.onnx", ["quantize", corpus(MODEL), "--preset", "transformer"]);
    expect(report.chain ?? report.plugins ?? JSON.stringify(report)).toContain("dynamic");
    const r = await judge(corpus(MODEL), path, "tf");
    expect(r.sqnrDb).toBeGreaterThanOrEqual(43.0);
  }, 60_000);
});
