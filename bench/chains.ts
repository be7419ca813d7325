/**
 * Weights behind data-movement chains: file size, output SQNR and latency of the float model, weight-only INT8
 * (DequantizeLinear at the weight, before the chain) and static INT8 (chains folded into the integer kernels' weights)
 * on two models built in code: an MLP whose Linear weights sit behind Transposes (as torch exports them without
 * constant folding) and an LSTMCell unrolled over 6 steps whose packed weights are cut per gate by Slice and Split.
 *
 *   bun bench/chains.ts [--runs 200]
 *
 * One onnxruntime intra-op thread, medians of `runs` inferences after 20 warm-ups; prints the ops ONNX Runtime fused.
 * Never fails on time; the machine is shared, so compare the columns of one run.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { DataType, GraphBuilder, decodeModelProto, encodeModelProto, sqnrDb, type ModelProto } from "../src/index.ts";
import { randomFloats } from "../test/helpers/random.ts";
import { lstmCellModel } from "../test/helpers/recurrent.ts";

const runsArg = process.argv.indexOf("--runs");
const RUNS = runsArg >= 0 ? Number(process.argv[runsArg + 1]) : 200;
const dir = mkdtempSync(join(tmpdir(), "quant-bench-chains-"));

function transposedMlp(): ModelProto {
  const b = new GraphBuilder();
  b.input("x", DataType.FLOAT, [1, 64, 256]);
  b.initializer("W1", DataType.FLOAT, [1024, 256], randomFloats(1024 * 256, 1, 0.06));
  b.initializer("W2", DataType.FLOAT, [256, 1024], randomFloats(1024 * 256, 2, 0.03));
  const h = b.node("Relu", [b.node("MatMul", ["x", b.node("Transpose", ["W1"], { perm: [1, 0] })])]);
  b.node("MatMul", [h, b.node("Transpose", ["W2"], { perm: [1, 0] })], {}, ["y"]);
  b.output("y", DataType.FLOAT, [1, 64, 256]);
  return b.model({ opset: 13 });
}

function cli(args: string[]): void {
  const p = Bun.spawnSync([process.execPath, join(import.meta.dir, "../src/cli/main.ts"), ...args], { stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(p.stderr.toString());
}

async function measure(path: string, feeds: Record<string, ort.Tensor>) {
  const optimized = `${path}.opt.onnx`;
  const s = await ort.InferenceSession.create(path, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: "all", optimizedModelFilePath: optimized });
  for (let i = 0; i < 20; i++) await s.run(feeds);
  const times: number[] = [];
  let out: Float32Array | undefined;
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    const o = await s.run(feeds);
    times.push(performance.now() - t);
    out = o[s.outputNames[0]!]!.data as Float32Array;
  }
  times.sort((a, b) => a - b);
  const ops = new Map<string, number>();
  for (const n of decodeModelProto(readFileSync(optimized)).graph!.node ?? []) if (/Integer|QLinear|QGemm|MatMul|Gemm/.test(n.op_type!)) ops.set(n.op_type!, (ops.get(n.op_type!) ?? 0) + 1);
  return { ms: times[times.length >> 1]!, out: out!, bytes: readFileSync(path).byteLength, ops: [...ops].map(([k, v]) => `${k}×${v}`).join(" ") };
}

for (const [name, proto] of [["mlp-transposed", transposedMlp()], ["lstm-cell", lstmCellModel({ hidden: 256, input: 128, steps: 6, batch: 16 })]] as const) {
  const src = join(dir, `${name}.onnx`);
  writeFileSync(src, encodeModelProto(proto));
  cli(["quantize", src, "-o", join(dir, `${name}.w8.onnx`), "--bits", "8", "--per-channel"]);
  cli(["calibrate", src, "-o", join(dir, `${name}.s8.onnx`), "--seed", "1"]);
  const shape = proto.graph!.input![0]!.type!.tensor_type!.shape!.dim!.map((d) => Number(d.dim_value));
  const feeds = { x: new ort.Tensor("float32", randomFloats(shape.reduce((a, b) => a * b, 1), 7), shape) };
  const ref = await measure(src, feeds);
  console.log(`${name}`);
  for (const [label, path] of [["float", src], ["weight-only int8", join(dir, `${name}.w8.onnx`)], ["static int8", join(dir, `${name}.s8.onnx`)]] as const) {
    const m = label === "float" ? ref : await measure(path, feeds);
    const sq = label === "float" ? "" : `${sqnrDb(ref.out, m.out).toFixed(1)} dB`;
    console.log(`  ${label.padEnd(17)} ${(m.bytes / ref.bytes).toFixed(3)}×  ${m.ms.toFixed(3).padStart(7)} ms  ${sq.padStart(8)}  ${m.ops}`);
  }
}
