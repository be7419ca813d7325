/**
 * bnb4 packer: exact NF4/FP4 codes and nibble order on a small case, codebook round trips as properties, and
 * ONNX Runtime's MatMulBnb4 against a MatMul with the dequantized weight.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { consola } from "consola";
import * as ort from "onnxruntime-node";
import {
  DataType, GraphBuilder, dequantizeBnb4, encodeModelProto, loadModel, quantizeBnb4, quantizeBnb4Searched, runPipeline, serializeModel,
  sqnrDb, tensorFloat32, type Bnb4Type, type Model,
} from "../../../src/index.ts";
import { BNB4_CODEBOOK, fp4Code, nf4Code } from "../../../src/tensor/bnb4.ts";
import bnb4 from "../../../plugins/packers/bnb4.ts";
import { randomFloats } from "../../helpers/models.ts";

function model(K: number, N: number, w: Float32Array) {
  const b = new GraphBuilder();
  b.input("x", DataType.FLOAT, ["b", K]);
  b.initializer("W", DataType.FLOAT, [K, N], w);
  b.node("MatMul", ["x", "W"], {}, ["y"], { name: "mm" });
  b.output("y", DataType.FLOAT, ["b", N]);
  return encodeModelProto(b.model({ opset: 13 }));
}

async function run(m: Model | Uint8Array, x: Float32Array, dims: number[]) {
  const s = await ort.InferenceSession.create(m instanceof Uint8Array ? m : serializeModel(m), { intraOpNumThreads: 1, logSeverityLevel: 3 });
  try {
    return (await s.run({ x: new ort.Tensor("float32", x, dims) })).y!.data as Float32Array;
  } finally {
    await s.release();
  }
}

describe("bnb4 quantization", () => {
  // W [K=4, N=2]; W^T rows: [1, -1, 0.5, 0] and [0.2, -0.3, 0.75, 0.05]; one block, absmax 1.
  const w = Float32Array.of(1, 0.2, -1, -0.3, 0.5, 0.75, 0, 0.05);
  test("NF4 and FP4 codes of W^T, first element in the high nibble", () => {
    const nf = quantizeBnb4(w, 4, 2, 16, "nf4");
    expect(Array.from(nf.absmax)).toEqual([1]);
    expect(Array.from(nf.b)).toEqual([0xf0, 0xc7, 0x94, 0xe8]);
    const f4 = quantizeBnb4(w, 4, 2, 16, "fp4");
    expect(Array.from(f4.b)).toEqual([0x3b, 0x50, 0x6c, 0x21]);
    expect(Array.from(dequantizeBnb4(nf, 4, 2, 16, "nf4"))).toEqual(Array.from(Float32Array.of(1, 0.16093020141124725, -1, -0.28444138169288635, 0.44070982933044434, 0.7229568362236023, 0, 0.07958029955625534)));
  });

  test("property: every codebook value maps to its own code; reconstruction error within half the widest code gap", () => {
    for (const type of ["nf4", "fp4"] as Bnb4Type[]) {
      const book = BNB4_CODEBOOK[type];
      const code = type === "nf4" ? nf4Code : fp4Code;
      for (let c = 0; c < 16; c++) if (!(type === "fp4" && c === 8)) expect(book[code(book[c]!)]).toBe(book[c]!);
    }
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 9 }), fc.constantFrom(16, 64), fc.constantFrom<Bnb4Type>("nf4", "fp4"), fc.integer({ min: 1, max: 999 }), (K, N, block, type, seed) => {
        const data = randomFloats(K * N, seed);
        const q = quantizeBnb4(data, K, N, block, type);
        const back = dequantizeBnb4(q, K, N, block, type);
        const gap = type === "nf4" ? 0.30381 / 2 : 0.33334 / 2; // widest gaps: NF4 −0.696 − (−1), FP4 1 − 0.667
        for (let k = 0; k < K; k++)
          for (let n = 0; n < N; n++) {
            const amax = q.absmax[Math.floor((n * K + k) / block)]!;
            expect(Math.abs(back[k * N + n]! - data[k * N + n]!)).toBeLessThanOrEqual(gap * amax + 1e-6);
          }
      }),
      { numRuns: 100 },
    );
  });
});

describe("bnb4 packer in ONNX Runtime", () => {
  for (const type of ["nf4", "fp4"] as Bnb4Type[])
  for (const scaleSearch of [false, true])
    test(`${type}${scaleSearch ? ", searched scales" : ", absmax (ORT's codes)"}: MatMulBnb4 byte-identical to MatMul with the dequantized weight`, async () => {
      const K = 96, N = 40;
      const w = randomFloats(K * N, 7);
      const r = await runPipeline({ model: model(K, N, w), plugins: [bnb4({ quantType: type, scaleSearch })], write: false, logger: consola.create({ level: 0 }) });
      const g = r.model.proto.graph!;
      const node = g.node![0]!;
      expect(r.entries.map((e) => [e.tensor, e.action, e.bytesAfter])).toEqual([["W", "quantized", (K * N) / 2 + Math.ceil((K * N) / 64) * 4]]);
      expect(r.entries[0]!.sqnrDb!).toBeGreaterThan(type === "nf4" ? 19 : 15);
      expect([node.op_type, node.domain]).toEqual(["MatMulBnb4", "com.microsoft"]);
      expect(Object.fromEntries(node.attribute!.map((a) => [a.name, Number(a.i)]))).toEqual({ K, N, block_size: 64, quant_type: type === "nf4" ? 1 : 0 });
      expect(g.initializer!.find((t) => t.name === "W")!.dims!.map(Number)).toEqual([(K * N) / 2]);
      expect(g.initializer!.find((t) => t.name === node.input![2])!.dims!.map(Number)).toEqual([Math.ceil((K * N) / 64)]);
      const plain = quantizeBnb4(w, K, N, 64, type);
      const q = scaleSearch ? quantizeBnb4Searched(w, K, N, 64, type) : plain;
      expect(Array.from(tensorFloat32(r.model, g.initializer!.find((t) => t.name === node.input![2])!))).toEqual(Array.from(q.absmax));
      // The search never does worse than absmax scaling (ratio 1 is a candidate) and here does strictly better.
      const plainDb = sqnrDb(w, dequantizeBnb4(plain, K, N, 64, type));
      if (scaleSearch) expect(r.entries[0]!.sqnrDb!).toBeGreaterThan(plainDb + 0.2);
      else expect(r.entries[0]!.sqnrDb!).toBe(plainDb);
      const deq = dequantizeBnb4(q, K, N, 64, type);
      const x = randomFloats(3 * K, 8);
      const a = await run(r.model, x, [3, K]);
      const b = await run(model(K, N, deq), x, [3, K]);
      let worst = 0;
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
      expect(worst).toBe(0); // byte-identical: ORT dequantizes B exactly as dequantizeBnb4 does, then runs the same GEMM
      const f = await run(model(K, N, w), x, [3, K]);
      let err = 0, sig = 0;
      for (let i = 0; i < f.length; i++) (err += (f[i]! - a[i]!) ** 2), (sig += f[i]! ** 2);
      expect(10 * Math.log10(sig / err)).toBeGreaterThan(type === "nf4" ? 18 : 14);
    });
});
