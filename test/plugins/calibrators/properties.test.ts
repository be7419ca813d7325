/**
 * Properties every calibrator must have: ranges (and saved states) do not depend on batching, sample order or sharding;
 * a saved state restores to the same state; ranges stay inside the data.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import type { CalibratorPlugin, CalibratorState, RangeMap } from "../../../src/index.ts";
import minmax from "../../../plugins/calibrators/minmax.ts";
import percentile from "../../../plugins/calibrators/percentile.ts";
import entropy from "../../../plugins/calibrators/entropy.ts";
import mse from "../../../plugins/calibrators/mse.ts";
import { ctx, observation } from "./fixtures.ts";

const plugins: [string, CalibratorPlugin][] = [
  ["minmax", minmax()],
  ["percentile", percentile({ percentile: 99, bins: 256 })],
  ["entropy", entropy({ bins: 256 })],
  ["entropy symmetric", entropy({ bins: 256, symmetric: true })],
  ["mse", mse({ bins: 256 })],
  ["mse symmetric", mse({ bins: 256, symmetric: true })],
];

/** Two tensors' values: a signed one and a ReLU-like one. */
const data = fc.record({
  a: fc.array(fc.float({ min: -50, max: 50, noNaN: true }), { minLength: 1, maxLength: 300 }).map((v) => Float32Array.from(v)),
  b: fc.array(fc.oneof(fc.constant(0), fc.float({ min: 0, max: 8, noNaN: true })), { minLength: 1, maxLength: 300 }).map((v) => Float32Array.from(v)),
});
const batchSizes = fc.tuple(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 64 }));

function feed(state: CalibratorState, p: CalibratorPlugin, d: { a: Float32Array; b: Float32Array }, batch: number, reverse = false): void {
  const order = (x: Float32Array) => (reverse ? x.slice().reverse() : x);
  for (const [name, x] of [["a", order(d.a)], ["b", order(d.b)]] as const)
    for (let i = 0; i < x.length; i += batch) state.observe(observation(name, x.subarray(i, i + batch), p.needs === "values"));
}

function same(a: RangeMap, b: RangeMap): boolean {
  if (a.size !== b.size) return false;
  for (const [k, r] of a) {
    const s = b.get(k);
    if (!s || !Object.is(r.min, s.min) || !Object.is(r.max, s.max)) return false;
  }
  return true;
}

describe.each(plugins)("%s", (_name, p) => {
  test("bit-identical ranges and state whatever the batch size and sample order", () => {
    fc.assert(
      fc.property(data, batchSizes, (d, [b1, b2]) => {
        const s1 = p.create(ctx);
        const s2 = p.create(ctx);
        feed(s1, p, d, b1);
        feed(s2, p, d, b2, true);
        expect(same(s1.finalize(), s2.finalize())).toBe(true);
        expect(JSON.stringify(s2)).toBe(JSON.stringify(s1));
      }),
      { numRuns: 40 },
    );
  });

  test("merging shards equals observing everything in one state", () => {
    fc.assert(
      fc.property(data, data, fc.integer({ min: 1, max: 50 }), (d1, d2, batch) => {
        const one = p.create(ctx);
        feed(one, p, d1, batch);
        feed(one, p, d2, batch);
        const s1 = p.create(ctx);
        const s2 = p.create(ctx);
        feed(s1, p, d1, batch);
        feed(s2, p, d2, batch);
        s2.merge(s1);
        expect(same(s2.finalize(), one.finalize())).toBe(true);
        expect(JSON.stringify(s2)).toBe(JSON.stringify(one));
      }),
      { numRuns: 30 },
    );
  });

  test("toJSON → JSON text → restore gives the same state and ranges", () => {
    fc.assert(
      fc.property(data, (d) => {
        const s = p.create(ctx);
        feed(s, p, d, 17);
        const back = p.restore!(JSON.parse(JSON.stringify(s.toJSON())), ctx);
        expect(same(back.finalize(), s.finalize())).toBe(true);
        expect(JSON.stringify(back)).toBe(JSON.stringify(s));
      }),
      { numRuns: 30 },
    );
  });

  test("data min ≤ range.min ≤ range.max ≤ data max", () => {
    fc.assert(
      fc.property(data, (d) => {
        const s = p.create(ctx);
        feed(s, p, d, 32);
        for (const [name, r] of s.finalize()) {
          const x = name === "a" ? d.a : d.b;
          let lo = Infinity;
          let hi = -Infinity;
          for (const v of x) {
            lo = Math.min(lo, v);
            hi = Math.max(hi, v);
          }
          expect(r.min).toBeGreaterThanOrEqual(lo);
          expect(r.min).toBeLessThanOrEqual(r.max);
          expect(r.max).toBeLessThanOrEqual(hi);
          if (hi > 0) expect(r.max).toBeGreaterThan(0); // never collapses a positive side to 0
          if (p.name === "minmax") expect([r.min, r.max]).toEqual([lo + 0, hi + 0]);
        }
      }),
      { numRuns: 40 },
    );
  });
});

describe("merging across kinds", () => {
  test("a state refuses another calibrator's state", () => {
    expect(() => minmax().create(ctx).merge(mse().create(ctx))).toThrow(/cannot merge a mse state into a minmax state/);
    expect(() => mse().create(ctx).merge(minmax().create(ctx))).toThrow(/cannot merge a minmax state into a mse state/);
    expect(() => entropy().restore!(mse().create(ctx).toJSON(), ctx)).toThrow(/holds a mse state, not entropy/);
  });
});

describe("options", () => {
  test("bad bins or bits are E_QUANT_OPTIONS at factory time", () => {
    expect(() => mse({ bins: 8 })).toThrow(/bins must be an integer/);
    expect(() => entropy({ bins: 1.5 })).toThrow(/bins must be an integer/);
    expect(() => percentile({ bins: 0 })).toThrow(/bins must be an integer/);
    expect(() => mse({ bits: 1 })).toThrow(/mse bits must be an integer in \[2, 16\]/);
    expect(() => entropy({ bits: 8.5 })).toThrow(/entropy bits must/);
  });
});
