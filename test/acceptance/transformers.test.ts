/**
 * Issue 14 acceptance on ../shared/models, judged in onnxruntime-node on the digits test set: the transformers.js
 * variants of digits_transformer (dynamic INT8, q4 MatMulNBits, fp16), each made through the CLI as a user would.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { corpus, hasCorpus } from "../helpers/corpus.ts";
import { judge } from "../helpers/evaluate.ts";
import { quant } from "../cli/helpers.ts";
import { encoderModel } from "../helpers/encoder.ts";

const out = mkdtempSync(join(tmpdir(), "quant-accept-tf-"));
const MODEL = "digits_transformer.onnx";

function cli(name: string, args: string[]) {
  const o = join(out, name);
  const r = quant([...args, "-o", o, "--format", "json"]);
  if (r.code !== 0) throw new Error(r.stderr);
  return { path: o, report: JSON.parse(r.stdout), ratio: statSync(o).size / statSync(corpus(MODEL)).size };
}

describe.skipIf(!hasCorpus)("transformers.js variants (issue 14)", () => {
  test("dynamic INT8: SQNR ≥ 43.0 dB at ≤ 0.44× size (ORT quantize_dynamic: 42.98 dB, 0.444×)", async () => {
    const { path, ratio } = cli("dynamic.onnx", ["quantize", corpus(MODEL), "--mode", "dynamic"]);
    const r = await judge(corpus(MODEL), path, "tf");
    console.log("digits_transformer dynamic int8", r, "size", ratio);
    expect(r.sqnrDb).toBeGreaterThanOrEqual(43.0);
    expect(ratio).toBeLessThanOrEqual(0.44);
    expect(r.accuracy).toBeGreaterThanOrEqual(r.floatAccuracy - 0.005);
  }, 60_000);

  test("the transformer preset never makes a model slower: digits_transformer's layers (≤ 12288 elements, 0.90–0.97× at batch 1 when quantized) stay float and the run says so; --min-elements 0 gives dynamic INT8 ≥ 43 dB", async () => {
    const r0 = quant(["quantize", corpus(MODEL), "--preset", "transformer", "-o", join(out, "preset.onnx")]);
    expect(r0.code).toBe(1);
    expect(r0.stderr).toContain("E_NOTHING_QUANTIZED");
    expect(r0.stderr).toContain("fewer than 32768 elements");
    expect(existsSync(join(out, "preset.onnx"))).toBe(false);
    const { path, report } = cli("preset.onnx", ["quantize", corpus(MODEL), "--preset", "transformer", "--min-elements", "0"]);
    expect(report.chain ?? report.plugins ?? JSON.stringify(report)).toContain("dynamic");
    const r = await judge(corpus(MODEL), path, "tf");
    expect(r.sqnrDb).toBeGreaterThanOrEqual(43.0);
  }, 60_000);

  test("the transformer preset on a 256-wide encoder: every MatMul weight ≥ 32768 elements dynamic INT8, nothing smaller", async () => {
    const src = join(out, "enc256.onnx");
    writeFileSync(src, encoderModel({ vocab: 1000, dim: 256, heads: 4, layers: 2 }));
    const { path } = cli("enc256.q8.onnx", ["quantize", src, "--preset", "transformer"]);
    const { decodeModelProto } = await import("../../src/index.ts");
    const ops = decodeModelProto(new Uint8Array(await Bun.file(path).arrayBuffer())).graph!.node!.map((n) => n.op_type);
    // 6 weight MatMuls per layer (q, k, v, o: 65536 elements; fc1, fc2: 262144); the 2 attention products stay float.
    expect(ops.filter((o) => o === "MatMulInteger").length).toBe(12);
    expect(ops.filter((o) => o === "MatMul").length).toBe(4);
  }, 60_000);
});

describe.skipIf(!hasCorpus)("q4 MatMulNBits (issue 14)", () => {
  const q4 = (name: string, packer: string[]) => {
    const cfg = join(out, `${name}.json`);
    writeFileSync(cfg, JSON.stringify({ bits: 4, blockSize: 32, symmetric: true, nativeInt4: true, plugins: ["normalize", "weight-only", ...packer, "int4", "int8", "onnx"] }));
    return cfg;
  };
  test("digits_transformer q4 MatMulNBits ≥ 27.4 dB (ORT's MatMulNBits RTN: 26.63 dB), byte-identical to the DequantizeLinear form", async () => {
    const nbCfg = q4("nb", ["matmulnbits"]);
    const dqCfg = q4("dq", []);
    const nb = cli("q4.onnx", ["quantize", corpus(MODEL), "-c", nbCfg]);
    const dq = cli("q4dq.onnx", ["quantize", corpus(MODEL), "-c", dqCfg]);
    const r = await judge(corpus(MODEL), nb.path, "tf");
    console.log("digits_transformer q4 MatMulNBits", r, "size", nb.ratio);
    expect(r.sqnrDb).toBeGreaterThanOrEqual(27.4);
    const { decodeModelProto } = await import("../../src/index.ts");
    const ops = decodeModelProto(new Uint8Array(await Bun.file(nb.path).arrayBuffer())).graph!.node!.map((n) => n.op_type);
    expect(ops.filter((o) => o === "MatMulNBits").length).toBe(7);
    expect(ops.filter((o) => o === "MatMul").length).toBe(4); // attention's activation × activation products
    // Same quantized weights, two storages: ORT outputs byte-identical (accuracy_level 4 is what ORT gives the
    // MatMulNBits it fuses from the DequantizeLinear form).
    const ort = await import("onnxruntime-node");
    const { digitsTestSet } = await import("../helpers/evaluate.ts");
    const { x, dims } = digitsTestSet("tf");
    const outOf = async (p: string) => {
      const s = await ort.InferenceSession.create(p, { intraOpNumThreads: 1 });
      const o = (await s.run({ [s.inputNames[0]!]: new ort.Tensor("float32", x, dims) }))[s.outputNames[0]!]!.data as Float32Array;
      await s.release();
      return Buffer.from(o.buffer, o.byteOffset, o.byteLength);
    };
    expect((await outOf(nb.path)).equals(await outOf(dq.path))).toBe(true);
  }, 60_000);
});

describe.skipIf(!hasCorpus)("fp16 and q4f16 (issue 14)", () => {
  const config = (name: string, c: object) => {
    const p = join(out, `${name}.json`);
    writeFileSync(p, JSON.stringify(c));
    return p;
  };
  test("digits_transformer fp16 ≥ 60 dB, float32 inputs/outputs kept, ~0.55× size", async () => {
    const r0 = cli("fp16.onnx", ["quantize", corpus(MODEL), "-c", config("fp16", { plugins: ["normalize", "fp16", "onnx"] })]);
    const r = await judge(corpus(MODEL), r0.path, "tf");
    console.log("digits_transformer fp16", r, "size", r0.ratio);
    expect(r.sqnrDb).toBeGreaterThanOrEqual(60);
    expect(r0.ratio).toBeLessThan(0.56);
  }, 60_000);

  test("digits_transformer q4f16: MatMulNBits with float16 scales, ≥ 27.0 dB", async () => {
    const c = config("q4f16", { bits: 4, blockSize: 32, symmetric: true, nativeInt4: true, plugins: ["normalize", "weight-only", "matmulnbits", "fp16", "int4", "int8", "onnx"] });
    const r0 = cli("q4f16.onnx", ["quantize", corpus(MODEL), "-c", c]);
    const { decodeModelProto } = await import("../../src/index.ts");
    const g = decodeModelProto(new Uint8Array(await Bun.file(r0.path).arrayBuffer())).graph!;
    const nb = g.node!.filter((n) => n.op_type === "MatMulNBits");
    expect(nb.length).toBe(7);
    for (const n of nb) expect(g.initializer!.find((t) => t.name === n.input![2])!.data_type).toBe(10);
    const r = await judge(corpus(MODEL), r0.path, "tf");
    console.log("digits_transformer q4f16", r, "size", r0.ratio);
    expect(r.sqnrDb).toBeGreaterThanOrEqual(27.0);
  }, 60_000);
});
