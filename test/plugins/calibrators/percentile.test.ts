import { describe, expect, test } from "bun:test";
import percentile, { percentileRange } from "../../../plugins/calibrators/percentile.ts";
import { HistogramObserver } from "../../../src/tensor/histogram.ts";
import { defaultOptions, isQuantError } from "../../../src/index.ts";
import { calibrate, ctx, laplace, normal, qdqSqnr } from "./fixtures.ts";

/** Exact p-th percentile of |x| (the value with a fraction p/100 of |x| at or below it). */
function exactAbsPercentile(x: Float32Array, p: number): number {
  const a = Float64Array.from(x, Math.abs).sort();
  return a[Math.min(a.length - 1, Math.ceil((p / 100) * a.length) - 1)]!;
}

describe("percentile", () => {
  const x = normal(1_000_000, 11);
  for (let i = 0; i < 5; i++) x[i * 1000] = 12 + i; // a few big outliers (3x the bulk's max)
  const h = new HistogramObserver();
  for (let i = 0; i < x.length; i += 65536) h.observe(x.subarray(i, i + 65536));

  test("lands on the exact |x| percentile within one bin (N(0,1), 1e6 samples, outliers)", () => {
    for (const p of [99, 99.9, 99.99, 99.999]) {
      const r = percentileRange(h, p);
      const exact = exactAbsPercentile(x, p);
      expect(Math.abs(r.max - exact)).toBeLessThanOrEqual(h.width);
      expect(r.min).toBe(Math.max(h.min, -r.max));
    }
    // the default sits where N(0,1) puts it: P(|x| > 3.89) = 1e-4 (± the sampling error of 100 tail values)
    expect(percentileRange(h, 99.99).max).toBeGreaterThan(3.8);
    expect(percentileRange(h, 99.99).max).toBeLessThan(4.0);
  });

  test("on a long tail (Laplace) clipping at 99.99 % beats min/max by > 1 dB; 100 gives min/max", () => {
    const l = laplace(1_000_000, 5);
    const hl = new HistogramObserver();
    hl.observe(l);
    const mm = qdqSqnr(l, { min: hl.min, max: hl.max });
    expect(qdqSqnr(l, percentileRange(hl, 99.99))).toBeGreaterThan(mm + 1);
    expect(percentileRange(h, 100)).toEqual({ min: h.min, max: h.max });
  });

  test("after ReLU the range is [0, p-th percentile of x]", () => {
    const relu = x.map((v) => (v > 0 ? v : 0));
    const r = calibrate(percentile(), [{ tensor: "r", values: relu }]).get("r")!;
    expect(r.min).toBe(0);
    expect(Math.abs(r.max - exactAbsPercentile(relu, 99.99))).toBeLessThan(0.005);
  });

  test("percentile from the factory, else from --percentile, else 99.99; bad values refused", () => {
    const data = [{ tensor: "t", values: x }];
    const fromFlag = percentile().create({ ...ctx, options: { ...defaultOptions, percentile: 99 } });
    fromFlag.observe({ tensor: "t", min: h.min, max: h.max, values: x });
    expect(fromFlag.finalize().get("t")!.max).toBeCloseTo(exactAbsPercentile(x, 99), 2);
    expect(calibrate(percentile({ percentile: 99.9 }), data).get("t")!.max).toBeCloseTo(exactAbsPercentile(x, 99.9), 2);
    for (const bad of [0, -1, 101, NaN]) {
      let code = "none";
      try {
        percentile({ percentile: bad });
      } catch (e) {
        code = isQuantError(e) ? e.code : String(e);
      }
      expect(code).toBe("E_QUANT_OPTIONS");
    }
  });
});
