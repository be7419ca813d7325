/**
 * Which axis of a weight is its output channel (per-channel scales) and which is its reduction axis (blocks),
 * decided by the op that consumes it.
 */
import { num, type NodeProto } from "../onnx/types.ts";

/** The role a consumer gives a weight: quantizable with these axes, or not a weight role at all. */
export interface WeightRole {
  /** Axis of the per-channel scales (output channels), or undefined when per-channel makes no sense. */
  channelAxis?: number;
  /** Axis blocks run along (the reduction axis), or undefined. */
  blockAxis?: number;
}

function intAttr(node: NodeProto, name: string, fallback: number): number {
  const a = node.attribute?.find((x) => x.name === name);
  return a?.i !== undefined ? num(a.i) : fallback;
}

/**
 * Axes for a weight read by `node` at input `input` with rank `rank`; undefined when that input is not a weight
 * role we quantize (a bias, an index, a shape…).
 * - Conv W [M, C/g, k…]: channels axis 0, blocks along axis 1.
 * - ConvTranspose W [C, M/g, k…]: channels axis 1 (per group slice), blocks along axis 0.
 * - MatMul B [.., K, N]: channels last axis, blocks along K; A [.., M, K] constant: channels axis -2, blocks along K.
 * - Gemm B: [K, N] (transB=0) → channels 1, blocks 0; [N, K] (transB=1) → channels 0, blocks 1.
 * - Gather data [V, D]: one scale per row (axis 0), blocks along the row (axis 1).
 */
export function weightRole(node: NodeProto, input: number, rank: number): WeightRole | undefined {
  const op = node.op_type;
  if (node.domain && node.domain !== "ai.onnx") return undefined;
  switch (op) {
    case "Conv":
      return input === 1 && rank >= 3 ? { channelAxis: 0, blockAxis: 1 } : undefined;
    case "ConvTranspose":
      return input === 1 && rank >= 3 ? { channelAxis: 1, blockAxis: 0 } : undefined;
    case "MatMul":
      if (rank < 2) return input <= 1 ? {} : undefined;
      if (input === 1) return { channelAxis: rank - 1, blockAxis: rank - 2 };
      if (input === 0) return { channelAxis: rank - 2, blockAxis: rank - 1 };
      return undefined;
    case "Gemm": {
      if (rank !== 2) return undefined;
      if (input === 1) return intAttr(node, "transB", 0) ? { channelAxis: 0, blockAxis: 1 } : { channelAxis: 1, blockAxis: 0 };
      if (input === 0) return intAttr(node, "transA", 0) ? { channelAxis: 1, blockAxis: 0 } : { channelAxis: 0, blockAxis: 1 };
      return undefined;
    }
    case "Gather":
      return input === 0 && intAttr(node, "axis", 0) === 0 ? (rank >= 2 ? { channelAxis: 0, blockAxis: rank - 1 } : {}) : undefined;
    default:
      return undefined;
  }
}

/** One axis valid for every role, or undefined (then per-tensor). */
export function agreedAxis(roles: readonly WeightRole[], key: keyof WeightRole): number | undefined {
  const axes = new Set(roles.map((r) => r[key]));
  if (axes.size !== 1) return undefined;
  return [...axes][0];
}
