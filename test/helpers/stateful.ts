/**
 * Multi-input fixtures built in code: a stateful audio model (Silero-VAD-like: audio [batch, T], LSTM state
 * h/c [D, batch, H], an int64 scalar sample rate that scales the audio through Cast → Div → Mul) and a 2-input model
 * whose second input carries the batch on axis 1; a token model (int64 ids and mask).
 */
import { DataType, GraphBuilder, encodeModelProto } from "../../src/index.ts";
import { randomFloats } from "./random.ts";

export const T = 64;
export const H = 16;

/**
 * The stateful model. `dirs` 1 → state [1, batch, H]; 2 → bidirectional, [2, batch, H]. `batchName` names the
 * symbolic batch dim of every input (a generic name like `unk__0` exercises inference by shared names).
 */
export function statefulModel(opts: { dirs?: 1 | 2; batchName?: string } = {}): Uint8Array {
  const D = opts.dirs ?? 1;
  const B = opts.batchName ?? "batch";
  const b = new GraphBuilder("vad");
  b.input("input", DataType.FLOAT, [B, T]);
  b.input("h", DataType.FLOAT, [D, B, H]);
  b.input("c", DataType.FLOAT, [D, B, H]);
  b.input("sr", DataType.INT64, []);
  // scale = sr / 16000: the audio is only in range at the right sample rate.
  b.node("Cast", ["sr"], { to: DataType.FLOAT }, ["srf"]);
  b.initializer("ref_sr", DataType.FLOAT, [], Float32Array.of(16000));
  b.node("Div", ["srf", "ref_sr"], {}, ["scale"]);
  b.node("Mul", ["input", "scale"], {}, ["scaled"]);
  b.initializer("frames", DataType.INT64, [3], BigInt64Array.of(0n, 8n, 8n));
  b.node("Reshape", ["scaled", "frames"], {}, ["framed"]);
  b.node("Transpose", ["framed"], { perm: [1, 0, 2] }, ["seq"]);
  b.initializer("W", DataType.FLOAT, [D, 4 * H, 8], randomFloats(D * 4 * H * 8, 11, 0.4));
  b.initializer("R", DataType.FLOAT, [D, 4 * H, H], randomFloats(D * 4 * H * H, 12, 0.3));
  b.initializer("Bias", DataType.FLOAT, [D, 8 * H], randomFloats(D * 8 * H, 13, 0.1));
  b.node("LSTM", ["seq", "W", "R", "Bias", "", "h", "c"], { hidden_size: H, direction: D === 2 ? "bidirectional" : "forward" }, ["Y", "h_out", "c_out"]);
  // Logits from the last hidden state of every direction: [D, batch, H] → [batch, D*H] → MatMul → Relu → MatMul.
  b.node("Transpose", ["h_out"], { perm: [1, 0, 2] }, ["hb"]);
  b.initializer("flat", DataType.INT64, [2], BigInt64Array.of(0n, BigInt(D * H)));
  b.node("Reshape", ["hb", "flat"], {}, ["hflat"]);
  b.initializer("W1", DataType.FLOAT, [D * H, 16], randomFloats(D * H * 16, 15, 0.4));
  b.node("MatMul", ["hflat", "W1"], {}, ["z"]);
  b.node("Relu", ["z"], {}, ["zr"]);
  b.initializer("Wout", DataType.FLOAT, [16, 4], randomFloats(16 * 4, 14, 0.5));
  b.node("MatMul", ["zr", "Wout"], {}, ["logits"]);
  b.output("logits", DataType.FLOAT, [B, 4]);
  b.output("h_out", DataType.FLOAT, [D, B, H]);
  b.output("c_out", DataType.FLOAT, [D, B, H]);
  return encodeModelProto(b.model({ opset: 17 }));
}

/** y = a·Wa + bᵀ·Wb with a [batch, 8] and b [8, batch] (batch on axis 1, under a name that does not say so). */
export function axis1Model(): Uint8Array {
  const b = new GraphBuilder("axis1");
  b.input("a", DataType.FLOAT, ["d0", 8]);
  b.input("b", DataType.FLOAT, [8, "d1"]);
  b.node("Transpose", ["b"], { perm: [1, 0] }, ["bt"]);
  b.initializer("Wa", DataType.FLOAT, [8, 16], randomFloats(128, 21, 0.5));
  b.initializer("Wb", DataType.FLOAT, [8, 16], randomFloats(128, 22, 0.5));
  b.node("MatMul", ["a", "Wa"], {}, ["ya"]);
  b.node("MatMul", ["bt", "Wb"], {}, ["yb"]);
  b.node("Add", ["ya", "yb"], {}, ["s"]);
  b.node("Relu", ["s"], {}, ["r"]);
  b.initializer("W2", DataType.FLOAT, [16, 4], randomFloats(64, 23, 0.5));
  b.node("MatMul", ["r", "W2"], {}, ["y"]);
  b.output("y", DataType.FLOAT, ["d0", 4]);
  return encodeModelProto(b.model({ opset: 17 }));
}

/** A token model: embeddings of int64 ids [batch, seq], masked by an int64 mask [batch, seq], then MatMul → Relu → MatMul. */
export function tokenModel(vocab = 50, dim = 16): Uint8Array {
  const b = new GraphBuilder("tokens");
  b.input("input_ids", DataType.INT64, ["batch", "seq"]);
  b.input("attention_mask", DataType.INT64, ["batch", "seq"]);
  b.initializer("emb", DataType.FLOAT, [vocab, dim], randomFloats(vocab * dim, 31, 1));
  b.node("Gather", ["emb", "input_ids"], {}, ["e"]);
  b.node("Cast", ["attention_mask"], { to: DataType.FLOAT }, ["mf"]);
  b.initializer("axes", DataType.INT64, [1], BigInt64Array.of(-1n));
  b.node("Unsqueeze", ["mf", "axes"], {}, ["m3"]);
  b.node("Mul", ["e", "m3"], {}, ["masked"]);
  b.node("ReduceMean", ["masked"], { axes: [1], keepdims: 0 }, ["pooled"]);
  b.initializer("W1", DataType.FLOAT, [dim, 32], randomFloats(dim * 32, 32, 0.4));
  b.node("MatMul", ["pooled", "W1"], {}, ["h"]);
  b.node("Relu", ["h"], {}, ["hr"]);
  b.initializer("W2", DataType.FLOAT, [32, 3], randomFloats(32 * 3, 33, 0.4));
  b.node("MatMul", ["hr", "W2"], {}, ["logits"]);
  b.output("logits", DataType.FLOAT, ["batch", 3]);
  return encodeModelProto(b.model({ opset: 13 }));
}
