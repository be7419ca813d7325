/**
 * Which Q/DQ form makes a float16 CNN fast in onnxruntime-node (CPU, one thread)? The decision behind
 * src/quant/float32-compute.ts. Four 64→64 3×3 Conv + Relu layers at 56×56, float16 input/output, the same int8 values
 * and scales in every quantized variant:
 * - fp32: the float32 network (for scale);      - fp16: the float16 network (ORT inserts Casts around its Convs);
 * - fp16-scale QDQ: Q/DQ with float16 scales at opset 19, the graph stays float16;
 * - float32 QDQ in Casts: Cast to float32 after the input, float32-scale Q/DQ, Cast back to float16 at the output.
 * Prints the median ms and what ORT's optimized graph runs (QLinearConv or not), and SQNR against the fp16 network.
 *
 *   bun bench/fp16-qdq.ts [--runs 30]
 */
import { parseArgs } from "node:util";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { DataType, GraphBuilder, decodeModelProto, encodeModelProto, floatToHalf, ortTensor, sqnrDb, tensorFloats } from "../src/index.ts";

const { values } = parseArgs({ args: Bun.argv.slice(2), options: { runs: { type: "string", default: "30" } } });
const RUNS = Number(values.runs);

const C = 64, H = 56, L = 4;
let seed = 1;
const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
const W = Array.from({ length: L }, () => Float32Array.from({ length: C * C * 9 }, () => rnd() * 0.06));
const B = Array.from({ length: L }, () => Float32Array.from({ length: C }, () => rnd() * 0.1));
const half = (a: Float32Array) => Uint16Array.from(a, floatToHalf);
const SX = 0.02, SW = 0.06 / 127;

type Variant = "fp32" | "fp16" | "fp16-scale QDQ" | "float32 QDQ in Casts";
function build(v: Variant): Uint8Array {
  const b = new GraphBuilder();
  const io = v === "fp32" ? DataType.FLOAT : DataType.FLOAT16;
  const ft = v === "fp16" || v === "fp16-scale QDQ" ? DataType.FLOAT16 : DataType.FLOAT;
  const floats = (name: string, dims: number[], a: Float32Array) => (ft === DataType.FLOAT16 ? b.initializer(name, ft, dims, half(a)) : b.initializer(name, ft, dims, a));
  const q = v.includes("QDQ");
  let x = b.input("x", io, [1, C, H, H]);
  if (v === "float32 QDQ in Casts") x = b.node("Cast", [x], { to: DataType.FLOAT });
  if (q) {
    floats("sx", [], Float32Array.of(SX));
    b.initializer("zx", DataType.UINT8, [], Uint8Array.of(0));
  }
  const qdq = (t: string) => b.node("DequantizeLinear", [b.node("QuantizeLinear", [t, "sx", "zx"]), "sx", "zx"]);
  for (let l = 0; l < L; l++) {
    let w: string, bias: string;
    if (q) {
      b.initializer(`wq${l}`, DataType.INT8, [C, C, 3, 3], Int8Array.from(W[l]!, (x) => Math.max(-127, Math.min(127, Math.round(x / SW)))));
      floats(`ws${l}`, [C], new Float32Array(C).fill(SW));
      b.initializer(`wz${l}`, DataType.INT8, [C], new Int8Array(C));
      w = b.node("DequantizeLinear", [`wq${l}`, `ws${l}`, `wz${l}`], { axis: 0 });
      b.initializer(`bq${l}`, DataType.INT32, [C], Int32Array.from(B[l]!, (x) => Math.round(x / (SX * SW))));
      floats(`bs${l}`, [C], new Float32Array(C).fill(SX * SW));
      bias = b.node("DequantizeLinear", [`bq${l}`, `bs${l}`], { axis: 0 });
      if (l === 0) x = qdq(x);
    } else {
      w = floats(`w${l}`, [C, C, 3, 3], W[l]!);
      bias = floats(`b${l}`, [C], B[l]!);
    }
    x = b.node("Relu", [b.node("Conv", [x, w, bias], { pads: [1, 1, 1, 1] })]);
    if (q) x = qdq(x);
  }
  if (v === "float32 QDQ in Casts") x = b.node("Cast", [x], { to: DataType.FLOAT16 });
  b.output(x, io, [1, C, H, H]);
  return encodeModelProto(b.model({ opset: q ? 19 : 17 }));
}

const input = Float32Array.from({ length: C * H * H }, () => Math.abs(rnd()) * 2);
const dir = mkdtempSync(join(tmpdir(), "bench-fp16-"));
let ref: Float32Array | undefined;
try {
  console.log(`4× Conv ${C}→${C} 3×3 at ${H}×${H}, one thread, median of ${RUNS} runs`);
  for (const v of ["fp32", "fp16", "fp16-scale QDQ", "float32 QDQ in Casts"] as Variant[]) {
    const opt = join(dir, "opt.onnx");
    const s = await ort.InferenceSession.create(build(v), { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: "sequential", graphOptimizationLevel: "all", optimizedModelFilePath: opt, logSeverityLevel: 3 });
    const x = v === "fp32" ? new ort.Tensor("float32", input, [1, C, H, H]) : ortTensor(ort, "float16", half(input), [1, C, H, H]);
    let out = await s.run({ x });
    const times: number[] = [];
    for (let i = 0; i < RUNS + 3; i++) {
      const t0 = performance.now();
      out = await s.run({ x });
      if (i >= 3) times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const o = out[s.outputNames[0]!]!;
    const y = Float32Array.from(tensorFloats(o));
    if (v === "fp16") ref = y;
    const ops: Record<string, number> = {};
    for (const n of decodeModelProto(readFileSync(opt)).graph!.node!) ops[n.op_type!] = (ops[n.op_type!] ?? 0) + 1;
    const fused = ops.QLinearConv ?? 0;
    console.log(`${v.padEnd(22)} ${times[times.length >> 1]!.toFixed(2).padStart(7)} ms   QLinearConv ${fused}/${L}   Cast ${ops.Cast ?? 0}` +
      (ref && v !== "fp16" ? `   SQNR vs fp16 ${sqnrDb(ref, y).toFixed(1)} dB` : ""));
    await s.release();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
