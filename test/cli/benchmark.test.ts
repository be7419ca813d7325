import { describe, expect, test } from "bun:test";
import { corpus, hasCorpus } from "../helpers/corpus.ts";
import { quant } from "./helpers.ts";
import { fusedSummary, structureDiff } from "../../src/cli/benchmark.ts";
import { summarize } from "../../src/runtime/latency.ts";

describe("benchmark pieces", () => {
  test("structureDiff sets Q/DQ aside and reports what else changed", () => {
    const s = structureDiff({ Conv: 3, Relu: 3, BatchNormalization: 1 }, { Conv: 3, Relu: 3, QuantizeLinear: 4, DequantizeLinear: 7, Identity: 1 });
    expect(s).toEqual({ ok: false, quantizeLinear: 4, dequantizeLinear: 7, added: { Identity: 1 }, removed: { BatchNormalization: 1 } });
    expect(structureDiff({ Conv: 2, DequantizeLinear: 1 }, { Conv: 2, DequantizeLinear: 3 })).toMatchObject({ ok: true, dequantizeLinear: 2 });
    // Bypassed Identity nodes are listed but do not make the structure "changed".
    expect(structureDiff({ Conv: 2, Identity: 3 }, { Conv: 2, QuantizeLinear: 2 })).toEqual({ ok: true, quantizeLinear: 2, dequantizeLinear: 0, added: {}, removed: { Identity: 3 } });
  });
  test("fusedSummary splits integer kernels, float compute and leftover Q/DQ", () => {
    const f = fusedSummary({ QLinearConv: 5, "com.microsoft.QGemm": 1, "com.microsoft.nchwc.Conv": 2, Gemm: 1, QuantizeLinear: 2, DequantizeLinear: 3, Relu: 4 });
    expect(f.integerOps).toEqual({ QLinearConv: 5, "com.microsoft.QGemm": 1 });
    expect(f.floatOps).toEqual({ "com.microsoft.nchwc.Conv": 2, Gemm: 1 });
    expect([f.quantizeLinear, f.dequantizeLinear]).toEqual([2, 3]);
  });
  test("summarize: median (even count averages the middle two), nearest-rank p90", () => {
    const s = summarize([5, 1, 4, 2, 3, 10, 6, 7, 8, 9]);
    expect(s).toEqual({ runs: 10, medianMs: 5.5, p90Ms: 9, meanMs: 5.5, minMs: 1, maxMs: 10 });
    expect(summarize([3, 1, 2]).medianMs).toBe(2);
  });
});

describe.skipIf(!hasCorpus)("quant benchmark", () => {
  test("--format json on digits_cnn vs itself: parseable, every field, speedup = ratio of medians", () => {
    const m = corpus("digits_cnn.onnx");
    const r = quant(["benchmark", m, m, "--runs", "30", "--warmup", "3", "--format", "json"]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(Object.keys(j).sort()).toEqual(["latency", "optimized", "original", "quantized", "sizeRatio", "structure"]);
    expect(j.original.fileBytes).toBe(299570);
    expect(j.quantized).toEqual(j.original);
    expect(j.original.nodes).toBe(15);
    expect(j.original.opTypes).toEqual({ Conv: 5, Relu: 6, GlobalAveragePool: 1, Flatten: 1, Gemm: 2 });
    expect(j.sizeRatio).toBe(1);
    expect(j.structure).toEqual({ ok: true, quantizeLinear: 0, dequantizeLinear: 0, added: {}, removed: {} });
    const L = j.latency;
    expect(L).toMatchObject({ threads: 1, batch: 1, runs: 30, warmup: 3 });
    for (const s of [L.original, L.quantized]) {
      expect(s.runs).toBe(30);
      expect(s.medianMs).toBeGreaterThan(0);
      expect(s.p90Ms).toBeGreaterThanOrEqual(s.medianMs);
    }
    expect(L.speedup).toBe(L.original.medianMs / L.quantized.medianMs);
    // A float model: ORT picks no integer kernel.
    expect(j.optimized.integerOps).toEqual({});
    expect(Object.values(j.optimized.floatOps as Record<string, number>).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  });
  test("bad --runs: usage error, exit 2", () => {
    const m = corpus("digits_cnn.onnx");
    const r = quant(["benchmark", m, m, "--runs", "0"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--runs");
  });
});
