/**
 * Shared helpers of the opset tests: build a model at an old opset, run it in onnxruntime-node on seeded random
 * inputs, convert it, run it again and compare every output.
 */
import { expect } from "bun:test";
import * as ort from "onnxruntime-node";
import { GraphBuilder } from "../../src/onnx/builder.ts";
import { encodeModelProto } from "../../src/onnx/proto.ts";
import { loadModel } from "../../src/onnx/codec.ts";
import type { Model } from "../../src/onnx/model.ts";
import { convertOpset, irVersionFor, type OpsetConversion } from "../../src/onnx/opset/index.ts";
import { num, type ModelProto } from "../../src/onnx/types.ts";
import { DataType } from "../../src/tensor/dtypes.ts";
import { rng } from "../helpers/random.ts";
export { rng };


/** Float32 tensor of uniform values in [lo, hi). */
export function randomTensor(dims: number[], seed: number, lo = -3, hi = 3): ort.Tensor {
  const r = rng(seed);
  const n = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = lo + (hi - lo) * r();
  return new ort.Tensor("float32", data, dims);
}

/** Seeded random float inputs for every FLOAT graph input with a static shape; others must be given in `feeds`. */
export function randomFeeds(proto: ModelProto, seed = 1, feeds: Record<string, ort.Tensor> = {}): Record<string, ort.Tensor> {
  const out: Record<string, ort.Tensor> = { ...feeds };
  const inits = new Set((proto.graph?.initializer ?? []).map((t) => t.name));
  proto.graph?.input?.forEach((vi, i) => {
    if (!vi.name || out[vi.name] || inits.has(vi.name)) return;
    const tt = vi.type?.tensor_type;
    if (tt?.elem_type !== DataType.FLOAT) throw new Error(`input ${vi.name} needs an explicit feed`);
    const dims = (tt.shape?.dim ?? []).map((d) => (d.dim_param ? 1 : num(d.dim_value, 1)));
    out[vi.name] = randomTensor(dims, seed * 7919 + i);
  });
  return out;
}

/** Run a serialized model and return all outputs. */
export async function run(bytes: Uint8Array, feeds: Record<string, ort.Tensor>, optimize = false): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(bytes, {
    logSeverityLevel: 3,
    graphOptimizationLevel: optimize ? "all" : "disabled",
  });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

/** Options of {@link expectSameAfterConversion}. */
export interface SameOptions {
  feeds?: Record<string, ort.Tensor>;
  /** Absolute tolerance; 0 (the default) asks for bit-identical outputs. */
  tol?: number;
  seed?: number;
  optimize?: boolean;
}

/** Compare two output sets: same names, dims, types, and values (exactly, or within `tol`). */
export function expectSameOutputs(a: Record<string, ort.Tensor>, b: Record<string, ort.Tensor>, tol = 0): void {
  expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
  for (const name of Object.keys(a)) {
    const x = a[name]!;
    const y = b[name]!;
    expect({ name, dims: [...y.dims], type: y.type }).toEqual({ name, dims: [...x.dims], type: x.type });
    const xd = x.data as ArrayLike<number | bigint | boolean>;
    const yd = y.data as ArrayLike<number | bigint | boolean>;
    if (tol === 0) {
      expect(Array.from(yd)).toEqual(Array.from(xd));
      continue;
    }
    let worst = 0;
    for (let i = 0; i < xd.length; i++) {
      const d = Math.abs(Number(xd[i]) - Number(yd[i]));
      if (!(d <= worst)) worst = Number.isNaN(d) ? Infinity : d;
    }
    expect(worst).toBeLessThanOrEqual(tol);
  }
}

/**
 * Run `model` before and after converting it to `target` and assert equal outputs.
 * Returns the conversion result and the outputs (for further checks).
 */
export async function expectSameAfterConversion(model: Model, target: number, opts: SameOptions = {}) {
  const before = encodeModelProto(model.proto);
  const feeds = randomFeeds(model.proto, opts.seed ?? 1, opts.feeds);
  const expected = await run(before, feeds, opts.optimize);
  const result: OpsetConversion = convertOpset(model, target);
  const after = encodeModelProto(model.proto);
  const actual = await run(after, feeds, opts.optimize);
  expectSameOutputs(expected, actual, opts.tol ?? 0);
  return { result, expected, actual };
}

/** Default-domain opset a model imports. */
export function opsetOf(proto: ModelProto): number | undefined {
  const e = proto.opset_import?.find((o) => !o.domain || o.domain === "ai.onnx");
  return e ? num(e.version) : undefined;
}

/** A one-graph model built at `opset` with the IR version that opset shipped with, loaded back from bytes. */
export function build(opset: number, make: (b: GraphBuilder) => void, extra: { extraOpsets?: { domain: string; version: number }[]; irVersion?: number } = {}): Model {
  const b = new GraphBuilder("g");
  make(b);
  const proto = b.model({ opset, irVersion: extra.irVersion ?? irVersionFor(opset), extraOpsets: extra.extraOpsets });
  return loadModel(encodeModelProto(proto));
}

/** Op types of the main graph, in order. */
export function opTypes(model: Model): string[] {
  return (model.proto.graph?.node ?? []).map((n) => n.op_type ?? "");
}
