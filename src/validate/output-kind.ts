/**
 * What an output *is*, so validate reports the metric that means something for it:
 * - `classifier`: top-1 agreement along a class axis. An output produced by Softmax/LogSoftmax (directly or through
 *   Identity/Cast) is a classifier along the softmax axis — per row for `[N, C]`, per anchor for `[N, A, C]`, per pixel
 *   for `[N, C, H, W]` with axis 1. Otherwise the shape decides: `[C]`, or rank ≥ 2 where exactly one dim after the
 *   batch axis is > 1 and it is ≥ 2 (`[N, C]`, `[N, C, 1, 1]`, `[N, 1, C]`). Such a shape may be a regression head
 *   (landmarks); its top-1 figure is then meaningless but harmless, and the SQNR remains the gate.
 * - `probability-map`: produced by Sigmoid through range-preserving ops (data movement, Resize, pooling) with spatial
 *   dims (rank ≥ 3, more than one value past the channel axis); the metric is pixel agreement of the decisions at 0.5
 *   and the IoU of the "above 0.5" sets. `probabilities`: a Sigmoid output without spatial dims (`[N, 1]` binary,
 *   `[N, C]` multi-label): the same metrics, per value. Checked on the data: a reference value outside [0, 1] demotes
 *   either to `values`.
 * - `values`: everything else (dense maps, embeddings, boxes): SQNR, cosine and max abs error only. A row-argmax of a
 *   dense map is noise (it gave 0.969 "top-1" at 115 dB on a saliency map), so none is reported.
 */
import type { Model } from "../onnx/model.ts";
import { opsetVersion } from "../onnx/graph.ts";
import { DATA_MOVEMENT_OPS } from "../onnx/weight-chain.ts";
import type { NodeProto } from "../onnx/types.ts";

/** The kind of an output, deciding its metrics. */
export type OutputKind = "classifier" | "probability-map" | "probabilities" | "values";

/** How an output is judged, from the graph (before any data is seen). */
export interface OutputRule {
  /** What the graph says: a Softmax/LogSoftmax (`softmax`), a Sigmoid (`sigmoid`), or nothing (`shape`: decided on the dims). */
  source: "softmax" | "sigmoid" | "shape";
  /** Softmax axis (may be negative until the rank is known). */
  axis?: number;
  /** Softmax before opset 13 normalizes over every dim from `axis` on (the input coerced to 2-D). */
  flatten?: boolean;
}

/** A classifier's layout over a flat buffer: `outer × classes × inner`, the argmax taken over `classes` with stride `inner`. */
export interface ClassLayout {
  outer: number;
  classes: number;
  inner: number;
  /** The class axis in the output's dims (for the report). */
  axis: number;
}

/** Ops that keep a Sigmoid's values in [0, 1] (linear Resize and pooling average or pick values). */
const RANGE_KEEPING = new Set([...DATA_MOVEMENT_OPS, "Resize", "Upsample", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"]);
/** Ops that keep the softmax axis where it is. */
const AXIS_KEEPING = new Set(["Identity", "Cast"]);

function intAttr(node: NodeProto, name: string): number | undefined {
  const a = (node.attribute ?? []).find((x) => x.name === name);
  return a?.i === undefined || a.i === null ? undefined : Number(a.i);
}

/** The rule for each graph output of `model` (the float original: the quantized graph inserts Q/DQ before outputs). */
export function outputRules(model: Model): Map<string, OutputRule> {
  const g = model.proto.graph;
  const producer = new Map<string, NodeProto>();
  for (const n of g?.node ?? []) for (const o of n.output ?? []) if (o) producer.set(o, n);
  const opset = opsetVersion(model.proto) ?? 13;
  const rules = new Map<string, OutputRule>();
  for (const out of g?.output ?? []) {
    const name = out.name ?? "";
    rules.set(name, ruleOf(name, producer, opset));
  }
  return rules;
}

function ruleOf(name: string, producer: Map<string, NodeProto>, opset: number): OutputRule {
  let n = producer.get(name);
  let axisKept = true;
  // Bounded walk: exporters put a handful of reshapes/casts after the activation, never hundreds.
  for (let hops = 0; n && hops < 16; hops++) {
    const op = n.domain && n.domain !== "ai.onnx" ? "" : (n.op_type ?? "");
    if (op === "Softmax" || op === "LogSoftmax") {
      if (!axisKept) return { source: "shape" };
      const axis = intAttr(n, "axis") ?? (opset >= 13 ? -1 : 1);
      return { source: "softmax", axis, flatten: opset < 13 };
    }
    if (op === "Sigmoid") return { source: "sigmoid" };
    if (!RANGE_KEEPING.has(op)) return { source: "shape" };
    if (!AXIS_KEEPING.has(op)) axisKept = false;
    n = producer.get(n.input?.[0] ?? "");
  }
  return { source: "shape" };
}

const prod = (dims: readonly number[], from: number, to: number) => {
  let p = 1;
  for (let i = from; i < to; i++) p *= dims[i]!;
  return p;
};

/** The class layout of an output with these runtime dims under `rule`, or undefined when it is not a classifier. */
export function classLayout(rule: OutputRule, dims: readonly number[]): ClassLayout | undefined {
  const rank = dims.length;
  if (rule.source === "softmax") {
    if (rank === 0) return undefined;
    const axis = rule.axis! < 0 ? rule.axis! + rank : rule.axis!;
    if (axis < 0 || axis >= rank) return undefined;
    const classes = rule.flatten ? prod(dims, axis, rank) : dims[axis]!;
    if (classes < 2) return undefined;
    return { outer: prod(dims, 0, axis), classes, inner: rule.flatten ? 1 : prod(dims, axis + 1, rank), axis };
  }
  if (rule.source === "sigmoid") return undefined;
  if (rank === 1) return dims[0]! >= 2 ? { outer: 1, classes: dims[0]!, inner: 1, axis: 0 } : undefined;
  if (rank < 2) return undefined;
  let axis = -1;
  for (let i = 1; i < rank; i++) {
    if (dims[i]! <= 1) continue;
    if (axis >= 0) return undefined; // two dims > 1 after the batch axis: a map, a sequence, not one class vector
    axis = i;
  }
  if (axis < 0 || dims[axis]! < 2) return undefined;
  return { outer: dims[0]!, classes: dims[axis]!, inner: 1, axis }; // the other dims are 1: contiguous rows
}

/** The kind of an output with these runtime dims under `rule` (before the [0, 1] check on the data). */
export function outputKind(rule: OutputRule, dims: readonly number[]): OutputKind {
  if (rule.source === "sigmoid") return dims.length >= 3 && prod(dims, 2, dims.length) > 1 ? "probability-map" : "probabilities";
  return classLayout(rule, dims) ? "classifier" : "values";
}
