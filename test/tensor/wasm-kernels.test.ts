/**
 * The WASM SIMD kernels against the JS kernels they replace: bit-identical codes, scales, zero points and measured SQNR
 * across shapes, granularities, types and hostile values (NaN, ±Inf, subnormals, ±0, exact ties at .5), and the
 * committed module is exactly what quantize.wat assembles to.
 */
import { afterEach, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { isQuantError } from "../../src/errors/errors.ts";
import { groupLayout, groupMinMax, quantizeLinear, quantizeWeights, type Granularity, type QuantSpec, type QuantType, type QuantizedWeights } from "../../src/tensor/quantize.ts";
import { kernelBackend, setKernelBackend } from "../../src/tensor/wasm-kernels.ts";
import { assembleQuantizeWasm, moduleSource } from "../../src/tensor/wasm/build.ts";

afterEach(() => setKernelBackend("wasm"));

/** Runs `f` on both backends. */
function both<T>(f: () => T): { js: T; wasm: T } {
  setKernelBackend("js");
  const js = f();
  setKernelBackend("wasm");
  const wasm = f();
  return { js, wasm };
}

/** Same bytes (codes, float bits of scales), same zero points, same SQNR (Object.is: NaN and ±0 distinguished). */
function expectSame(a: QuantizedWeights, b: QuantizedWeights): void {
  expect(b.values.constructor).toBe(a.values.constructor);
  expect(Buffer.from(b.values.buffer, b.values.byteOffset, b.values.byteLength).equals(Buffer.from(a.values.buffer, a.values.byteOffset, a.values.byteLength))).toBe(true);
  expect(Array.from(new Uint32Array(b.scale.buffer))).toEqual(Array.from(new Uint32Array(a.scale.buffer)));
  expect(Array.from(b.zeroPoint)).toEqual(Array.from(a.zeroPoint));
  expect(Object.is(a.sqnrDb, b.sqnrDb)).toBe(true);
  expect(b.paramDims).toEqual(a.paramDims);
}

const SPECIAL = [0, -0, 1e-45, -1e-45, 1.1754942e-38, -3e-39, 0.5, -0.5, 1.5, 2.5, -2.5, 3.4028234663852886e38, -3.4028234663852886e38, 1e-30];

/** Float32 values: mostly Gaussian-like, with specials (subnormals, ±0, exact halves, huge) sprinkled in. */
const value = fc.oneof(
  { weight: 8, arbitrary: fc.float({ min: -4, max: 4, noNaN: true, noDefaultInfinity: true }) },
  { weight: 1, arbitrary: fc.constantFrom(...SPECIAL) },
  { weight: 1, arbitrary: fc.integer({ min: -40, max: 40 }).map((k) => (k + 0.5) / 16) }, // ties at .5 on a power-of-two grid
);

const shape = fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 4 }).filter((d) => d.reduce((a, b) => a * b, 1) <= 20000);

const types: QuantType[] = ["int8", "uint8", "int4", "uint4"];

describe("WASM kernels = JS kernels, bit for bit", () => {
  test("the module loads here (WebAssembly SIMD)", () => {
    expect(kernelBackend()).toBe("wasm");
  });

  test("quantizeWeights: random shapes, granularities, types, clip search, measured SQNR", () => {
    fc.assert(
      fc.property(
        shape, fc.nat(), fc.constantFrom(...types), fc.boolean(), fc.constantFrom("tensor", "channel", "block"),
        fc.integer({ min: 1, max: 40 }), fc.boolean(), fc.boolean(), fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        (dims, axisSeed, type, symmetric, kind, blockSize, clipSearch, signedScale, seed) => {
          const n = dims.reduce((a, b) => a * b, 1);
          const data = new Float32Array(n);
          let s = seed || 1;
          const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
          for (let j = 0; j < n; j++) {
            const r = u();
            data[j] = r < 0.05 ? SPECIAL[Math.floor(u() * SPECIAL.length)]! : r < 0.1 ? (Math.floor(u() * 64) - 32 + 0.5) / 8 : (u() - 0.5) * (r < 0.12 ? 40 : 1);
          }
          const axis = axisSeed % dims.length;
          const granularity: Granularity = kind === "tensor" ? { kind } : kind === "channel" ? { kind, axis } : { kind, axis, blockSize };
          const spec: QuantSpec = { type, symmetric, granularity, clipSearch, signedScale, measure: true };
          const r = both(() => quantizeWeights(data, dims, spec));
          expectSame(r.js, r.wasm);
        },
      ),
      { numRuns: 300, seed: 15 },
    );
  }, 120_000);

  test("long rows and wide columns that span several chunks", () => {
    const cases: [number[], Granularity][] = [
      [[3, 70001], { kind: "channel", axis: 0 }], // rows longer than a chunk
      [[5, 40000], { kind: "channel", axis: 1 }], // one row wider than a chunk, per column
      [[2, 3, 33000], { kind: "block", axis: 1, blockSize: 2 }], // blocks wider than a chunk
      [[100000], { kind: "tensor" }],
      [[70, 1000], { kind: "block", axis: 0, blockSize: 32 }], // partial last block
      [[64, 100, 3, 3], { kind: "block", axis: 1, blockSize: 32 }],
    ];
    for (const [dims, granularity] of cases) {
      const n = dims.reduce((a, b) => a * b, 1);
      const data = new Float32Array(n);
      for (let j = 0; j < n; j++) data[j] = Math.sin(j * 0.7) * (1 + (j % 13)) + (j % 997 === 0 ? 50 : 0);
      for (const type of types)
        for (const symmetric of [true, false]) {
          const r = both(() => quantizeWeights(data, dims, { type, symmetric, granularity, measure: true }));
          expectSame(r.js, r.wasm);
        }
    }
  }, 120_000);

  test("quantizeLinear with NaN, ±Inf, subnormals and exact ties, any scale and zero point", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(value, fc.constantFrom(NaN, Infinity, -Infinity)), { minLength: 1, maxLength: 300 }),
        fc.integer({ min: 1, max: 7 }), fc.constantFrom(...types),
        fc.oneof(fc.constantFrom(1, 0.125, 2 ** -126, 3e38, -0.25), fc.float({ min: Math.fround(1e-6), max: 100, noNaN: true })),
        fc.integer({ min: -300, max: 300 }),
        (values, cols, type, s, zSeed) => {
          const rows = Math.ceil(values.length / cols);
          const data = new Float32Array(rows * cols);
          data.set(values);
          const { qmin, qmax } = { int8: { qmin: -128, qmax: 127 }, uint8: { qmin: 0, qmax: 255 }, int4: { qmin: -8, qmax: 7 }, uint4: { qmin: 0, qmax: 15 } }[type as "int8"];
          const z = qmin + (((zSeed % (qmax - qmin + 1)) + (qmax - qmin + 1)) % (qmax - qmin + 1));
          for (const granularity of [{ kind: "tensor" }, { kind: "channel", axis: 0 }, { kind: "channel", axis: 1 }] as Granularity[]) {
            const l = groupLayout([rows, cols], granularity);
            const scale = new Float32Array(l.groups).map((_, g) => s * (1 + g / 8));
            const zp = new Int32Array(l.groups).fill(z);
            const r = both(() => {
              const out = type === "int8" || type === "int4" ? new Int8Array(data.length) : new Uint8Array(data.length);
              quantizeLinear(data, l, scale, zp, qmin, qmax, out);
              return out;
            });
            expect(Array.from(r.wasm)).toEqual(Array.from(r.js));
          }
        },
      ),
      { numRuns: 300, seed: 15 },
    );
  }, 60_000);

  test("ties round half to even (ONNX QuantizeLinear)", () => {
    const data = Float32Array.of(0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5, 127.5, -128.5, 3.5, 4.5, -3.5);
    const l = groupLayout([data.length], { kind: "tensor" });
    const out = new Int8Array(data.length);
    setKernelBackend("wasm");
    quantizeLinear(data, l, Float32Array.of(1), Int32Array.of(0), -128, 127, out);
    expect(Array.from(out)).toEqual([0, 2, 2, 0, -2, -2, 126, 127, -128, 4, 4, -4]);
  });

  test("min/max: same ranges and the same NaN/Inf refusal", () => {
    fc.assert(
      fc.property(shape, fc.nat(), fc.array(value, { minLength: 1, maxLength: 64 }), fc.constantFrom(undefined, NaN, Infinity, -Infinity), fc.nat(), (dims, axisSeed, pool, bad, where) => {
        const n = dims.reduce((a, b) => a * b, 1);
        const data = new Float32Array(n).map((_, j) => pool[j % pool.length]!);
        if (bad !== undefined) data[where % n] = bad;
        const axis = axisSeed % dims.length;
        for (const g of [{ kind: "tensor" }, { kind: "channel", axis }, { kind: "block", axis, blockSize: 3 }] as Granularity[]) {
          const l = groupLayout(dims, g);
          const r = both(() => {
            try {
              return groupMinMax(data, l, "w");
            } catch (e) {
              return isQuantError(e) ? e.code : "other";
            }
          });
          if (typeof r.js === "string") expect(r.wasm).toBe(r.js);
          else {
            type Range = { min: Float32Array; max: Float32Array };
            const [js, w] = [r.js as Range, r.wasm as Range];
            // Equal as numbers; only a tie between −0 and +0 may pick the other zero (no parameter depends on it).
            expect(Array.from(w.min).every((v, i) => v === js.min[i])).toBe(true);
            expect(Array.from(w.max).every((v, i) => v === js.max[i])).toBe(true);
          }
        }
      }),
      { numRuns: 200, seed: 15 },
    );
  }, 60_000);
});

describe("the committed module", () => {
  test("is what quantize.wat assembles to", async () => {
    const committed = readFileSync(resolve(import.meta.dir, "../../src/tensor/wasm/quantize-wasm.ts"), "utf8");
    expect(committed).toBe(moduleSource(await assembleQuantizeWasm()));
  }, 60_000);
});
