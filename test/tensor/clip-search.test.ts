import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import * as ort from "onnxruntime-node";
import protobuf from "protobufjs";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { exactErrorDiff } from "../../src/tensor/clip-search.ts";
import { dequantizeWeights, quantizeWeights, roundHalfEven, sqnrDb, type Granularity, type QuantSpec, type QuantType } from "../../src/tensor/quantize.ts";
import { corpus, hasCorpus } from "../helpers/corpus.ts";

/** Seeded Gaussian weights, per-channel spread along `axis`, 1% outliers ×5. */
function weights(dims: number[], axis: number, seed: number): Float32Array {
  const n = dims.reduce((a, b) => a * b, 1);
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  let s = seed >>> 0 || 1;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  const spread = Array.from({ length: dims[axis]! }, () => 0.05 + u());
  const out = new Float32Array(n);
  for (let j = 0; j < n; j++) {
    out[j] = spread[Math.floor(j / inner) % dims[axis]!]! * Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()) * (u() < 0.01 ? 5 : 1);
  }
  return out;
}

/** Squared error per group, computed from what DequantizeLinear returns. */
function groupErrors(w: Float32Array, dims: number[], spec: QuantSpec): Float64Array {
  const q = quantizeWeights(w, dims, spec);
  const y = dequantizeWeights(q, dims);
  // Group of each element of a [rows, cols] weight.
  const cols = dims[1]!;
  const g = spec.granularity;
  const out = new Float64Array(q.scale.length);
  for (let j = 0; j < w.length; j++) {
    const r = Math.floor(j / cols), c = j % cols;
    const k = g.kind === "tensor" ? 0 : g.kind === "channel" ? (g.axis === 0 ? r : c)
      : g.axis === 0 ? Math.floor(r / g.blockSize) * cols + c : r * Math.ceil(cols / g.blockSize) + Math.floor(c / g.blockSize);
    out[k] += (w[j]! - y[j]!) ** 2;
  }
  return out;
}

describe("clip search", () => {
  test("never worse than min/max, group by group (any type, symmetric or not, any granularity)", () => {
    const arb = fc.record({
      rows: fc.integer({ min: 1, max: 48 }), cols: fc.integer({ min: 1, max: 48 }), seed: fc.nat(),
      type: fc.constantFrom<QuantType>("int8", "uint8", "int4", "uint4"), symmetric: fc.boolean(), signedScale: fc.boolean(),
      kind: fc.constantFrom("tensor", "channel", "block"), axis: fc.integer({ min: 0, max: 1 }), block: fc.integer({ min: 1, max: 40 }),
    });
    fc.assert(fc.property(arb, ({ rows, cols, seed, type, symmetric, signedScale, kind, axis, block }) => {
      const dims = [rows, cols];
      const w = weights(dims, axis, seed);
      const granularity = (kind === "tensor" ? { kind } : kind === "channel" ? { kind, axis } : { kind, axis, blockSize: block }) as Granularity;
      const plain = groupErrors(w, dims, { type, symmetric, signedScale, granularity });
      const clipped = groupErrors(w, dims, { type, symmetric, signedScale, granularity, clipSearch: true });
      for (let g = 0; g < plain.length; g++) expect(clipped[g]!).toBeLessThanOrEqual(plain[g]!);
    }), { numRuns: 200 });
  });

  test("improves INT4 reconstruction by the expected margin on Gaussian weights with outliers", () => {
    const dims = [512, 256]; // MatMul [K, N]
    const w = weights(dims, 1, 42);
    const gain = (spec: QuantSpec) =>
      sqnrDb(w, dequantizeWeights(quantizeWeights(w, dims, { ...spec, clipSearch: true }), dims)) -
      sqnrDb(w, dequantizeWeights(quantizeWeights(w, dims, spec), dims));
    const block = { kind: "block", axis: 0, blockSize: 32 } as const;
    const channel = { kind: "channel", axis: 1 } as const;
    // Measured: +0.23, +1.77, +0.30, +1.02, +0.024 dB. Per-channel groups (512 values, outliers) gain most.
    expect(gain({ type: "int4", symmetric: true, granularity: block })).toBeGreaterThan(0.2);
    expect(gain({ type: "int4", symmetric: true, granularity: channel })).toBeGreaterThan(1.5);
    expect(gain({ type: "uint4", symmetric: false, granularity: block })).toBeGreaterThan(0.2);
    expect(gain({ type: "uint4", symmetric: false, granularity: channel })).toBeGreaterThan(0.9);
    expect(gain({ type: "int8", symmetric: true, granularity: channel })).toBeGreaterThan(0.01);
  });

  test("constant and all-zero groups keep their exact parameters", () => {
    const w = Float32Array.of(0, 0, 0, 0, 0.5, 0.5, 0.5, 0.5, -2, -2, -2, -2);
    for (const type of ["int4", "uint4", "int8"] as QuantType[]) {
      const spec: QuantSpec = { type, symmetric: type !== "uint4", granularity: { kind: "channel", axis: 0 }, clipSearch: true };
      expect(Array.from(dequantizeWeights(quantizeWeights(w, [3, 4], spec), [3, 4]))).toEqual(Array.from(w));
    }
  });

  test("exactErrorDiff is the difference of the runtime's squared errors", () => {
    const x = weights([1, 97], 0, 3);
    const e = (s: number) => {
      let t = 0;
      for (const v of x) {
        const q = Math.min(7, Math.max(-8, roundHalfEven(Math.fround(v / s))));
        t += (v - Math.fround(q * s)) ** 2;
      }
      return t;
    };
    const s1 = Math.fround(0.21), s2 = Math.fround(0.3);
    expect(exactErrorDiff(x, 0, x.length, s1, 0, s2, 0, -8, 7)).toBeCloseTo(e(s1) - e(s2), 12);
  });
});

describe.skipIf(!hasCorpus)("digits_transformer INT4 block 32 symmetric with clip search, MatMul weights only", () => {
  // Measured 27.75 dB (weights 22.38 dB, from 21.88 without clip search). The end-to-end figure moves ±0.5 dB with any
  // change of the search grid (error cancellations between layers), so a failure here after tuning the search is noise
  // as much as regression: compare the weight SQNR too.
  test("logits SQNR ≥ 27.3 dB", async () => {
    const ModelProto = protobuf.parse(readFileSync(resolve(import.meta.dir, "../../src/onnx/onnx.proto"), "utf8")).root.lookupType("onnx.ModelProto");
    const bytes = readFileSync(corpus("digits_transformer.onnx"));
    const npy = readFileSync(corpus("digits_tf_test_x.npy"));
    const x = new Float32Array(new Uint8Array(npy.subarray(10 + npy.readUInt16LE(8))).buffer);
    const run = async (model: Uint8Array) => {
      const session = await ort.InferenceSession.create(model);
      return (await session.run({ rows: new ort.Tensor("float32", x, [x.length / 64, 8, 8]) })).logits!.data as Float32Array;
    };
    const spec: QuantSpec = { type: "int4", symmetric: true, granularity: { kind: "block", axis: 0, blockSize: 32 }, clipSearch: true };
    const m = ModelProto.decode(bytes) as any;
    const inits = new Map<string, any>(m.graph.initializer.map((t: any) => [t.name, t]));
    for (const node of m.graph.node) {
      const t = node.opType === "MatMul" ? inits.get(node.input[1]) : undefined;
      if (!t) continue;
      const dims = t.dims.map(Number); // [K, N]: blocks along K
      const w = new Float32Array(new Uint8Array(t.rawData).buffer);
      t.rawData = new Uint8Array(dequantizeWeights(quantizeWeights(w, dims, spec, t.name), dims).buffer);
    }
    expect(sqnrDb(await run(bytes), await run(ModelProto.encode(m).finish()))).toBeGreaterThanOrEqual(27.3);
  });
});
