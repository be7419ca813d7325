import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { dequantizeWeights, quantizeWeights, sqnrDb, type Granularity } from "../../src/index.ts";
import { quantizedSqnrDb } from "../../src/tensor/quantize.ts";

describe("fused reconstruction error", () => {
  test("quantizedSqnrDb equals sqnrDb of the dequantized tensor, for every granularity", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 70 }),
        fc.constantFrom<Granularity["kind"]>("tensor", "channel", "block"), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 1, max: 8 }),
        fc.constantFrom("int8", "uint8", "int4", "uint4") as fc.Arbitrary<"int8" | "uint8" | "int4" | "uint4">, fc.boolean(), fc.integer(),
        (a, b, c, kind, axis, block, type, symmetric, seed) => {
          const dims = [a, b, c];
          const n = a * b * c;
          const data = new Float32Array(n);
          let s = seed | 1;
          for (let i = 0; i < n; i++) {
            s = (s * 1103515245 + 12345) | 0;
            data[i] = ((s >>> 8) / 2 ** 24 - 0.5) * 4;
          }
          const granularity: Granularity = kind === "tensor" ? { kind } : kind === "channel" ? { kind, axis } : { kind, axis, blockSize: block };
          const q = quantizeWeights(data, dims, { type, symmetric, granularity });
          const expected = sqnrDb(data, dequantizeWeights(q, dims));
          const got = quantizedSqnrDb(data, q, dims);
          if (expected === Infinity) expect(got).toBe(Infinity);
          else expect(Math.abs(got - expected)).toBeLessThan(1e-9);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("measured quantization", () => {
  test("spec.measure gives the same values and the SQNR of the dequantized tensor", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 300 }), fc.constantFrom(0, 1), fc.integer(), (a, b, axis, seed) => {
        const data = new Float32Array(a * b);
        let s = seed | 1;
        for (let i = 0; i < data.length; i++) (s = (s * 1103515245 + 12345) | 0), (data[i] = (s >>> 8) / 2 ** 24 - 0.3);
        const spec = { type: "int8" as const, symmetric: true, granularity: { kind: "channel" as const, axis } };
        const plain = quantizeWeights(data, [a, b], spec);
        const measured = quantizeWeights(data, [a, b], { ...spec, measure: true });
        expect(measured.values).toEqual(plain.values);
        const expected = sqnrDb(data, dequantizeWeights(plain, [a, b]));
        if (expected === Infinity) expect(measured.sqnrDb).toBe(Infinity);
        else expect(Math.abs(measured.sqnrDb! - expected)).toBeLessThan(1e-9);
      }),
      { numRuns: 100 },
    );
  });
});

test("measured SQNR of a large tensor (sampled) is within 0.1 dB of the exact one", () => {
  const n = 1 << 22;
  const data = new Float32Array(n);
  let s = 7;
  for (let i = 0; i < n; i++) (s = (s * 1103515245 + 12345) | 0), (data[i] = ((s >>> 8) / 2 ** 24 - 0.5) * (1 + (i % 977) / 300));
  const spec = { type: "int4" as const, symmetric: true, granularity: { kind: "channel" as const, axis: 0 } };
  const q = quantizeWeights(data, [512, n / 512], { ...spec, measure: true });
  expect(Math.abs(q.sqnrDb! - sqnrDb(data, dequantizeWeights(q, [512, n / 512])))).toBeLessThan(0.1);
});
