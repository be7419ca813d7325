/**
 * Recurrent and embedding models built in code, shaped like real exports, with realistic sizes: an LSTMCell unrolled
 * over several steps whose packed weights are cut per gate by Slice / Split (+ Transpose), the LSTM / GRU / RNN ops,
 * and an embedding table read by Gather and (tied) by the output projection through a Transpose.
 * Weights are drawn like torch's default init, U(-1/√H, 1/√H).
 */
import { GraphBuilder } from "../../src/onnx/builder.ts";
import type { ModelProto } from "../../src/onnx/types.ts";
import { DataType } from "../../src/tensor/dtypes.ts";
import { rng } from "./random.ts";

const F = DataType.FLOAT;
const I64 = DataType.INT64;

function uniform(n: number, bound: number, seed: number): Float32Array {
  const r = rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (r() * 2 - 1) * bound;
  return a;
}

const ints = (b: GraphBuilder, name: string, values: number[]) => b.initializer(name, I64, [values.length], BigInt64Array.from(values.map(BigInt)));
const scalar = (b: GraphBuilder, name: string, v: number) => b.initializer(name, I64, [], BigInt64Array.of(BigInt(v)));

/** Sizes of the recurrent fixtures. */
export interface RecurrentSizes {
  input?: number;
  hidden?: number;
  steps?: number;
  batch?: number;
}

/**
 * An LSTMCell unrolled over `steps` (x: [steps, batch, input] → h, c: [batch, hidden]), as torch exports a cell
 * whose packed weights are cut per gate: W_ih [4H, I] → Slice (axis 0) → Transpose → MatMul; W_hh [H, 4H] →
 * Split (axis 1, four outputs) → MatMul; the packed bias [4H] → Slice → Add (a bias: stays float).
 */
export function lstmCellModel(sizes: RecurrentSizes = {}): ModelProto {
  const { input: I = 64, hidden: H = 128, steps: T = 4, batch: B = 2 } = sizes;
  const b = new GraphBuilder("lstm_cell");
  b.input("x", F, [T, B, I]);
  b.initializer("W_ih", F, [4 * H, I], uniform(4 * H * I, 1 / Math.sqrt(H), 11));
  b.initializer("W_hh", F, [H, 4 * H], uniform(4 * H * H, 1 / Math.sqrt(H), 12));
  b.initializer("bias", F, [4 * H], uniform(4 * H, 1 / Math.sqrt(H), 13));
  b.initializer("zeros", F, [B, H], new Float32Array(B * H));
  ints(b, "axis0", [0]);
  const gates = ["i", "f", "g", "o"];
  const wx: string[] = [], bias: string[] = [];
  gates.forEach((gname, k) => {
    ints(b, `start_${gname}`, [k * H]);
    ints(b, `end_${gname}`, [(k + 1) * H]);
    const sliced = b.node("Slice", ["W_ih", `start_${gname}`, `end_${gname}`, "axis0"], {}, [`W_ih_${gname}`], { name: `slice_ih_${gname}` });
    wx.push(b.node("Transpose", [sliced], { perm: [1, 0] }, [`W_ih_${gname}_t`], { name: `transpose_ih_${gname}` }));
    bias.push(b.node("Slice", ["bias", `start_${gname}`, `end_${gname}`, "axis0"], {}, [`bias_${gname}`], { name: `slice_b_${gname}` }));
  });
  const wh = gates.map((g) => `W_hh_${g}`);
  b.node("Split", ["W_hh"], { axis: 1 }, wh, { name: "split_hh" });
  let h = "zeros", c = "zeros";
  for (let t = 0; t < T; t++) {
    scalar(b, `t${t}`, t);
    const xt = b.node("Gather", ["x", `t${t}`], { axis: 0 }, [`x_${t}`], { name: `x_${t}` });
    const pre = gates.map((g, k) => {
      const a = b.node("MatMul", [xt, wx[k]!], {}, [`xw_${g}_${t}`], { name: `mm_x_${g}_${t}` });
      const r = b.node("MatMul", [h, wh[k]!], {}, [`hw_${g}_${t}`], { name: `mm_h_${g}_${t}` });
      const s = b.node("Add", [a, r], {}, [`sum_${g}_${t}`]);
      return b.node("Add", [s, bias[k]!], {}, [`pre_${g}_${t}`]);
    });
    const i = b.node("Sigmoid", [pre[0]!]), f = b.node("Sigmoid", [pre[1]!]);
    const g = b.node("Tanh", [pre[2]!]), o = b.node("Sigmoid", [pre[3]!]);
    const last = t === T - 1;
    c = b.node("Add", [b.node("Mul", [f, c]), b.node("Mul", [i, g])], {}, [last ? "c" : `c_${t}`]);
    h = b.node("Mul", [o, b.node("Tanh", [c])], {}, [last ? "h" : `h_${t}`]);
  }
  b.output("h", F, [B, H]);
  b.output("c", F, [B, H]);
  return b.model({ opset: 13 });
}

/** Gates per recurrent op. */
const GATES = { LSTM: 4, GRU: 3, RNN: 1 } as const;

/**
 * One `LSTM` / `GRU` / `RNN` op over x: [steps, batch, input] (W [dirs, G·H, I], R [dirs, G·H, H], B [dirs, 2·G·H]),
 * then a Linear head on the last hidden state: y = Y_h[-1] @ W_out.
 */
export function recurrentOpModel(op: keyof typeof GATES, sizes: RecurrentSizes & { directions?: 1 | 2; torchExport?: boolean } = {}): ModelProto {
  const { input: I = 64, hidden: H = 128, steps: T = 8, batch: B = 2, directions: D = 1 } = sizes;
  const G = GATES[op];
  const b = new GraphBuilder(op.toLowerCase());
  b.input("x", F, [T, B, I]);
  const bound = 1 / Math.sqrt(H);
  if (sizes.torchExport && D === 1) {
    // As torch exports nn.LSTM/GRU without constant folding: the parameters (weight_ih_l0 [G·H, I], …) are cut per
    // gate, re-ordered to ONNX's gate order by Slice + Concat, and given the direction axis by Unsqueeze.
    ints(b, "dir_axis", [0]);
    const order = G === 4 ? [0, 3, 1, 2] : G === 3 ? [1, 0, 2] : [0];
    const reorder = (param: string, dims: number[], seed: number, out: string) => {
      b.initializer(param, F, dims, uniform(dims.reduce((a, c) => a * c, 1), bound, seed));
      const rows = dims[0]! / G;
      const parts = order.map((k) => {
        ints(b, `${param}_s${k}`, [k * rows]);
        ints(b, `${param}_e${k}`, [(k + 1) * rows]);
        return b.node("Slice", [param, `${param}_s${k}`, `${param}_e${k}`, "dir_axis"]);
      });
      b.node("Unsqueeze", [b.node("Concat", parts, { axis: 0 }), "dir_axis"], {}, [out]);
    };
    reorder("weight_ih_l0", [G * H, I], 21, "W");
    reorder("weight_hh_l0", [G * H, H], 22, "R");
    b.initializer("bias_ih_l0", F, [G * H], uniform(G * H, bound, 23));
    b.initializer("bias_hh_l0", F, [G * H], uniform(G * H, bound, 25));
    b.node("Unsqueeze", [b.node("Concat", ["bias_ih_l0", "bias_hh_l0"], { axis: 0 }), "dir_axis"], {}, ["B"]);
  } else {
    b.initializer("W", F, [D, G * H, I], uniform(D * G * H * I, bound, 21));
    b.initializer("R", F, [D, G * H, H], uniform(D * G * H * H, bound, 22));
    b.initializer("B", F, [D, 2 * G * H], uniform(D * 2 * G * H, bound, 23));
  }
  b.initializer("W_out", F, [D * H, 16], uniform(D * H * 16, bound, 24));
  const attrs: Record<string, number | string> = { hidden_size: H };
  if (D === 2) attrs.direction = "bidirectional";
  if (op === "GRU") attrs.linear_before_reset = 1;
  b.node(op, ["x", "W", "R", "B"], attrs, ["Y", "Y_h"], { name: op.toLowerCase() });
  ints(b, "flat", [B, D * H]);
  const yh = b.node("Reshape", [b.node("Transpose", ["Y_h"], { perm: [1, 0, 2] }), "flat"]);
  b.node("MatMul", [yh, "W_out"], {}, ["y"], { name: "head" });
  b.output("y", F, [B, 16]);
  b.output("Y", F, [T, D, B, H]);
  return b.model({ opset: 14 });
}

/**
 * A tied-embedding language-model head: ids [batch, seq] → Gather(E [V, D]) → MatMul(W [D, D]) → Tanh →
 * MatMul(Transpose(E)) → logits [batch, seq, V]. E is read by the Gather (per row, axis 0) and through the Transpose
 * by the output MatMul (whose channels are E's rows too).
 */
export function embeddingModel(sizes: { vocab?: number; dim?: number; batch?: number; seq?: number } = {}): ModelProto {
  const { vocab: V = 1000, dim: Dm = 64, batch: B = 2, seq: S = 8 } = sizes;
  const b = new GraphBuilder("embedding");
  b.input("ids", I64, [B, S]);
  b.initializer("E", F, [V, Dm], uniform(V * Dm, 1, 31));
  b.initializer("W", F, [Dm, Dm], uniform(Dm * Dm, 1 / Math.sqrt(Dm), 32));
  const e = b.node("Gather", ["E", "ids"], { axis: 0 }, ["emb"], { name: "embed" });
  const hdn = b.node("Tanh", [b.node("MatMul", [e, "W"], {}, ["proj"], { name: "proj" })]);
  const et = b.node("Transpose", ["E"], { perm: [1, 0] }, ["E_t"], { name: "tie" });
  b.node("MatMul", [hdn, et], {}, ["logits"], { name: "lm_head" });
  b.output("logits", F, [B, S, V]);
  return b.model({ opset: 13 });
}
