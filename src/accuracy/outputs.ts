/**
 * Which tensors the accuracy of a model is measured on: its graph outputs, except that an output produced by a
 * Sigmoid / Softmax / LogSoftmax is measured on that activation's input (the pre-activation logits). A saturated
 * sigmoid hides large logit errors (0.9999 vs 0.99999) and a softmax over thousands of anchors makes every
 * probability tiny; the logits carry the error the quantizer made.
 */
import type { Model } from "../onnx/model.ts";
import type { GraphProto } from "../onnx/types.ts";
import { valueInfo } from "../onnx/builder.ts";
import { DataType } from "../tensor/dtypes.ts";

/** Activations measured on their input. */
const SQUASHING = new Set(["Sigmoid", "Softmax", "LogSoftmax"]);

/** Ops that only move values: an output behind them is measured where they read. */
const LAYOUT = new Set(["Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "Identity"]);

/** The activation's output feeds only layout ops up to graph outputs (else its input is no output's logits). */
function squashesAlone(act: NonNullable<GraphProto["node"]>[number], graph: GraphProto): boolean {
  const outputs = new Set((graph.output ?? []).map((o) => o.name));
  const readers = (t: string) => (graph.node ?? []).filter((n) => (n.input ?? []).includes(t));
  const stack = [act.output?.[0] ?? ""];
  for (let seen = 0; stack.length && seen < 64; seen++) {
    const t = stack.pop()!;
    for (const r of readers(t)) {
      if (r.domain || !LAYOUT.has(r.op_type ?? "")) return false;
      stack.push(r.output?.[0] ?? "");
    }
    if (!outputs.has(t) && !readers(t).length) return false;
  }
  return true;
}

/** One measured tensor per graph output. */
export interface MeasuredOutput {
  /** The graph output. */
  output: string;
  /** The tensor measured (the output itself, or the squashing activation's input). */
  tensor: string;
  /** The activation measured through, if any. */
  through?: string;
}

/** The measured tensors of a graph, in graph-output order. */
export function measuredOutputs(graph: GraphProto): MeasuredOutput[] {
  const producer = new Map<string, NonNullable<GraphProto["node"]>[number]>();
  for (const n of graph.node ?? []) for (const o of n.output ?? []) if (o) producer.set(o, n);
  return (graph.output ?? []).map((o) => {
    const name = o.name ?? "";
    const float = o.type?.tensor_type?.elem_type === DataType.FLOAT;
    // Through layout-only ops (a detector's scores are often Softmax → Reshape/Transpose): the SQNR of a permuted or
    // reshaped tensor is that of the tensor.
    let p = producer.get(name);
    for (let hop = 0; p && !p.domain && LAYOUT.has(p.op_type ?? "") && hop < 8; hop++) p = producer.get(p.input?.[0] ?? "");
    if (float && p && !p.domain && SQUASHING.has(p.op_type ?? "") && p.input?.[0] && squashesAlone(p, graph)) return { output: name, tensor: p.input[0], through: p.op_type! };
    return { output: name, tensor: name };
  });
}

/** Make every measured tensor a graph output of `model` (in place; the model must be a copy). Returns the names to fetch. */
export function exposeMeasured(model: Model): string[] {
  const g = model.proto.graph!;
  const m = measuredOutputs(g);
  const have = new Set((g.output ?? []).map((o) => o.name));
  for (const x of m) if (!have.has(x.tensor)) {
    (g.output ??= []).push(valueInfo(x.tensor, DataType.FLOAT));
    have.add(x.tensor);
  }
  return m.map((x) => x.tensor);
}

/** "output SQNR on pre-Sigmoid logits of 'scores', 'boxes'" — what the metric is computed on, for the summary. */
export function describeMeasured(graph: GraphProto): string {
  const m = measuredOutputs(graph);
  const pre = m.filter((x) => x.through);
  const plain = m.filter((x) => !x.through);
  const parts: string[] = [];
  for (const op of new Set(pre.map((x) => x.through))) parts.push(`pre-${op} logits of ${pre.filter((x) => x.through === op).map((x) => `'${x.output}'`).join(", ")}`);
  if (plain.length) parts.push(`${plain.map((x) => `'${x.output}'`).join(", ")}`);
  return parts.join(" and ");
}
