/**
 * Shared fixtures of the plugin tests: a small MatMul model with known weights, its float reference computed in JS,
 * and a one-thread ORT run.
 */
import * as ort from "onnxruntime-node";
import { consola } from "consola";
import { DataType, GraphBuilder, defaultOptions, encodeModelProto, serializeModel, type Model, type PluginContext, type TensorProto } from "../../src/index.ts";
import { randomFloats } from "../helpers/models.ts";

/** A logger that prints nothing. */
export const quiet = consola.create({ level: 0 });

/** A plugin context with the default options, for calling a plugin's hooks directly. */
export const ctx: PluginContext = { logger: quiet, options: { ...defaultOptions }, progress() {}, at() {} };

/** x [B, K] · W [K, N] → y, with W seeded: the model's bytes and W. */
export function matmulModel(K: number, N: number, seed = 3, opset = 13): { bytes: Uint8Array; W: Float32Array } {
  const W = randomFloats(K * N, seed);
  const b = new GraphBuilder();
  b.input("x", DataType.FLOAT, ["B", K]);
  b.initializer("W", DataType.FLOAT, [K, N], W);
  b.node("MatMul", ["x", "W"], {}, ["y"], { name: "mm" });
  b.output("y", DataType.FLOAT, ["B", N]);
  return { bytes: encodeModelProto(b.model({ opset })), W };
}

/** x [B, K] · W [K, N] in float64 accumulation, rounded to float32. */
export function matmul(x: Float32Array, W: Float32Array, B: number, K: number, N: number): Float32Array {
  const y = new Float32Array(B * N);
  for (let b = 0; b < B; b++)
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += x[b * K + k]! * W[k * N + n]!;
      y[b * N + n] = s;
    }
  return y;
}

/**
 * Run a model (or its bytes/path) on `x` in onnxruntime-node, one thread, graph optimizations off (so a
 * DequantizeLinear → MatMul computes as the ONNX spec says, not as a fused integer kernel); returns output `y`.
 */
export async function runY(model: Model | Uint8Array | string, x: Float32Array, dims: number[]): Promise<Float32Array> {
  const src = typeof model === "string" || model instanceof Uint8Array ? model : serializeModel(model);
  const s = await ort.InferenceSession.create(src as Uint8Array, { intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 3, graphOptimizationLevel: "disabled" });
  try {
    return (await s.run({ x: new ort.Tensor("float32", x, dims) })).y!.data as Float32Array;
  } finally {
    await s.release();
  }
}

/** The initializer feeding input `slot` of the first node of `opType` in the main graph. */
export function initializerOf(model: Model, opType: string, slot: number): TensorProto {
  const g = model.proto.graph!;
  const n = g.node!.find((x) => x.op_type === opType)!;
  return g.initializer!.find((t) => t.name === n.input![slot])!;
}

/** Largest |a - b|. */
export function maxDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
