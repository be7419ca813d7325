/**
 * Test helpers: run a model in onnxruntime-node on seeded random inputs and compare outputs bit for bit.
 */
import * as ort from "onnxruntime-node";
import { expect } from "bun:test";
import type { ModelProto } from "../../src/onnx/types.ts";
import { num } from "../../src/onnx/types.ts";
import { encodeModelProto } from "../../src/onnx/proto.ts";
import { DataType } from "../../src/tensor/dtypes.ts";
import { rng } from "../helpers/random.ts";
export { rng };


/** Random feeds for the main graph's real inputs (initializer-backed inputs are left at their defaults). */
export function randomFeeds(model: ModelProto, seed = 1, symbolicDim = 2): Record<string, ort.Tensor> {
  const g = model.graph!;
  const inits = new Set((g.initializer ?? []).map((t) => t.name));
  const rand = rng(seed);
  const feeds: Record<string, ort.Tensor> = {};
  for (const v of g.input ?? []) {
    if (inits.has(v.name)) continue;
    const tt = v.type!.tensor_type!;
    const dims = (tt.shape?.dim ?? []).map((d) => (d.dim_value !== undefined && d.dim_value !== null ? num(d.dim_value) : symbolicDim));
    const n = dims.reduce((a, b) => a * b, 1);
    switch (tt.elem_type) {
      case DataType.FLOAT: {
        const data = new Float32Array(n);
        for (let i = 0; i < n; i++) data[i] = rand() * 2 - 1;
        feeds[v.name!] = new ort.Tensor("float32", data, dims);
        break;
      }
      case DataType.BOOL:
        feeds[v.name!] = new ort.Tensor("bool", Uint8Array.from({ length: n }, () => (rand() < 0.5 ? 1 : 0)), dims);
        break;
      case DataType.INT64:
        feeds[v.name!] = new ort.Tensor("int64", BigInt64Array.from({ length: n }, () => BigInt(Math.floor(rand() * 4))), dims);
        break;
      default:
        throw new Error(`randomFeeds: unsupported input type ${tt.elem_type}`);
    }
  }
  return feeds;
}

/** Run a model (path, bytes or proto) and return its outputs by name. */
export async function run(model: string | Uint8Array | ModelProto, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const src = typeof model === "string" || model instanceof Uint8Array ? model : encodeModelProto(model);
  // Severity 3 (errors only): shadowed-initializer fixtures make ORT warn on purpose.
  const session = await ort.InferenceSession.create(src as string, { logSeverityLevel: 3 });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

/** Bytes of a tensor's data. */
function bytes(t: ort.Tensor): Uint8Array {
  const d = t.data as ArrayBufferView;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/** Assert two output sets are identical: same names, dims, types, and bit-identical data. */
export function expectSameOutputs(a: Record<string, ort.Tensor>, b: Record<string, ort.Tensor>): void {
  expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
  for (const k of Object.keys(a)) {
    expect(b[k]!.type).toBe(a[k]!.type);
    expect([...b[k]!.dims]).toEqual([...a[k]!.dims]);
    expect(Buffer.compare(Buffer.from(bytes(a[k]!)), Buffer.from(bytes(b[k]!)))).toBe(0);
  }
}

/** Float32 data of an output. */
export function f32(t: ort.Tensor | undefined): Float32Array {
  return t!.data as Float32Array;
}
