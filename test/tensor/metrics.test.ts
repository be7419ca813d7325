import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { ErrorAccumulator, cosine, maxAbs, sqnrDb, top1Agreement } from "../../src/tensor/metrics.ts";

const F = (...v: number[]) => new Float32Array(v);

describe("metrics", () => {
  test("sqnrDb: 10·log10(Σx²/Σ(x−y)²)", () => {
    // signal 3² + 4² = 25, noise 0.5² = 0.25 → 20 dB.
    expect(sqnrDb(F(3, 4), F(3.5, 4))).toBeCloseTo(20, 10);
    expect(sqnrDb(F(1, 2), F(1, 2))).toBe(Infinity);
  });
  test("cosine: parallel 1, orthogonal 0, opposite −1, both zero 1, one zero 0", () => {
    expect(cosine(F(1, 2), F(2, 4))).toBeCloseTo(1, 12);
    expect(cosine(F(1, 0), F(0, 3))).toBe(0);
    expect(cosine(F(1, 2), F(-1, -2))).toBeCloseTo(-1, 12);
    expect(cosine(F(0, 0), F(0, 0))).toBe(1);
    expect(cosine(F(0, 0), F(1, 0))).toBe(0);
  });
  test("maxAbs: the largest difference; NaN when a NaN is present", () => {
    expect(maxAbs(F(1, -2, 3), F(1.5, 1, 3))).toBe(3);
    expect(maxAbs(F(1, 2), F(1, NaN))).toBeNaN();
  });
  test("top1Agreement over rows of the last dim", () => {
    expect(top1Agreement(F(0, 1, 5, 2, 1, 1), F(0, 2, 7, 3, 9, 0), 3)).toBe(0.5);
    expect(top1Agreement(F(0, 1, 5, 2, 1, 1), F(0, 2, 1, 3, 9, 0), 3)).toBe(0);
    expect(() => top1Agreement(F(1, 2, 3), F(1, 2, 3), 2)).toThrow();
  });
  test("mismatched lengths throw", () => {
    expect(() => cosine(F(1), F(1, 2))).toThrow();
    expect(() => new ErrorAccumulator().add(F(1), F(1, 2))).toThrow();
  });

  test("property: the accumulator over any split into batches equals the one-shot metrics", () => {
    const finite = fc.float({ min: -1e3, max: 1e3, noNaN: true, noDefaultInfinity: true });
    fc.assert(
      fc.property(fc.array(fc.tuple(finite, finite, finite, finite), { minLength: 1, maxLength: 40 }), fc.array(fc.nat(40), { maxLength: 5 }), (rows, cuts) => {
        const a = new Float32Array(rows.flatMap(([x, y]) => [x, y]));
        const b = new Float32Array(rows.flatMap(([x, y, p, q]) => [x + p / 64, y + q / 64]));
        const acc = new ErrorAccumulator();
        const points = [...new Set([0, ...cuts.map((c) => Math.min(rows.length, c)), rows.length])].sort((x, y) => x - y);
        for (let i = 1; i < points.length; i++) acc.add(a.subarray(2 * points[i - 1]!, 2 * points[i]!), b.subarray(2 * points[i - 1]!, 2 * points[i]!), 2);
        const r = acc.result();
        const s = sqnrDb(a, b);
        if (s === Infinity) expect(r.sqnrDb).toBe(Infinity);
        else if (Number.isFinite(s)) expect(r.sqnrDb).toBeCloseTo(s, 6);
        expect(r.cosine).toBeCloseTo(cosine(a, b), 9);
        expect(r.maxAbsError).toBe(maxAbs(a, b));
        expect(r.top1Agreement).toBe(top1Agreement(a, b, 2));
        expect(r.elements).toBe(a.length);
      }),
      { numRuns: 200 },
    );
  });

  test("non-finite test values are counted and left out of the sums", () => {
    const acc = new ErrorAccumulator();
    acc.add(F(3, 4, 1), F(3.5, 4, NaN));
    acc.add(F(Infinity), F(Infinity));
    const r = acc.result();
    expect(r.nonFinite).toBe(2);
    expect(r.nonFiniteReference).toBe(1);
    expect(r.sqnrDb).toBeCloseTo(10 * Math.log10(25 / 0.25), 10);
    expect(r.maxAbsError).toBe(0.5);
  });
});
