import { describe, expect, test } from "bun:test";
import entropy, { entropyRange, klCurve } from "../../../plugins/calibrators/entropy.ts";
import { HistogramObserver } from "../../../src/tensor/histogram.ts";
import { calibrate, laplace, normal, qdqSqnr, rng, uniform } from "./fixtures.ts";

function hist(x: Float32Array, bins?: number): HistogramObserver {
  const h = new HistogramObserver(bins);
  for (let i = 0; i < x.length; i += 50_000) h.observe(x.subarray(i, i + 50_000));
  return h;
}

/**
 * KL(P‖Q) of one candidate straight from the definition, bin by bin (the plugin uses prefix sums):
 * P = masses below the threshold bin `jt` with the rest folded into bin jt-1; level of bin u = round((u+0.5)/d)
 * (bin 0 alone when exactZero); Q = each level's sliced mass spread over the level's bins where P > 0.
 */
function referenceKl(h: HistogramObserver, jt: number, o: { weight: number; exactZero: boolean; symmetric: boolean }): number {
  const m = h.magnitude();
  const w = m.width;
  const s0 = m.start;
  const v = Array.from(m.counts, (c, j) => c * (s0 + j + 0.5) ** o.weight);
  const aTop = Math.max(-h.min, 0) / w;
  const bTop = Math.max(h.max, 0) / w;
  const t = Math.min(s0 + jt, Math.max(aTop, bTop));
  const d = o.symmetric ? t / 127 : (Math.min(aTop, t) + Math.min(bTop, t)) / 255;
  const p = v.slice(0, jt);
  p[jt - 1]! += v.slice(jt).reduce((a, b) => a + b, 0);
  const level = (j: number) => (o.exactZero && s0 === 0 && j === 0 ? -1 : Math.floor((s0 + j + 0.5) / d + 0.5));
  const Q = new Map<number, number>();
  const N = new Map<number, number>();
  for (let j = 0; j < jt; j++) {
    Q.set(level(j), (Q.get(level(j)) ?? 0) + v[j]!);
    if (p[j]! > 0) N.set(level(j), (N.get(level(j)) ?? 0) + 1);
  }
  const q = p.map((pj, j) => (pj > 0 ? Q.get(level(j))! / N.get(level(j))! : 0));
  const sp = p.reduce((a, b) => a + b, 0);
  const sq = q.reduce((a, b) => a + b, 0);
  let kl = 0;
  for (let j = 0; j < jt; j++) if (p[j]! > 0) kl += (p[j]! / sp) * Math.log(p[j]! / sp / (q[j]! / sq));
  return kl;
}

describe("entropy", () => {
  test("the prefix-sum KL equals the bin-by-bin definition for every candidate checked", () => {
    const x = laplace(50_000, 7).map((v, i) => (i % 3 === 0 ? Math.max(v, 0) : v * 0.5));
    const h = hist(x, 1024);
    for (const o of [
      { weight: 0, exactZero: false, symmetric: false },
      { weight: 1, exactZero: true, symmetric: false },
      { weight: 1, exactZero: true, symmetric: true },
    ]) {
      const { kl } = klCurve(h, o);
      let checked = 0;
      for (let jt = 1; jt <= kl.length; jt += 37) {
        if (!Number.isFinite(kl[jt - 1]!)) continue;
        expect(kl[jt - 1]!).toBeCloseTo(referenceKl(h, jt, o), 9);
        checked++;
      }
      expect(checked).toBeGreaterThan(5);
    }
  });

  test("every candidate bin edge is scored, from where a level spans one bin up to the max", () => {
    const h = hist(normal(100_000, 1).map((v) => (v > 0 ? v : 0)), 2048); // ≤ 2048 bins: searched as is
    const { t, kl } = klCurve(h);
    const w = h.width;
    expect(t.length).toBe(h.used);
    expect(t[t.length - 1]).toBe(h.max);
    // uint8 after ReLU: 255 levels need T ≥ 255 bins; every edge above is a candidate, finite unless P has mass
    // where Q has none (a sparse tail: the last level is empty but outliers fold into it), which the definition agrees on
    let finite = 0;
    for (let i = 0; i < t.length; i++) {
      const bins = t[i]! / w;
      if (bins < 255.5) continue;
      if (Number.isFinite(kl[i]!)) finite++;
      else if (i % 7 === 0) expect(referenceKl(h, i + 1, { weight: 1, exactZero: true, symmetric: false })).toBe(Infinity);
    }
    expect(finite).toBeGreaterThan(300);
  });

  test("clips outliers and long tails: lower quantization error than min/max", () => {
    const n = 1_000_000;
    const outl = normal(n, 1);
    const r = rng(2);
    for (let i = 0; i < 10; i++) outl[i * 997] = 40 * (r() - 0.3);
    const lap = laplace(n, 3);
    for (const [name, x, gain] of [["outliers", outl, 0.5], ["laplace", lap, 1]] as const) {
      const h = hist(x);
      const got = qdqSqnr(x, entropyRange(h)) - qdqSqnr(x, { min: h.min, max: h.max });
      expect({ name, better: got > gain }).toEqual({ name, better: true });
    }
  });

  test("stays near the ends on data without outliers (uniform)", () => {
    const h = hist(uniform(300_000, -1, 2, 4));
    const got = entropyRange(h);
    expect(got.max).toBeGreaterThan(0.97 * h.max);
    expect(got.min).toBeLessThan(0.97 * h.min);
  });

  test("symmetric: one threshold for both sides", () => {
    const x = laplace(300_000, 8);
    const h = hist(x);
    const got = entropyRange(h, { symmetric: true });
    const t = Math.max(-got.min, got.max);
    expect(got.max === t || got.min === -t).toBe(true);
    expect(qdqSqnr(x, got, true)).toBeGreaterThan(qdqSqnr(x, { min: h.min, max: h.max }, true));
  });

  test("constant tensors keep their value; the plugin streams values", () => {
    expect(calibrate(entropy(), [{ tensor: "c", values: new Float32Array(10).fill(-1) }]).get("c")).toEqual({ min: -1, max: -1 });
    expect(entropy().needs).toBe("values");
  });
});
