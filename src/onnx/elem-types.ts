/**
 * Element type of every value of one graph, by a small forward inference from the declared types (inputs, outputs,
 * value_info, initializers) through the nodes in order. Q/DQ placement must never quantize an int64 shape, and the
 * float32 retyping of half models must know which Casts became float → float; both read this map.
 */
import { constantTensor } from "./graph.ts";
import type { GraphProto, NodeProto } from "./types.ts";
import { num } from "./types.ts";
import { DataType } from "../tensor/dtypes.ts";

/** Ops whose output element type is fixed, whatever their inputs. */
const FIXED_OUTPUT_TYPE: Record<string, number> = {
  Shape: DataType.INT64, Size: DataType.INT64, NonZero: DataType.INT64, ArgMax: DataType.INT64, ArgMin: DataType.INT64,
  Equal: DataType.BOOL, Less: DataType.BOOL, Greater: DataType.BOOL, LessOrEqual: DataType.BOOL, GreaterOrEqual: DataType.BOOL,
  Not: DataType.BOOL, And: DataType.BOOL, Or: DataType.BOOL, Xor: DataType.BOOL, IsNaN: DataType.BOOL, IsInf: DataType.BOOL,
  DequantizeLinear: DataType.FLOAT, DynamicQuantizeLinear: DataType.UINT8,
};
/** Ops whose output type is the type of input 1 rather than input 0. */
const TYPE_FROM_INPUT1 = new Set(["Where", "CastLike"]);

/**
 * Element type (`DataType`) per value name of `graph` (not its subgraphs), where it could be inferred: declared
 * types first, then each node's outputs from its op and inputs, in node order.
 */
export function elementTypes(graph: GraphProto): Map<string, number> {
  const types = new Map<string, number>();
  for (const v of [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.value_info ?? [])]) {
    const et = v.type?.tensor_type?.elem_type;
    if (v.name && et) types.set(v.name, et);
  }
  for (const t of graph.initializer ?? []) if (t.name) types.set(t.name, t.data_type ?? 0);
  for (const node of graph.node ?? []) inferNode(node, types);
  return types;
}

function inferNode(node: NodeProto, types: Map<string, number>): void {
  const op = node.op_type ?? "";
  const outs = node.output ?? [];
  if (node.domain && node.domain !== "ai.onnx") return;
  let t: number | undefined;
  if (op === "Constant") t = constantTensor(node)?.data_type;
  else if (op === "Cast") t = intAttr(node, "to");
  else if (op === "ConstantOfShape") t = node.attribute?.find((a) => a.name === "value")?.t?.data_type ?? DataType.FLOAT;
  else if (op === "QuantizeLinear") t = types.get(node.input?.[2] ?? "") ?? DataType.UINT8;
  else if (op in FIXED_OUTPUT_TYPE) t = FIXED_OUTPUT_TYPE[op];
  else if (TYPE_FROM_INPUT1.has(op)) t = types.get(node.input?.[1] ?? "");
  else if (op === "RandomNormal" || op === "RandomUniform" || op === "EyeLike") t = intAttr(node, "dtype") ?? DataType.FLOAT;
  else for (const i of node.input ?? []) if (i && (t = types.get(i)) !== undefined) break;
  if (t === undefined) return;
  // Only the first output of multi-output ops shares the input type reliably (TopK's indices, MaxPool's Indices do not);
  // Split, Identity and the recurrent ops (Y, Y_h, Y_c) give every output the input type.
  const first = outs[0];
  if (first && !types.has(first)) types.set(first, t);
  if (op === "Split" || op === "Identity" || op === "LSTM" || op === "GRU" || op === "RNN") for (const o of outs) if (o && !types.has(o)) types.set(o, t);
}

function intAttr(node: NodeProto, name: string): number | undefined {
  const a = node.attribute?.find((x) => x.name === name);
  return a?.i === undefined ? undefined : num(a.i);
}
