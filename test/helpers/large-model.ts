/**
 * A Llama-shaped stack of MatMuls with random fp32 weights in external data, written chunk by chunk (never held in
 * memory): per layer q, k, v, o (dim×dim), gate and up (dim×ffn, their outputs multiplied) and down (ffn×dim).
 * With dim 4096 and ffn 11008 one layer is 202 M parameters (810 MB); 4 layers are 3.24 GB. Used by bench/large.ts
 * and the streaming tests (with small dims).
 */
import { closeSync, openSync, writeFileSync, writeSync } from "node:fs";
import { basename } from "node:path";
import { GraphBuilder } from "../../src/onnx/builder.ts";
import { encodeModelProto } from "../../src/onnx/proto.ts";
import { EXTERNAL } from "../../src/onnx/external.ts";
import { DataType } from "../../src/tensor/dtypes.ts";

/** Shape of the generated stack. */
export interface LlamaStackShape {
  layers: number;
  dim: number;
  ffn: number;
  /** Rows of the input `x` [rows, dim] (default 1). */
  rows?: number;
  seed?: number;
}

/** Fill `out` with uniform values in [-a, a) from a xorshift32 state; returns the next state. Fast and deterministic. */
function fillRandom(out: Float32Array, state: number, a: number): number {
  let s = state | 0 || 1;
  const k = (2 * a) / 4294967296;
  for (let i = 0; i < out.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = (s >>> 0) * k - a;
  }
  return s;
}

/**
 * Write `<path>` and its data file `<path>.data`; returns the model's total size in bytes (model + data) and the
 * number of fp32 weight bytes. Tensors are 4096-aligned in the data file, as exporters write them.
 */
export function writeLlamaStack(path: string, shape: LlamaStackShape): { bytes: number; weightBytes: number } {
  const { layers, dim, ffn } = shape;
  const rows = shape.rows ?? 1;
  const dataName = `${basename(path)}.data`;
  const fd = openSync(`${path}.data`, "w");
  const chunk = new Float32Array(1 << 22); // 16 MiB
  const chunkBytes = new Uint8Array(chunk.buffer);
  let offset = 0;
  let state = (shape.seed ?? 1) * 2654435761;
  const b = new GraphBuilder("llama_stack");
  /** A [rows, cols] weight whose data is appended to the data file now. */
  const weight = (name: string, r: number, c: number): string => {
    const pad = (4096 - (offset % 4096)) % 4096;
    if (pad) writeSync(fd, new Uint8Array(pad));
    offset += pad;
    const length = r * c * 4;
    // Kaiming-like range keeps activations finite through the stack.
    const a = Math.sqrt(3 / r);
    for (let done = 0; done < length; ) {
      const n = Math.min(chunkBytes.length, length - done);
      state = fillRandom(chunk.subarray(0, n / 4), state, a);
      writeSync(fd, chunkBytes, 0, n);
      done += n;
    }
    b.graph.initializer!.push({
      name,
      dims: [r, c],
      data_type: DataType.FLOAT,
      data_location: EXTERNAL,
      external_data: [
        { key: "location", value: dataName },
        { key: "offset", value: String(offset) },
        { key: "length", value: String(length) },
      ],
    });
    offset += length;
    return name;
  };
  let x = b.input("x", DataType.FLOAT, [rows, dim]);
  for (let l = 0; l < layers; l++) {
    for (const p of ["q", "k", "v", "o"]) x = b.node("MatMul", [x, weight(`layers.${l}.${p}_proj.weight`, dim, dim)]);
    const gate = b.node("MatMul", [x, weight(`layers.${l}.gate_proj.weight`, dim, ffn)]);
    const up = b.node("MatMul", [x, weight(`layers.${l}.up_proj.weight`, dim, ffn)]);
    x = b.node("MatMul", [b.node("Mul", [gate, up]), weight(`layers.${l}.down_proj.weight`, ffn, dim)]);
  }
  b.output(b.node("Identity", [x], {}, ["y"]), DataType.FLOAT, [rows, dim]);
  closeSync(fd);
  const bytes = encodeModelProto(b.model({ opset: 17 }));
  writeFileSync(path, bytes);
  const weightBytes = layers * (4 * dim * dim + 3 * dim * ffn) * 4;
  return { bytes: bytes.byteLength + offset, weightBytes };
}
