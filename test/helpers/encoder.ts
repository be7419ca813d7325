/**
 * A BERT-like encoder built in code: inputs `input_ids`, `attention_mask` [batch, seq]; output `last_hidden_state`.
 * Token + position embeddings (Gather; positions from Range over the sequence), post-LayerNormalization blocks,
 * bidirectional multi-head attention with a padding mask, Erf GELU MLP. Seeded random weights: structure and speed only.
 */
import { DataType, GraphBuilder, encodeModelProto } from "../../src/index.ts";
import { fillNormal, sampleRng } from "../../src/data/random.ts";

/** The encoder's ONNX bytes (opset 17). */
export function encoderModel(size: { vocab: number; dim: number; heads: number; layers: number; maxPositions?: number; seed?: number }): Uint8Array {
  const { vocab: V, dim: D, heads: H, layers: L } = size;
  const Dh = D / H;
  const b = new GraphBuilder("encoder");
  let seed = size.seed ?? 1;
  const rand = (name: string, dims: number[], scale: number) => {
    const w = new Float32Array(dims.reduce((a, c) => a * c, 1));
    fillNormal(w, sampleRng(seed++, name, 0));
    for (let i = 0; i < w.length; i++) w[i]! *= scale;
    return b.initializer(name, DataType.FLOAT, dims, w);
  };
  const constF = (name: string, v: number[], dims: number[] = [v.length]) => b.initializer(name, DataType.FLOAT, dims, Float32Array.from(v));
  const constI = (name: string, v: number[]) => b.initializer(name, DataType.INT64, [v.length], BigInt64Array.from(v.map(BigInt)));
  const vec = (name: string, v: number, n = D) => constF(name, Array(n).fill(v));
  b.input("input_ids", DataType.INT64, ["batch", "seq"]);
  b.input("attention_mask", DataType.INT64, ["batch", "seq"]);
  b.initializer("i0", DataType.INT64, [], BigInt64Array.of(0n));
  b.initializer("i1", DataType.INT64, [], BigInt64Array.of(1n));
  const S = b.node("Squeeze", [b.node("Gather", [b.node("Shape", ["input_ids"], {}, ["shape"]), constI("one_idx", [1])], { axis: 0 }, ["S1"]), constI("axes0", [0])], {}, ["S"]);
  const positions = b.node("Range", ["i0", S, "i1"], {}, ["positions"]);
  const emb = b.node("Add", [b.node("Gather", [rand("wte", [V, D], 0.5), "input_ids"], {}, ["tok"]), b.node("Gather", [rand("wpe", [size.maxPositions ?? 512, D], 0.1), positions], {}, ["pos"])], {}, ["emb"]);
  let x = b.node("LayerNormalization", [emb, vec("ln0.g", 1), vec("ln0.b", 0)], { axis: -1 }, ["x0"]);
  const pad = b.node("Unsqueeze", [b.node("Cast", ["attention_mask"], { to: DataType.BOOL }, ["am_bool"]), constI("axes12", [1, 2])], {}, ["am4"]);
  const bias = b.node("Where", [pad, constF("zero_f", [0], []), constF("neg_f", [-10000], [])], {}, ["mask_bias"]);
  const heads = constI("heads_shape", [0, 0, H, Dh]);
  const merged = constI("merged_shape", [0, 0, D]);
  const scale = constF("attn_scale", [1 / Math.sqrt(Dh)], []);
  for (let l = 0; l < L; l++) {
    const p = `l${l}`;
    const linear = (input: string, n: string, inD: number, outD: number) =>
      b.node("Add", [b.node("MatMul", [input, rand(`${p}.${n}.w`, [inD, outD], 1 / Math.sqrt(inD))], {}, [`${p}.${n}.mm`]), vec(`${p}.${n}.b`, 0, outD)], {}, [`${p}.${n}`]);
    const split = (n: string, perm: number[]) => b.node("Transpose", [b.node("Reshape", [linear(x, n, D, D), heads], {}, [`${p}.${n}.r`])], { perm }, [`${p}.${n}.t`]);
    const q = split("q", [0, 2, 1, 3]), k = split("k", [0, 2, 3, 1]), v = split("v", [0, 2, 1, 3]);
    const scores = b.node("Add", [b.node("Mul", [b.node("MatMul", [q, k], {}, [`${p}.qk`]), scale], {}, [`${p}.s`]), bias], {}, [`${p}.masked`]);
    const ctx = b.node("MatMul", [b.node("Softmax", [scores], { axis: -1 }, [`${p}.probs`]), v], {}, [`${p}.ctx`]);
    const ctxm = b.node("Reshape", [b.node("Transpose", [ctx], { perm: [0, 2, 1, 3] }, [`${p}.ctxt`]), merged], {}, [`${p}.ctxm`]);
    x = b.node("LayerNormalization", [b.node("Add", [x, linear(ctxm, "o", D, D)], {}, [`${p}.res1`]), vec(`${p}.ln1.g`, 1), vec(`${p}.ln1.b`, 0)], { axis: -1 }, [`${p}.x1`]);
    const up = linear(x, "fc1", D, 4 * D);
    const erf = b.node("Erf", [b.node("Mul", [up, constF(`${p}.rsqrt2`, [Math.SQRT1_2], [])], {}, [`${p}.u2`])], {}, [`${p}.erf`]);
    const gelu = b.node("Mul", [b.node("Mul", [up, constF(`${p}.half`, [0.5], [])], {}, [`${p}.uh`]), b.node("Add", [erf, constF(`${p}.one`, [1], [])], {}, [`${p}.erf1`])], {}, [`${p}.gelu`]);
    x = b.node("LayerNormalization", [b.node("Add", [x, linear(gelu, "fc2", 4 * D, D)], {}, [`${p}.res2`]), vec(`${p}.ln2.g`, 1), vec(`${p}.ln2.b`, 0)], { axis: -1 }, [l === L - 1 ? "last_hidden_state" : `${p}.x2`]);
  }
  b.output("last_hidden_state", DataType.FLOAT, ["batch", "seq", D]);
  return encodeModelProto(b.model({ opset: 17 }));
}
