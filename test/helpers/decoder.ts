/**
 * A GPT-like decoder built in code, in transformers.js's text-generation layout: inputs `input_ids`,
 * `attention_mask`, `position_ids`, `past_key_values.N.key/value`; outputs `logits`, `present.N.key/value`. Token and
 * position embeddings (Gather), pre-LayerNormalization blocks, multi-head attention over the concatenated cache with a
 * causal + padding mask (Range/LessOrEqual/Where), Erf GELU MLP, LM head. Weights are seeded random (N(0, 1/√fan_in)):
 * structure and speed only, no language is learned.
 */
import { DataType, GraphBuilder, encodeModelProto } from "../../src/index.ts";
import { fillNormal, sampleRng } from "../../src/data/random.ts";

/** Size of the decoder. */
export interface DecoderSize {
  vocab: number;
  dim: number;
  heads: number;
  layers: number;
  maxPositions?: number;
  seed?: number;
}

/** The decoder's ONNX bytes (opset 17). */
export function decoderModel(size: DecoderSize): Uint8Array {
  const { vocab: V, dim: D, heads: H, layers: L } = size;
  const Dh = D / H;
  const b = new GraphBuilder("decoder");
  let seed = size.seed ?? 1;
  const rand = (name: string, dims: number[], scale: number) => {
    const n = dims.reduce((a, c) => a * c, 1);
    const w = new Float32Array(n);
    fillNormal(w, sampleRng(seed++, name, 0));
    for (let i = 0; i < n; i++) w[i]! *= scale;
    return b.initializer(name, DataType.FLOAT, dims, w);
  };
  const constF = (name: string, v: number[], dims: number[] = [v.length]) => b.initializer(name, DataType.FLOAT, dims, Float32Array.from(v));
  const constI = (name: string, v: number[]) => b.initializer(name, DataType.INT64, [v.length], BigInt64Array.from(v.map(BigInt)));
  const ones = (name: string) => constF(name, Array(D).fill(1));
  const zeros = (name: string) => constF(name, Array(D).fill(0));

  b.input("input_ids", DataType.INT64, ["batch", "seq"]);
  b.input("attention_mask", DataType.INT64, ["batch", "total"]);
  b.input("position_ids", DataType.INT64, ["batch", "seq"]);
  for (let l = 0; l < L; l++) for (const kv of ["key", "value"]) b.input(`past_key_values.${l}.${kv}`, DataType.FLOAT, ["batch", H, "past", Dh]);

  const tok = b.node("Gather", [rand("wte", [V, D], 0.5), "input_ids"], {}, ["tok"]);
  const pos = b.node("Gather", [rand("wpe", [size.maxPositions ?? 512, D], 0.1), "position_ids"], {}, ["pos"]);
  let x = b.node("Add", [tok, pos], {}, ["x0"]);

  // Mask bias [batch, 1, seq, total]: 0 where key j ≤ query position and attention_mask[j] = 1, else −10000.
  const shapeIds = b.node("Shape", ["input_ids"], {}, ["ids_shape"]);
  const shapeMask = b.node("Shape", ["attention_mask"], {}, ["mask_shape"]);
  const S = b.node("Gather", [shapeIds, constI("one_idx", [1])], { axis: 0 }, ["S1"]);
  const T = b.node("Gather", [shapeMask, "one_idx"], { axis: 0 }, ["T1"]);
  const Ss = b.node("Squeeze", [S, constI("axes0", [0])], {}, ["S"]);
  const Ts = b.node("Squeeze", [T, "axes0"], {}, ["T"]);
  const P = b.node("Sub", [Ts, Ss], {}, ["P"]);
  b.initializer("i0", DataType.INT64, [], BigInt64Array.of(0n));
  b.initializer("i1", DataType.INT64, [], BigInt64Array.of(1n));
  const rows = b.node("Range", [P, Ts, "i1"], {}, ["rows"]);
  const cols = b.node("Range", ["i0", Ts, "i1"], {}, ["cols"]);
  const causal = b.node("LessOrEqual", [b.node("Unsqueeze", [cols, "axes0"], {}, ["cols2"]), b.node("Unsqueeze", [rows, constI("axes1", [1])], {}, ["rows2"])], {}, ["causal"]);
  const pad = b.node("Unsqueeze", [b.node("Cast", ["attention_mask"], { to: DataType.BOOL }, ["am_bool"]), constI("axes12", [1, 2])], {}, ["am4"]);
  const allowed = b.node("And", [causal, pad], {}, ["allowed"]);
  const bias = b.node("Where", [allowed, constF("zero_f", [0], []), constF("neg_f", [-10000], [])], {}, ["mask_bias"]);

  const heads = constI("heads_shape", [0, 0, H, Dh]);
  const merged = constI("merged_shape", [0, 0, D]);
  const scale = constF("attn_scale", [1 / Math.sqrt(Dh)], []);
  for (let l = 0; l < L; l++) {
    const p = `l${l}`;
    const h = b.node("LayerNormalization", [x, ones(`${p}.ln1.g`), zeros(`${p}.ln1.b`)], { axis: -1 }, [`${p}.h`]);
    const proj = (n: string) => {
      const m = b.node("MatMul", [h, rand(`${p}.${n}.w`, [D, D], 1 / Math.sqrt(D))], {}, [`${p}.${n}.mm`]);
      const a = b.node("Add", [m, zeros(`${p}.${n}.b`)], {}, [`${p}.${n}.add`]);
      const r = b.node("Reshape", [a, heads], {}, [`${p}.${n}.r`]);
      return b.node("Transpose", [r], { perm: [0, 2, 1, 3] }, [`${p}.${n}.t`]);
    };
    const q = proj("q"), k = proj("k"), v = proj("v");
    const kAll = b.node("Concat", [`past_key_values.${l}.key`, k], { axis: 2 }, [`present.${l}.key`]);
    const vAll = b.node("Concat", [`past_key_values.${l}.value`, v], { axis: 2 }, [`present.${l}.value`]);
    const kt = b.node("Transpose", [kAll], { perm: [0, 1, 3, 2] }, [`${p}.kt`]);
    const scores = b.node("Mul", [b.node("MatMul", [q, kt], {}, [`${p}.qk`]), scale], {}, [`${p}.scores`]);
    const probs = b.node("Softmax", [b.node("Add", [scores, bias], {}, [`${p}.masked`])], { axis: -1 }, [`${p}.probs`]);
    const ctx = b.node("MatMul", [probs, vAll], {}, [`${p}.ctx`]);
    const ctxm = b.node("Reshape", [b.node("Transpose", [ctx], { perm: [0, 2, 1, 3] }, [`${p}.ctxt`]), merged], {}, [`${p}.ctxm`]);
    const o = b.node("Add", [b.node("MatMul", [ctxm, rand(`${p}.o.w`, [D, D], 1 / Math.sqrt(D))], {}, [`${p}.o.mm`]), zeros(`${p}.o.b`)], {}, [`${p}.o`]);
    x = b.node("Add", [x, o], {}, [`${p}.x1`]);
    const h2 = b.node("LayerNormalization", [x, ones(`${p}.ln2.g`), zeros(`${p}.ln2.b`)], { axis: -1 }, [`${p}.h2`]);
    const up = b.node("Add", [b.node("MatMul", [h2, rand(`${p}.fc1.w`, [D, 4 * D], 1 / Math.sqrt(D))], {}, [`${p}.fc1.mm`]), constF(`${p}.fc1.b`, Array(4 * D).fill(0))], {}, [`${p}.fc1`]);
    // GELU (erf form): 0.5 · u · (1 + erf(u / √2)).
    const erf = b.node("Erf", [b.node("Mul", [up, constF(`${p}.rsqrt2`, [Math.SQRT1_2], [])], {}, [`${p}.u2`])], {}, [`${p}.erf`]);
    const gelu = b.node("Mul", [b.node("Mul", [up, constF(`${p}.half`, [0.5], [])], {}, [`${p}.uh`]), b.node("Add", [erf, constF(`${p}.one`, [1], [])], {}, [`${p}.erf1`])], {}, [`${p}.gelu`]);
    const down = b.node("Add", [b.node("MatMul", [gelu, rand(`${p}.fc2.w`, [4 * D, D], 1 / Math.sqrt(4 * D))], {}, [`${p}.fc2.mm`]), zeros(`${p}.fc2.b`)], {}, [`${p}.fc2`]);
    x = b.node("Add", [x, down], {}, [`${p}.x2`]);
  }
  const hf = b.node("LayerNormalization", [x, ones("lnf.g"), zeros("lnf.b")], { axis: -1 }, ["hf"]);
  b.node("MatMul", [hf, rand("lm_head", [D, V], 1 / Math.sqrt(D))], {}, ["logits"]);
  b.output("logits", DataType.FLOAT, ["batch", "seq", V]);
  for (let l = 0; l < L; l++) for (const kv of ["key", "value"]) b.output(`present.${l}.${kv}`, DataType.FLOAT, ["batch", H, "total", Dh]);
  return encodeModelProto(b.model({ opset: 17 }));
}
