/**
 * Folding of a constant per-channel affine after a Conv into the Conv: exporters leave learnable scales and shifts
 * (`x·γ + β` with γ, β of shape [C,1,1]) or an unfolded normalization as Mul/Add/Sub/Div nodes. Left there, the Conv's
 * output needs its own quantized tensor (whose channel ranges can be far apart) before a float Mul, and the Conv
 * cannot fuse with what follows. Folded, the Conv computes the same function (up to float rounding):
 *   Conv → Mul(γ):  W'[o] = W[o]·γ_o,  b'_o = b_o·γ_o        Conv → Div(d): γ = 1/d
 *   Conv → Add(β):  b'_o = b_o + β_o                          Conv → Sub(β) (Conv output first): β → −β
 * Only constants that vary along the channel axis alone (or scalars) fold; the Conv's output must have no other reader
 * and not be a graph output. Chains (Mul then Add, several Muls) fold one node at a time until nothing is left.
 */
import { GraphIndex, isOnnxOp } from "../onnx/graph.ts";
import { removeNodes } from "../onnx/graph-edit.ts";
import type { Model } from "../onnx/model.ts";
import type { NodeProto } from "../onnx/types.ts";
import { ConstWriter, floatConst, perChannelValues } from "./conv-consts.ts";

/** One folded node, for the summary. */
export interface FoldedAffine {
  readonly conv: string;
  readonly node: string;
  readonly op: string;
}

const AFFINE = new Set(["Mul", "Add", "Sub", "Div"]);

/** Fold every foldable constant Mul/Add/Sub/Div that follows a Conv in the main graph into it; returns what was folded. */
export function foldConvAffine(model: Model): FoldedAffine[] {
  const folded: FoldedAffine[] = [];
  for (;;) {
    const step = foldOnce(model);
    if (!step.length) return folded;
    folded.push(...step);
  }
}

function foldOnce(model: Model): FoldedAffine[] {
  const index = new GraphIndex(model);
  const g = index.main.graph;
  const writer = new ConstWriter(g, index);
  const done: FoldedAffine[] = [];
  const gone: NodeProto[] = [];
  const touched = new Set<NodeProto>();
  for (const node of g.node ?? []) {
    if (!node.op_type || !AFFINE.has(node.op_type) || node.domain || (node.input ?? []).length !== 2 || (node.output ?? []).length !== 1) continue;
    for (const side of [0, 1]) {
      const x = node.input![side]!;
      const conv = index.producerNode(x, g);
      if (!conv || !isOnnxOp(conv, "Conv") || touched.has(conv) || (conv.output ?? []).length !== 1) continue;
      if ((node.op_type === "Sub" || node.op_type === "Div") && side !== 0) continue; // β − x, d / x: not affine in x
      if (index.consumers(x, g).length !== 1 || index.isGraphOutput(x, g)) continue;
      const w = floatConst(model, index, conv.input?.[1], g);
      const k = floatConst(model, index, node.input![1 - side], g);
      if (!w || !k) continue;
      const channels = w.dims[0]!;
      const values = perChannelValues(k, w.dims.length, channels);
      if (!values) continue;
      const biasName = conv.input?.[2];
      const b = biasName ? floatConst(model, index, biasName, g) : undefined;
      if (biasName && (!b || b.data.length !== channels)) continue;
      const bias = b?.data ?? new Float32Array(channels);
      const per = w.data.length / channels;
      const op = node.op_type;
      if (op === "Div" && values.some((v) => v === 0)) continue;
      if (op === "Mul" || op === "Div") {
        const wd = w.data;
        for (let o = 0; o < channels; o++) {
          const s = op === "Mul" ? values[o]! : 1 / values[o]!;
          for (let i = o * per; i < (o + 1) * per; i++) wd[i]! *= s;
          bias[o]! *= s;
        }
        writer.set(conv, 1, wd, w.dims, `${conv.input![1]}_folded`);
      } else for (let o = 0; o < channels; o++) bias[o]! += op === "Add" ? values[o]! : -values[o]!;
      if (op !== "Mul" || b) writer.set(conv, 2, bias, [channels], `${biasName || `${conv.name || "conv"}_bias`}_folded`);
      conv.output = [node.output![0]!];
      g.value_info = (g.value_info ?? []).filter((v) => v.name !== x);
      gone.push(node);
      writer.release(node.input![1 - side]!);
      touched.add(conv);
      done.push({ conv: conv.name ?? "", node: node.name ?? "", op });
      break;
    }
  }
  removeNodes(g, gone);
  writer.finish();
  return done;
}
