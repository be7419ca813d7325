import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { dequantizeWeights, quantizeWeights, quantizedSqnrDb, sqnrDb, type Granularity } from "../../src/index.ts";

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
