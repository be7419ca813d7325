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
    expect(by.q4!.sizeRatio).toBeLessThan(0.4); // MatMul weights only (0.375×): the Gemm out-projections and head stay float
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

describe("quant variants on a GPT-like decoder (transformers.js text-generation layout, random weights)", () => {
  test("all seven files; each runs a one-token step on a 6-token cache and stays close to fp32", async () => {
    const { decoderModel } = await import("../helpers/decoder.ts");
    const { writeFileSync } = await import("node:fs");
    const dir = mkdtempSync(join(tmpdir(), "quant-variants-dec-"));
    const src = join(dir, "model.onnx");
    writeFileSync(src, decoderModel({ vocab: 96, dim: 64, heads: 4, layers: 2 }));
    const out = join(dir, "onnx");
    const r = quant(["variants", src, "-o", out, "--runs", "0", "--shape", "past_key_values.*=1x4x6x16", "--shape", "attention_mask=1x7", "--format", "json"]);
    expect(r.code).toBe(0);
    expect(readdirSync(out).sort()).toEqual(["model_bnb4.onnx", "model_fp16.onnx", "model_int8.onnx", "model_q4.onnx", "model_q4f16.onnx", "model_quantized.onnx", "model_uint8.onnx"]);
    const step = async (file: string) => {
      const s = await ort.InferenceSession.create(file, { intraOpNumThreads: 1 });
      const past = new Float32Array(4 * 6 * 16).map((_, i) => Math.sin(i));
      const feeds: Record<string, ort.Tensor> = {
        input_ids: new ort.Tensor("int64", BigInt64Array.of(42n), [1, 1]),
        attention_mask: new ort.Tensor("int64", new BigInt64Array(7).fill(1n), [1, 7]),
        position_ids: new ort.Tensor("int64", BigInt64Array.of(6n), [1, 1]),
      };
      for (let l = 0; l < 2; l++) for (const kv of ["key", "value"]) feeds[`past_key_values.${l}.${kv}`] = new ort.Tensor("float32", past, [1, 4, 6, 16]);
      const o = await s.run(feeds);
      await s.release();
      expect(o["present.1.value"]!.dims).toEqual([1, 4, 7, 16]);
      return o.logits!.data as Float32Array;
    };
    const { sqnrDb } = await import("../../src/index.ts");
    const ref = await step(src);
    // Measured: fp16 64.5, q8/int8/uint8 34.5, q4/q4f16 11.6, bnb4 12.7 dB (random Gaussian weights through 2 blocks and
    // the LM head: the 4-bit figures are a worst case, with no trained structure to preserve).
    const floor: Record<string, number> = { fp16: 60, quantized: 32, int8: 32, uint8: 32, q4: 10, q4f16: 10, bnb4: 11 };
    for (const [suffix, min] of Object.entries(floor)) expect(sqnrDb(ref, await step(join(out, `model_${suffix}.onnx`)))).toBeGreaterThan(min);
  }, 120_000);
});
