import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { HistogramObserver } from "../../src/tensor/histogram.ts";

/** The runtime hands histograms a subsample of a large activation with the exact min/max of the whole tensor. */
describe("HistogramObserver with values that do not reach the batch min/max", () => {
  test("the range comes from min/max, the counts from the values; JSON round-trips with empty end bins", () => {
    const h = new HistogramObserver(16);
    h.observe(new Float32Array([0, 0, 1, 2]), -4, 12); // min/max of the whole tensor, values a subsample
    expect([h.min, h.max, h.total]).toEqual([-4, 12, 4]);
    expect(h.exp).toBe(1); // unit bins: floor(12) - floor(-4) = 16 > 15; width 2 fits
    const j = h.toJSON();
    // bins of width 2 from [-4, -2) to [12, 14): 0, 0, 1 in [0, 2), 2 in [2, 4); the min's and max's bins are empty
    expect(j.counts).toEqual([0, 0, 3, 1, 0, 0, 0, 0, 0]);
    const back = HistogramObserver.fromJSON(JSON.parse(JSON.stringify(j)));
    expect(back.toJSON()).toEqual(j);
  });

  test("order and batching independent, and merges equal one histogram of everything", () => {
    fc.assert(
      fc.property(fc.array(fc.float({ min: -100, max: 100, noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 60 }), fc.integer({ min: 1, max: 7 }), (xs, cut) => {
        const v = Float32Array.from(xs);
        const lo = Math.min(...v) - 50;
        const hi = Math.max(...v) + 50;
        const whole = new HistogramObserver(64);
        whole.observe(v, lo, hi);
        const a = new HistogramObserver(64);
        const b = new HistogramObserver(64);
        const k = Math.min(cut, v.length);
        b.observe(v.subarray(k), lo, hi);
        a.observe(v.subarray(0, k), lo, hi);
        a.merge(b);
        expect(JSON.stringify(a.toJSON())).toBe(JSON.stringify(whole.toJSON()));
        expect([whole.min, whole.max]).toEqual([lo, hi]);
      }),
      { seed: 5, numRuns: 200 },
    );
  });

  test("values outside the given min/max still throw", () => {
    expect(() => new HistogramObserver(16).observe(new Float32Array([0, 5]), 0, 4)).toThrow(/outside/);
  });
});
