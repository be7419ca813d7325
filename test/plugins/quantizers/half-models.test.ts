/**
 * float16 / bfloat16 models (issue 10 item 5), end to end through the CLI and judged in onnxruntime-node (1 thread):
 * a small Conv → Gemm → MatMul network built in code with half-precision weights and activations.
 * - float16 with float16 inputs/outputs: weight-only (DequantizeLinear to float16, opset 19) and static (float32
 *   compute between Casts, Q/DQ with float32 scales that ONNX Runtime fuses) keep the float16 I/O types;
 * - bfloat16 inside (float32 I/O, as exports that Cast at the boundary write them): ONNX Runtime's CPU provider cannot
 *   run the bfloat16 Conv, so the reference is the same network in float32 with the bfloat16-rounded weights; static
 *   quantization makes it runnable (float32 compute).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import {
  DataType, GraphBuilder, bf16ToFloat, decodeModelProto, encodeModelProto, floatToBf16, floatToHalf, halfToFloat, sqnrDb, writeNpy,
  type ModelProto,
} from "../../../src/index.ts";
import { ortTensor, tensorFloats } from "../../../src/runtime/session.ts";
import { quant } from "../../cli/helpers.ts";
import { randomFloats } from "../../helpers/random.ts";
import { pinkNoiseBatch } from "../../helpers/natural.ts";

const dir = mkdtempSync(join(tmpdir(), "quant-fp16-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const SAMPLE = [8, 12, 12]; // 8 input channels: the first Conv is not a float stem (≤ 4), so it runs QLinearConv
const N_CALIB = 32, N_TEST = 16;

/**
 * x [N,8,12,12] → Conv(8, 3×3) → Relu → MaxPool 2×2 → Flatten → Gemm(288→32) → Relu → MatMul(32→10) → y [N,10], with
 * weights stored in `type`; `io` is the graph input/output type (a Cast at each end when it differs).
 */
function network(type: number, io: number, twinOf: number = DataType.BFLOAT16, cin = SAMPLE[0]!, conv = true): ModelProto {
  const enc = type === DataType.FLOAT16 ? floatToHalf : type === DataType.BFLOAT16 ? floatToBf16 : undefined;
  const b = new GraphBuilder("half");
  const weight = (name: string, dims: number[], scale: number, seed: number) => {
    const f = randomFloats(dims.reduce((a, c) => a * c, 1), seed, scale);
    // A float32 twin gets the values the half model stores, so both compute the same function.
    const round = twinOf === DataType.FLOAT16 ? (v: number) => halfToFloat(floatToHalf(v)) : (v: number) => bf16ToFloat(floatToBf16(v));
    if (!enc) return b.initializer(name, DataType.FLOAT, dims, Float32Array.from(f, round));
    return b.initializer(name, type, dims, Uint16Array.from(f, enc));
  };
  const compute = enc ? type : DataType.FLOAT;
  let x = b.input("x", io, ["N", cin, SAMPLE[1]!, SAMPLE[2]!]);
  if (io !== compute) x = b.node("Cast", [x], { to: compute });
  if (conv) {
    x = b.node("Relu", [b.node("Conv", [x, weight("w1", [8, cin, 3, 3], 0.2, 1), weight("b1", [8], 0.1, 2)], { pads: [1, 1, 1, 1] })]);
    x = b.node("MaxPool", [x], { kernel_shape: [2, 2], strides: [2, 2] });
  }
  const features = conv ? 288 : cin * SAMPLE[1]! * SAMPLE[2]!;
  x = b.node("Relu", [b.node("Gemm", [b.node("Flatten", [x]), weight("w2", [features, 32], 0.08 * Math.sqrt(288 / features), 3), weight("b2", [32], 0.1, 4)])]);
  x = b.node("MatMul", [x, weight("w3", [32, 10], 0.3, 5)]);
  if (io !== compute) x = b.node("Cast", [x], { to: io });
  b.output(x, io, ["N", 10]);
  return b.model({ opset: 15 });
}

/** Samples as natural-image-like 1/f noise in [-1, 1], rounded to float16 (so float16 and float32 feeds agree). */
function samples(n: number, seed: number): Float32Array {
  const x = pinkNoiseBatch(n, SAMPLE[0]!, SAMPLE[1]!, SAMPLE[2]!, seed);
  for (let i = 0; i < x.length; i++) x[i] = halfToFloat(floatToHalf(x[i]! * 2 - 1));
  return x;
}
const calib = join(dir, "calib.npy");
writeNpy(calib, samples(N_CALIB, 1), [N_CALIB, ...SAMPLE]);
const testX = samples(N_TEST, 1000);

/** Run a model on the test samples fed in its input type; outputs as float32. */
async function outputs(model: string | Uint8Array): Promise<{ y: Float32Array; type: string }> {
  const s = await ort.InferenceSession.create(model as string, { intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 3 });
  try {
    const inType = (s.inputMetadata[0] as { type?: string }).type;
    const x = inType === "float16" ? ortTensor(ort, "float16", Uint16Array.from(testX, floatToHalf), [N_TEST, ...SAMPLE]) : new ort.Tensor("float32", testX, [N_TEST, ...SAMPLE]);
    const out = (await s.run({ x }))[s.outputNames[0]!]!;
    const y = Float32Array.from(tensorFloats(out));
    return { y, type: out.type };
  } finally {
    await s.release();
  }
}

/** Op counts of ONNX Runtime's optimized graph (what actually runs). */
async function optimizedOps(file: string): Promise<Record<string, number>> {
  const opt = `${file}.optimized.onnx`;
  await ort.InferenceSession.create(file, { intraOpNumThreads: 1, graphOptimizationLevel: "all", optimizedModelFilePath: opt, logSeverityLevel: 3 });
  const counts: Record<string, number> = {};
  for (const n of decodeModelProto(readFileSync(opt)).graph!.node!) counts[n.op_type!] = (counts[n.op_type!] ?? 0) + 1;
  return counts;
}

const ioTypes = (m: ModelProto) => [...m.graph!.input!, ...m.graph!.output!].map((v) => v.type!.tensor_type!.elem_type);
const opset = (m: ModelProto) => Number(m.opset_import!.find((o) => !o.domain)!.version);

function cli(args: string[]) {
  const r = quant([...args, "--format", "json"]);
  if (r.code !== 0) throw new Error(`quant ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

describe("float16 model with float16 inputs and outputs", async () => {
  const src = join(dir, "fp16.onnx");
  writeFileSync(src, encodeModelProto(network(DataType.FLOAT16, DataType.FLOAT16)));
  const ref = await outputs(src);

  test("the float16 reference runs in ONNX Runtime with float16 feeds and outputs", () => {
    expect(ref.type).toBe("float16");
    expect(ref.y.length).toBe(N_TEST * 10);
  });

  test("weight-only per-channel INT8: DequantizeLinear to float16 (opset 19), I/O stays float16, SQNR ≥ 40 dB", async () => {
    const out = join(dir, "fp16.wo.onnx");
    const rep = cli(["quantize", src, "-o", out, "--per-channel"]);
    expect(rep.weights.quantized).toBe(3);
    expect(rep.opset.to).toBe(19);
    expect(rep.notes).toEqual(["FLOAT16 weights: DequantizeLinear to FLOAT16 with FLOAT16 scales (opset 19), so the model's computation keeps its type"]);
    const m = decodeModelProto(readFileSync(out));
    expect(ioTypes(m)).toEqual([DataType.FLOAT16, DataType.FLOAT16]);
    const inits = new Map(m.graph!.initializer!.map((t) => [t.name, t]));
    const dqs = m.graph!.node!.filter((n) => n.op_type === "DequantizeLinear");
    expect(dqs.length).toBe(3);
    for (const dq of dqs) {
      expect(inits.get(dq.input![0])!.data_type).toBe(DataType.INT8);
      expect(inits.get(dq.input![1])!.data_type).toBe(DataType.FLOAT16);
    }
    const got = await outputs(out);
    expect(got.type).toBe("float16");
    const db = sqnrDb(ref.y, got.y);
    console.log(`fp16 weight-only per-channel: SQNR ${db.toFixed(2)} dB, file ${rep.bytes.ratio.toFixed(3)}×`);
    expect(db).toBeGreaterThanOrEqual(40);
  }, 60_000);

  test("static INT8: float32 compute between Casts, I/O stays float16, ORT fuses QLinearConv/QGemm, SQNR ≥ 38 dB", async () => {
    const out = join(dir, "fp16.qdq.onnx");
    const rep = cli(["calibrate", src, "-o", out, "--data", calib]);
    expect(rep.weights.quantized).toBe(5); // 3 weights + 2 int32 biases
    expect(rep.notes.join(" ")).toMatch(/FLOAT16 model: quantized region computes in float32 .* 2 Cast\(s\) keep the input\/output types/);
    const m = decodeModelProto(readFileSync(out));
    expect(ioTypes(m)).toEqual([DataType.FLOAT16, DataType.FLOAT16]);
    // No float16 scale: ONNX Runtime fuses Q/DQ with float32 scales only. Nothing stays float16 but the I/O.
    const inits = m.graph!.initializer!;
    expect(inits.filter((t) => t.data_type === DataType.FLOAT16)).toEqual([]);
    expect(opset(m)).toBe(15);
    const ops = await optimizedOps(out);
    expect(ops.QLinearConv).toBe(1);
    expect(ops.QGemm).toBe(1);
    expect(ops.Conv ?? 0).toBe(0);
    const got = await outputs(out);
    expect(got.type).toBe("float16");
    const db = sqnrDb(ref.y, got.y);
    console.log(`fp16 static: SQNR ${db.toFixed(2)} dB, file ${rep.bytes.ratio.toFixed(3)}×, optimized ops ${JSON.stringify(ops)}`);
    expect(db).toBeGreaterThanOrEqual(38);
    expect(rep.bytes.ratio).toBeLessThan(0.75);
    // `quant validate` compares the float16 outputs too (decoded from half bits), on the calibration samples.
    const v = quant(["validate", src, out, "--data", calib, "--format", "json"]);
    expect(v.code).toBe(0);
    const o = JSON.parse(v.stdout).outputs;
    expect(o).toHaveLength(1);
    expect(o[0].sqnrDb).toBeGreaterThanOrEqual(38);
    expect(o[0].top1Agreement).toBeGreaterThanOrEqual(0.96);
    // `quant benchmark` makes random float16 feeds itself and sees the integer kernels; no float op is left.
    const bm = quant(["benchmark", src, out, "--runs", "3", "--format", "json"]);
    expect(bm.code).toBe(0);
    const opt = JSON.parse(bm.stdout).optimized;
    expect(opt.integerOps["com.microsoft.QLinearConv"]).toBe(1);
    expect(opt.floatOps).toEqual({});
  }, 60_000);
});

test("static INT8 of the float16 model equals static INT8 of its float32 twin (float16-rounded outputs)", async () => {
  const src = join(dir, "eq-fp16.onnx"), twin = join(dir, "eq-fp32.onnx");
  writeFileSync(src, encodeModelProto(network(DataType.FLOAT16, DataType.FLOAT16)));
  writeFileSync(twin, encodeModelProto(network(DataType.FLOAT, DataType.FLOAT, DataType.FLOAT16)));
  cli(["calibrate", src, "-o", join(dir, "eq-fp16.qdq.onnx"), "--data", calib]);
  cli(["calibrate", twin, "-o", join(dir, "eq-fp32.qdq.onnx"), "--data", calib]);
  const a = await outputs(join(dir, "eq-fp16.qdq.onnx"));
  const b = await outputs(join(dir, "eq-fp32.qdq.onnx"));
  expect(a.type).toBe("float16");
  expect(a.y).toEqual(Float32Array.from(b.y, (v) => halfToFloat(floatToHalf(v))));
}, 60_000);

test("a float16 model's first Conv on ≤ 4 input channels is a float stem, seen through the input's Cast", () => {
  const src = join(dir, "stem.onnx"), data = join(dir, "stem.npy");
  writeFileSync(src, encodeModelProto(network(DataType.FLOAT16, DataType.FLOAT16, DataType.FLOAT16, 3)));
  writeNpy(data, pinkNoiseBatch(8, 3, SAMPLE[1]!, SAMPLE[2]!, 7), [8, 3, SAMPLE[1]!, SAMPLE[2]!]);
  const rep = cli(["calibrate", src, "-o", join(dir, "stem.qdq.onnx"), "--data", data]);
  expect(rep.skippedReasons["float stem (faster in fp32)"]).toBe(1);
  expect(rep.weights.quantized).toBe(3); // Gemm and MatMul weights, the Gemm's int32 bias
}, 60_000);

describe("bfloat16 inside, float32 inputs and outputs", async () => {
  // An MLP: Conv and MaxPool do not admit bfloat16 in ONNX; Flatten, Gemm, Relu and MatMul do (opset 13/14).
  const src = join(dir, "bf16.onnx");
  const twin = join(dir, "bf16-twin-fp32.onnx");
  writeFileSync(src, encodeModelProto(network(DataType.BFLOAT16, DataType.FLOAT, DataType.BFLOAT16, SAMPLE[0], false)));
  writeFileSync(twin, encodeModelProto(network(DataType.FLOAT, DataType.FLOAT, DataType.BFLOAT16, SAMPLE[0], false)));
  const ref = await outputs(twin);

  test("the bfloat16 network is valid ONNX, but ONNX Runtime's CPU provider has no bfloat16 Gemm to run it", async () => {
    await expect(outputs(src)).rejects.toThrow(/NOT_IMPLEMENTED|implementation/i);
  });

  test("weight-only: DequantizeLinear to bfloat16 is refused by the ORT check like the original (E_EXPORT_INVALID); --no-ort-check writes it", () => {
    const out = join(dir, "bf16.wo.onnx");
    const r = quant(["quantize", src, "-o", out, "--per-channel"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("E_EXPORT_INVALID");
    expect(existsSync(out)).toBe(false);
    const rep = cli(["quantize", src, "-o", out, "--per-channel", "--no-ort-check"]);
    expect(rep.weights.quantized).toBe(2);
    expect(rep.opset.to).toBe(19);
    const m = decodeModelProto(readFileSync(out));
    const inits = new Map(m.graph!.initializer!.map((t) => [t.name, t]));
    for (const dq of m.graph!.node!.filter((n) => n.op_type === "DequantizeLinear")) expect(inits.get(dq.input![1])!.data_type).toBe(DataType.BFLOAT16);
  }, 60_000);

  test("static INT8 computes in float32: runs in ONNX Runtime, SQNR ≥ 38 dB against the float32 twin", async () => {
    const out = join(dir, "bf16.qdq.onnx");
    const rep = cli(["calibrate", src, "-o", out, "--data", calib]);
    expect(rep.notes.join(" ")).toMatch(/BFLOAT16 model: quantized region computes in float32/);
    const m = decodeModelProto(readFileSync(out));
    expect(ioTypes(m)).toEqual([DataType.FLOAT, DataType.FLOAT]);
    const got = await outputs(out);
    const db = sqnrDb(ref.y, got.y);
    console.log(`bf16 static: SQNR ${db.toFixed(2)} dB against the float32 twin`);
    expect(db).toBeGreaterThanOrEqual(38);
    const ops = await optimizedOps(out);
    expect(ops.QGemm).toBe(1);
    expect(ops.Gemm ?? 0).toBe(0);
  }, 60_000);
});

describe("a run that quantizes nothing fails loudly and writes nothing", () => {
  const b = new GraphBuilder("plain");
  b.output(b.node("Relu", [b.input("x", DataType.FLOAT16, [1, 4])]), DataType.FLOAT16, [1, 4]);
  const src = join(dir, "nothing.onnx");
  writeFileSync(src, encodeModelProto(b.model({ opset: 15 })));

  test("quantize: E_NOTHING_QUANTIZED, non-zero exit, no output", () => {
    const d = mkdtempSync(join(dir, "nothing-"));
    const r = quant(["quantize", src, "-o", join(d, "q.onnx")]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("E_NOTHING_QUANTIZED");
    expect(readdirSync(d)).toEqual([]);
  });

  test("calibrate: E_NOTHING_QUANTIZED names why, no output", () => {
    const d = mkdtempSync(join(dir, "nothing-"));
    const r = quant(["calibrate", src, "-o", join(d, "q.onnx"), "--shape", "1x4"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("E_NOTHING_QUANTIZED");
    expect(existsSync(join(d, "q.onnx"))).toBe(false);
  });
});
