import { describe, expect, test } from "bun:test";
import mse, { mseRange } from "../../../plugins/calibrators/mse.ts";
import { HistogramObserver } from "../../../src/tensor/histogram.ts";
import { calibrate, laplace, normal, qdqMse, qdqSqnr, rng, uniform } from "./fixtures.ts";

function hist(x: Float32Array): HistogramObserver {
  const h = new HistogramObserver();
  for (let i = 0; i < x.length; i += 50_000) h.observe(x.subarray(i, i + 50_000));
  return h;
}
const minmaxOf = (h: HistogramObserver) => ({ min: h.min, max: h.max });

describe("mse", () => {
  const n = 1_000_000;
  const outl = normal(n, 1);
  const r = rng(2);
  for (let i = 0; i < 10; i++) outl[i * 997] = 40 * (r() - 0.3); // a few big outliers on both sides
  const lap = laplace(n, 3);
  const relu = outl.map((v) => (v > 0 ? v : 0));

  test("beats min/max in real quantize–dequantize error when there are outliers or long tails", () => {
    for (const [name, x, gain] of [["outliers", outl, 3], ["laplace", lap, 1.5], ["relu+outliers", relu, 1.5]] as const) {
      const h = hist(x);
      const got = qdqSqnr(x, mseRange(h));
      const mm = qdqSqnr(x, minmaxOf(h));
      expect({ name, better: got - mm > gain }).toEqual({ name, better: true });
    }
  });

  test("stays at the ends on data without outliers (uniform)", () => {
    const x = uniform(200_000, -1, 2, 4);
    const h = hist(x);
    const got = mseRange(h);
    expect(got.max).toBeGreaterThan(0.99 * h.max);
    expect(got.min).toBeLessThan(0.99 * h.min);
  });

  test("is near the true optimum: within 1 % of the best of 200 thresholds scanned on the data (after ReLU)", () => {
    const x = lap.subarray(0, 100_000).map((v) => (v > 0 ? v : 0));
    const h = hist(x);
    const got = qdqMse(x, mseRange(h));
    let best = Infinity;
    for (let k = 1; k <= 200; k++) best = Math.min(best, qdqMse(x, { min: 0, max: (h.max * k) / 200 }));
    expect(got).toBeLessThan(best * 1.01);
    expect(mseRange(h).min).toBe(0); // after ReLU the min stays at 0 (zero point 0)
  });

  test("signed skewed data: both ends searched, within 0.6 % of the best of a 30×30 grid over (min, max) on the data", () => {
    const shapes: ((v: number) => number)[] = [(v) => (v > 0 ? v * v * 1.5 : v * 0.7), (v) => (v > 0 ? v * 3 : v * 0.5), (v) => (v > 0 ? v * 0.3 : -v * v)];
    for (const shape of shapes) {
      const x = normal(30_000, 9).map(shape); // one long tail, one short
      const h = hist(x);
      const got = qdqMse(x, mseRange(h));
      let best = Infinity;
      for (let i = 1; i <= 30; i++) for (let j = 1; j <= 30; j++) best = Math.min(best, qdqMse(x, { min: (h.min * i) / 30, max: (h.max * j) / 30 }));
      expect(got).toBeLessThan(best * 1.006);
    }
  });

  test("symmetric (int8, zero point 0): |x| threshold, better than min/max on a long tail", () => {
    const h = hist(lap);
    const got = mseRange(h, { symmetric: true });
    const t = Math.max(-got.min, got.max);
    expect(Math.min(-got.min, got.max)).toBeLessThanOrEqual(t);
    expect(got.max === t || got.min === -t).toBe(true);
    expect(qdqSqnr(lap, got, true)).toBeGreaterThan(qdqSqnr(lap, minmaxOf(h), true) + 1.5);
  });

  test("constant tensors keep their value; the plugin streams values", () => {
    const c = calibrate(mse(), [{ tensor: "c", values: new Float32Array(100).fill(2.5) }]);
    expect(c.get("c")).toEqual({ min: 2.5, max: 2.5 });
    expect(mse().needs).toBe("values");
  });
});
