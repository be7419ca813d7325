import { describe, expect, test } from "bun:test";
import { fillNormal, fillUniform, fillUniformInt, sampleRng, Xoshiro128 } from "../../src/data/random.ts";

describe("xoshiro128**", () => {
  test("matches the reference output for state {1, 2, 3, 4}", () => {
    const g = Xoshiro128.fromState(1, 2, 3, 4);
    // Reference computed with the C algorithm (Blackman & Vigna) in arbitrary-precision Python.
    expect(Array.from({ length: 6 }, () => g.nextU32())).toEqual([11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
  });

  test("seeding is deterministic and streams differ", () => {
    const a = sampleRng(7, "x", 3);
    const b = sampleRng(7, "x", 3);
    const c = sampleRng(7, "x", 4);
    const d = sampleRng(7, "y", 3);
    const va = Array.from({ length: 4 }, () => a.nextU32());
    expect(Array.from({ length: 4 }, () => b.nextU32())).toEqual(va);
    expect(Array.from({ length: 4 }, () => c.nextU32())).not.toEqual(va);
    expect(Array.from({ length: 4 }, () => d.nextU32())).not.toEqual(va);
  });

  test("N(0,1): mean, variance, tails over 200k draws; uniform in range", () => {
    const x = new Float64Array(200_000);
    fillNormal(x, sampleRng(1, "n", 0));
    let s = 0;
    let s2 = 0;
    let beyond2 = 0;
    for (const v of x) {
      s += v;
      s2 += v * v;
      if (Math.abs(v) > 2) beyond2++;
    }
    const mean = s / x.length;
    // Standard error of the mean is 1/sqrt(200k) ≈ 0.0022: 5 sigma bounds.
    expect(Math.abs(mean)).toBeLessThan(0.012);
    expect(Math.abs(s2 / x.length - mean * mean - 1)).toBeLessThan(0.02);
    // P(|z| > 2) = 0.0455.
    expect(Math.abs(beyond2 / x.length - 0.0455)).toBeLessThan(0.003);
    const u = new Float32Array(50_000);
    fillUniform(u, sampleRng(1, "u", 0), -2, 3);
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of u) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    expect(lo).toBeGreaterThanOrEqual(-2);
    expect(lo).toBeLessThan(-1.99);
    expect(hi).toBeLessThan(3);
    expect(hi).toBeGreaterThan(2.99);
    const ints = new Int32Array(10_000);
    fillUniformInt(ints, sampleRng(1, "i", 0), 5, 9);
    const counts = [0, 0, 0, 0];
    for (const v of ints) counts[v - 5]!++;
    for (const c of counts) expect(Math.abs(c - 2500)).toBeLessThan(250);
  });
});

describe("random calibration data: sample size limit", () => {
  test("a declared shape of 2×4×2^31 is refused with E_CALIB_SHAPE, not allocated; 64 Mi elements are the limit", async () => {
    const { RandomDataset, MAX_RANDOM_SAMPLE_ELEMENTS } = await import("../../src/data/random-dataset.ts");
    const input = (shape: number[]) => [{ name: "x", elemType: 1, shape }];
    let err: unknown;
    try {
      new RandomDataset(input([2, 4, 2 ** 31]));
    } catch (e) {
      err = e;
    }
    expect((err as { code?: string }).code).toBe("E_CALIB_SHAPE");
    expect((err as Error).message).toContain("too large for random data");
    expect(MAX_RANDOM_SAMPLE_ELEMENTS).toBe(67_108_864);
    // The batch axis (0) is not part of a sample: [1, 2^26] is exactly at the limit and opens; one more element is refused.
    expect(new RandomDataset(input([1, 2 ** 26]), { samples: 1 }).count).toBe(1);
    expect(() => new RandomDataset(input([1, 2 ** 26 + 1]))).toThrow("too large for random data");
  });
});
