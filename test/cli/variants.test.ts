/**
 * `quant variants`: all seven transformers.js files from one model loaded once, each loading and running in
 * onnxruntime-node, with the per-variant table in JSON; bad modes and paths fail with one line and write nothing.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { corpus, hasCorpus } from "../helpers/corpus.ts";
import { quant } from "./helpers.ts";

const FILES = ["_fp16", "_quantized", "_int8", "_uint8", "_q4", "_q4f16", "_bnb4"];

describe.skipIf(!hasCorpus)("quant variants", () => {
  test("digits_transformer: seven files with transformers.js names, each runs in ORT; the table has real figures", async () => {
    const out = mkdtempSync(join(tmpdir(), "quant-variants-"));
    const r = quant(["variants", corpus("digits_transformer.onnx"), "-o", out, "--runs", "5", "--format", "json"]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    const rows = report.models[0].variants as { mode: string; file: string; sizeRatio: number; sqnrDb: number; speedup: number; fused: Record<string, number> }[];
    expect(rows.map((v) => v.mode)).toEqual(["fp16", "q8", "int8", "uint8", "q4", "q4f16", "bnb4"]);
    expect(readdirSync(out).sort()).toEqual(FILES.map((s) => `digits_transformer${s}.onnx`).sort());
    const by = Object.fromEntries(rows.map((v) => [v.mode, v]));
    expect(by.fp16!.sqnrDb).toBeGreaterThan(60);
    expect(by.q8!.sqnrDb).toBeGreaterThan(38);
    expect(by.q4!.sqnrDb).toBeGreaterThan(24);
    expect(by.q4!.sizeRatio).toBeLessThan(0.3);
    expect(by.q8!.fused["com.microsoft.DynamicQuantizeMatMul"]).toBe(9);
    expect(by.q4!.fused["com.microsoft.MatMulNBits"]).toBe(7);
    expect(by.bnb4!.fused["com.microsoft.MatMulBnb4"]).toBe(7);
    for (const v of rows) {
      expect(v.speedup).toBeGreaterThan(0);
      expect(statSync(v.file).size).toBeGreaterThan(0);
      const s = await ort.InferenceSession.create(v.file, { intraOpNumThreads: 1 });
      const o = await s.run({ rows: new ort.Tensor("float32", new Float32Array(2 * 64).fill(0.5), [2, 8, 8]) });
      expect((o.logits!.data as Float32Array).length).toBe(20);
      await s.release();
    }
  }, 120_000);

  test("an unknown mode or a missing model fails with one line and writes nothing", () => {
    const out = join(mkdtempSync(join(tmpdir(), "quant-variants-")), "o");
    const bad = quant(["variants", corpus("digits_transformer.onnx"), "-o", out, "--modes", "q4,q3"]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr.trim().split("\n")).toEqual(['error E_USAGE: unknown variant mode "q3" (modes: fp16, q8, int8, uint8, q4, q4f16, bnb4)']);
    const missing = quant(["variants", join(out, "none.onnx"), "-o", out]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain("E_LOAD_MISSING");
    expect(existsSync(out)).toBe(false);
  });
});
