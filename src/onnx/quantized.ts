/**
 * The one definition of "already quantized", used by `info`, the quantizers (so `quantize`, `calibrate`, `batch`
 * and `config` refuse or continue for the same reason) and the library.
 *
 * A model is quantized when it holds quantization ops (QuantizeLinear/DequantizeLinear, DynamicQuantizeLinear,
 * ConvInteger/MatMulInteger, QLinear*, QGemm/QAttention, MatMulNBits, …) or integer weights read by them. It is
 * *fully* quantized when no float weight is left in a compute op's weight input (read directly or through
 * data-movement ops such as Transpose/Reshape/Slice), *partly* when some are: a weight-only pass can still
 * quantize those.
 */
import { QuantError } from "../errors/errors.ts";
import { DataType } from "../tensor/dtypes.ts";
import { GraphIndex, type Scope } from "./graph.ts";
import type { Model } from "./model.ts";
import type { GraphProto, ModelProto, NodeProto } from "./types.ts";
import { findWeights, storedByteLength, type Weight } from "./weights.ts";
import { DATA_MOVEMENT_OPS } from "./weight-chain.ts";
import { isDefaultDomain } from "./opset/scope.ts";

/** Count and bytes of a group of tensors. */
export interface QuantTally {
  count: number;
  bytes: number;
}

/** What {@link isQuantized} found. */
export interface QuantizationState {
  /** `none`: a float model; `partial`: quantized parts and float weights left; `full`: nothing float left to quantize. */
  state: "none" | "partial" | "full";
  /** `state !== "none"`. */
  already: boolean;
  /** Quantization ops by op type (every graph and function). */
  ops: Record<string, number>;
  /** Integer initializers a quantization op reads as its weight (DequantizeLinear data, ConvInteger W, …). */
  integerWeights: QuantTally;
  /** Float weights still in a compute op's weight input (not overridable by a graph input). */
  floatWeights: QuantTally;
}

/** Quantization ops of the default and com.microsoft domains. */
const QUANT_OP = /^(QuantizeLinear|DequantizeLinear|DynamicQuantizeLinear|DynamicQuantize\w+|ConvInteger|MatMulInteger\w*|Q[A-Z]\w+|MatMulNBits|MatMulBnb4|MatMulFpQ4|GatherBlockQuantized|QuantizeWithOrder|DequantizeWithOrder)$/;

/** The input index holding the (integer) weight, for quantization ops that take one. */
const INTEGER_WEIGHT_INPUT: Record<string, number> = {
  DequantizeLinear: 0, ConvInteger: 1, MatMulInteger: 1, MatMulIntegerToFloat: 1, DynamicQuantizeMatMul: 1, QLinearConv: 3,
  QLinearMatMul: 3, QGemm: 3, MatMulNBits: 1, MatMulBnb4: 1, GatherBlockQuantized: 0, QAttention: 1,
};

/** Float ops whose weight inputs a quantizer takes, with those input indices. */
const WEIGHT_INPUTS: Record<string, readonly number[]> = {
  Conv: [1], ConvTranspose: [1], MatMul: [0, 1], Gemm: [0, 1], Gather: [0], LSTM: [1, 2], GRU: [1, 2], RNN: [1, 2], Einsum: [0, 1],
};

/** Ops that only move or reshape data: a weight passing through them is still a weight where it lands. */

const isDefault = (n: NodeProto) => isDefaultDomain(n.domain ?? undefined);

/** True for a node of a quantization op (either domain). */
export function isQuantOp(node: NodeProto): boolean {
  return (isDefault(node) || node.domain === "com.microsoft") && QUANT_OP.test(node.op_type ?? "");
}

/** Integer element types quantized weights are stored in. */
const INTEGER_TYPES = new Set<number>([DataType.INT8, DataType.UINT8, DataType.INT4, DataType.UINT4, DataType.INT16, DataType.UINT16, DataType.INT32]);

/** Is `node`'s input `input` a compute op's weight input, directly or through data-movement ops (their data input)? */
function isWeightUse(index: GraphIndex, node: NodeProto, input: number, graph: GraphProto, seen: Set<string>): boolean {
  if (!isDefault(node) || input < 0) return false;
  const op = node.op_type ?? "";
  if (WEIGHT_INPUTS[op]?.includes(input)) return true;
  if (!DATA_MOVEMENT_OPS.has(op) || (input !== 0 && op !== "Concat")) return false;
  for (const out of node.output ?? []) {
    if (!out || seen.has(out)) continue;
    seen.add(out);
    for (const c of index.readers(out, graph)) if (isWeightUse(index, c.node, c.input, c.graph, seen)) return true;
  }
  return false;
}

/**
 * Is the model already quantized, fully or in part? One pass over the model; no weight data is read.
 * @example if (isQuantized(model).state === "full") throw new Error("nothing to do");
 */
export function isQuantized(model: Model | ModelProto, index?: GraphIndex): QuantizationState {
  const proto = "proto" in model ? model.proto : model;
  const idx = index ?? new GraphIndex(proto);
  const ops: Record<string, number> = {};
  const countOps = (nodes: readonly NodeProto[] | undefined | null) => {
    for (const n of nodes ?? []) if (isQuantOp(n)) ops[n.op_type!] = (ops[n.op_type!] ?? 0) + 1;
  };
  for (const s of idx.scopes) countOps(s.graph.node);
  for (const f of proto.functions ?? []) countOps(f.node);

  const integerWeights: QuantTally = { count: 0, bytes: 0 };
  for (const scope of idx.scopes) countIntegerWeights(idx, scope, integerWeights);

  const floatWeights: QuantTally = { count: 0, bytes: 0 };
  const anyQuant = Object.keys(ops).length > 0 || integerWeights.count > 0;
  if (anyQuant)
    for (const w of findWeights(proto, idx)) {
      if (w.shadowed || !isLeftFloat(idx, w)) continue;
      floatWeights.count++;
      floatWeights.bytes += w.bytes;
    }
  const state = !anyQuant ? "none" : floatWeights.count ? "partial" : "full";
  return { state, already: anyQuant, ops, integerWeights, floatWeights };
}

function isLeftFloat(index: GraphIndex, w: Weight): boolean {
  const seen = new Set<string>();
  return w.consumers.some((c) => isWeightUse(index, c.node, c.input, c.graph, seen));
}

function countIntegerWeights(index: GraphIndex, scope: Scope, into: QuantTally): void {
  for (const t of scope.graph.initializer ?? []) {
    if (!t.name || !INTEGER_TYPES.has(t.data_type ?? 0)) continue;
    const read = index.readers(t.name, scope.graph).some((c) => isQuantOp(c.node) && INTEGER_WEIGHT_INPUT[c.node.op_type ?? ""] === c.input);
    if (read) {
      into.count++;
      into.bytes += storedByteLength(t);
    }
  }
}

/** "ConvInteger 119, DynamicQuantizeLinear 119" (most frequent first). */
export function describeQuantOps(s: QuantizationState): string {
  const ops = Object.entries(s.ops).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([op, n]) => `${op} ${n}`);
  if (!ops.length && s.integerWeights.count) ops.push(`${s.integerWeights.count} integer weight(s)`);
  return ops.join(", ");
}

/**
 * The `E_QUANT_ALREADY` error for a quantizer that cannot work on this model: a fully quantized model always, a
 * partly quantized one when the quantizer needs the float model (`partialHint` then says what to do instead).
 */
export function alreadyQuantizedError(s: QuantizationState, partialHint?: string): QuantError {
  const what = describeQuantOps(s);
  if (s.state === "partial")
    return new QuantError("E_QUANT_ALREADY", `the model is partly quantized (${what}; ${s.floatWeights.count} float weight(s) left)${partialHint ? `: ${partialHint}` : ""}`);
  return new QuantError("E_QUANT_ALREADY", `the model is already quantized (${what}) and has no float weights left to quantize`);
}
