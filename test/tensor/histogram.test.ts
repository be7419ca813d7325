import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { DEFAULT_BINS, HistogramObserver, MIN_EXP, pow2, requiredExp } from "../../src/tensor/histogram.ts";
import { HistogramSet } from "../../src/quant/histogram-calibrator.ts";
import { isQuantError } from "../../src/index.ts";
import { normal } from "../plugins/calibrators/fixtures.ts";

/** Finite float32 arrays, mixing tiny, ordinary and huge magnitudes (and -0). */
const values = fc.oneof(
  fc.float32Array({ noNaN: true, noDefaultInfinity: true, minLength: 1, maxLength: 120 }),
  fc.array(fc.float({ min: -10, max: 10, noNaN: true }), { minLength: 1, maxLength: 120 }).map((a) => Float32Array.from(a)),
  fc.array(fc.float({ min: 0, max: 3, noNaN: true }), { minLength: 1, maxLength: 120 }).map((a) => Float32Array.from(a)),
);
/** Cut points splitting an array into batches. */
const cuts = fc.array(fc.nat(), { maxLength: 6 });

function batches(x: Float32Array, at: number[]): Float32Array[] {
  const pts = [...new Set(at.map((c) => c % (x.length + 1)))].sort((a, b) => a - b);
  const out: Float32Array[] = [];
  let prev = 0;
  for (const p of [...pts, x.length]) {
    out.push(x.subarray(prev, p));
    prev = p;
  }
  return out;
}

function shuffled(x: Float32Array, seed: number): Float32Array {
  const y = x.slice();
  let s = seed >>> 0 || 1;
  for (let i = y.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const j = s % (i + 1);
    [y[i], y[j]] = [y[j]!, y[i]!];
  }
  return y;
}

function histOf(parts: Float32Array[], bins = 64): HistogramObserver {
  const h = new HistogramObserver(bins);
  for (const p of parts) h.observe(p);
  return h;
}

/** Brute-force counts at the histogram's own (exp, first). */
function bruteCounts(x: Float32Array, h: HistogramObserver): number[] {
  const c = new Array<number>(h.used).fill(0);
  for (const v of x) c[Math.floor(v / 2 ** h.exp) - h.first]!++;
  return c;
}

describe("HistogramObserver", () => {
  test("pow2 is exact over the whole exponent range", () => {
    for (const e of [-1022, -200, -1, 0, 1, 52, 1023]) expect(pow2(e)).toBe(2 ** e);
  });

  test("same multiset in any order and any batching gives a bit-identical histogram (small bins force many rebinnings)", () => {
    fc.assert(
      fc.property(values, cuts, cuts, fc.nat(), (x, c1, c2, seed) => {
        const a = histOf(batches(x, c1), 16);
        const b = histOf(batches(shuffled(x, seed), c2), 16);
        expect(b.toJSON()).toEqual(a.toJSON());
        expect(Object.is(a.min, b.min) && Object.is(a.max, b.max)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  test("merging shards equals one pass over all values, in either merge order", () => {
    fc.assert(
      fc.property(values, values, values, (x, y, z) => {
        const all = new Float32Array([...x, ...y, ...z]);
        const single = histOf([all], 32).toJSON();
        const ab = histOf([x], 32);
        ab.merge(histOf([y], 32));
        ab.merge(histOf([z], 32));
        const ba = histOf([z], 32);
        const yx = histOf([y], 32);
        yx.merge(histOf([x], 32));
        ba.merge(yx);
        expect(ab.toJSON()).toEqual(single);
        expect(ba.toJSON()).toEqual(single);
      }),
      { numRuns: 200 },
    );
  });

  test("counts are exact, min/max exact, the window canonical (smallest exp that fits, data over ≥ half the bins)", () => {
    fc.assert(
      fc.property(values, cuts, (x, c) => {
        const bins = 32;
        const h = histOf(batches(x, c), bins);
        let mn = Infinity;
        let mx = -Infinity;
        for (const v of x) {
          mn = Math.min(mn, v);
          mx = Math.max(mx, v);
        }
        expect(h.min).toBe(mn + 0);
        expect(h.max).toBe(mx + 0);
        expect(h.total).toBe(x.length);
        expect(Array.from(h.counts.subarray(0, h.used))).toEqual(bruteCounts(x, h));
        expect(h.exp).toBe(requiredExp(h.min, h.max, MIN_EXP, bins));
        expect(h.used).toBeLessThanOrEqual(bins);
        if (h.exp > MIN_EXP) {
          // one exponent finer would not fit, so the data spans more than half the window
          const e = h.exp - 1;
          expect(Math.floor(h.max / 2 ** e) - Math.floor(h.min / 2 ** e)).toBeGreaterThan(bins - 1);
          expect(h.used).toBeGreaterThanOrEqual(bins / 2);
        }
      }),
      { numRuns: 300 },
    );
  });

  test("toJSON → JSON text → fromJSON is the identity", () => {
    fc.assert(
      fc.property(values, cuts, (x, c) => {
        const h = histOf(batches(x, c), 64);
        const back = HistogramObserver.fromJSON(JSON.parse(JSON.stringify(h)));
        expect(back.toJSON()).toEqual(h.toJSON());
        const more = new Float32Array([1.5, -2.25]);
        h.observe(more);
        back.observe(more);
        expect(back.toJSON()).toEqual(h.toJSON());
      }),
      { numRuns: 200 },
    );
  });

  test("sides: positive, mirrored negative and |x| hold every value once, at the right magnitude", () => {
    const x = new Float32Array([-3, -2.5, -1e-3, 0, 0, 1e-3, 0.5, 2, 7]);
    const h = histOf([x], 64);
    const w = h.width;
    const p = h.positive();
    const n = h.negative();
    const m = h.magnitude();
    const sum = (a: Float64Array) => a.reduce((s, v) => s + v, 0);
    expect(sum(p.counts)).toBe(6);
    expect(sum(n.counts)).toBe(3);
    expect(sum(m.counts)).toBe(9);
    // global bin g = floor(-3 / w) = [-(k+1)w, -kw) mirrors to magnitude bin k = -g - 1 (the grid is symmetric about 0)
    const k = -Math.floor(-3 / w) - 1;
    expect(n.counts[k - n.start]).toBe(1);
    expect(m.counts[k - m.start]).toBeGreaterThanOrEqual(1);
    expect(n.counts[-Math.floor(-1e-3 / w) - 1 - n.start]).toBe(1);
    expect(m.counts[Math.floor(7 / w) - m.start]).toBe(1);
    // all-positive data far from 0: the side starts at the min's bin, not at 0
    const far = histOf([new Float32Array([1000, 1000.5, 1001])], 64);
    expect(far.positive().start).toBe(far.first);
    expect(far.negative().counts.length).toBe(0);
  });

  test("constant and all-zero tensors", () => {
    const z = histOf([new Float32Array(10)]);
    expect([z.min, z.max, z.used, z.exp]).toEqual([0, 0, 1, MIN_EXP]);
    const c = new HistogramObserver();
    c.observe(new Float32Array(5).fill(-3.5));
    expect([c.min, c.max, c.total, c.used]).toEqual([-3.5, -3.5, 5, 1]);
    c.observe(new Float32Array([4])); // grows from the finest exponent in one step
    expect(c.used).toBeGreaterThanOrEqual(DEFAULT_BINS / 2);
    expect(c.exp).toBe(-9); // 7.5 over 4096 bins: 2^-9 is the finest width that fits
    expect(c.total).toBe(6);
  });

  test("-0 is stored as 0 (JSON keeps it)", () => {
    const h = histOf([new Float32Array([-0, -0])]);
    expect(Object.is(h.min, 0)).toBe(true);
    expect(HistogramObserver.fromJSON(JSON.parse(JSON.stringify(h))).toJSON()).toEqual(h.toJSON());
  });

  test("NaN, Inf and values outside the reported min/max are refused with E_CALIB_NONFINITE", () => {
    const code = (f: () => void) => {
      try {
        f();
      } catch (e) {
        return isQuantError(e) ? e.code : String(e);
      }
      return "no error";
    };
    expect(code(() => histOf([new Float32Array([1, NaN, 2])]))).toBe("E_CALIB_NONFINITE");
    expect(code(() => histOf([new Float32Array([1, Infinity])]))).toBe("E_CALIB_NONFINITE");
    expect(code(() => new HistogramObserver().observe(new Float32Array([1, 5]), 1, 2))).toBe("E_CALIB_NONFINITE");
    expect(code(() => new HistogramObserver().observe(new Float32Array([1, 2]), 1.5, 2))).toBe("E_CALIB_NONFINITE");
  });

  test("damaged or non-canonical JSON is refused with E_CALIB_STATS", () => {
    const good = histOf([normal(1000, 1)], 64).toJSON();
    const bad = [
      null,
      { ...good, bins: 3 },
      { ...good, exp: good.exp! + 1 },
      { ...good, first: good.first! - 1 },
      { ...good, counts: good.counts!.slice(1) },
      { ...good, counts: good.counts!.map((v, i) => (i === 1 ? v + 1 : v)) },
      { ...good, counts: good.counts!.map((v, i) => (i === 1 ? -1 : v)) },
      { ...good, min: Infinity },
      { ...good, min: -1e300, max: 1e300 },
    ];
    for (const j of bad) {
      let code = "no error";
      try {
        HistogramObserver.fromJSON(j);
      } catch (e) {
        code = isQuantError(e) ? e.code : String(e);
      }
      expect(code).toBe("E_CALIB_STATS");
    }
    const a = new HistogramObserver(64);
    expect(() => a.merge(new HistogramObserver(128))).toThrow(/same bins/);
  });

  test("HistogramSet: refuses a state of another calibrator and a stats file of another method", () => {
    const s = new HistogramSet("mse", 64, (h) => ({ min: h.min, max: h.max }));
    expect(() => s.merge(new HistogramSet("entropy", 64, (h) => ({ min: h.min, max: h.max })))).toThrow(/entropy state into a mse/);
    expect(() => HistogramSet.restore({ calibrator: "entropy", bins: 64, tensors: {} }, "mse", (h) => h)).toThrow(/not mse/);
    expect(() => s.observe({ tensor: "t", min: 0, max: 1 })).toThrow(/needs the values of t/);
  });
});
