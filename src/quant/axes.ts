/**
 * Which axis of a weight is its output channel (per-channel scales) and which is its reduction axis (blocks),
 * decided by the op that consumes it.
 */
import { num, type NodeProto } from "../onnx/types.ts";
import { traceAxisBack, type ChainStep } from "../onnx/weight-chain.ts";
import type { WeightConsumer } from "../onnx/weights.ts";

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
 * - LSTM/GRU/RNN W [dirs, gates·H, I] and R [dirs, gates·H, H]: channels on the gate axis 1, blocks along axis 2.
 *   Their bias B stays float.
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
    case "LSTM":
    case "GRU":
    case "RNN":
      return (input === 1 || input === 2) && rank === 3 ? { channelAxis: 1, blockAxis: 2 } : undefined;
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

/** How one consumer uses a weight, with the consumer's axes traced back to the weight's own axes. */
export interface WeightUse {
  /** The node whose role decides the axes: the consumer, or a Gather on the chain when the consumer is no weight op. */
  readonly node: NodeProto;
  readonly input: number;
  readonly opType: string;
  /** Data-movement steps between the weight and `node`. */
  readonly steps: readonly ChainStep[];
  /** Axes on the weight itself; an axis the chain does not let through is undefined (then per-tensor). */
  readonly role: WeightRole;
  /** The consumer has a channel axis, but the chain mixes it with others (so the weight goes per-tensor). */
  readonly untraced: boolean;
}

/** True for readers that only look at the shape (a DequantizeLinear in front of them changes nothing). */
export function readsShapeOnly(c: Pick<WeightConsumer, "node" | "input">): boolean {
  const op = c.node.op_type;
  return (!c.node.domain || c.node.domain === "ai.onnx") && (op === "Shape" || op === "Size") && c.input === 0;
}

/** A rank high enough for every weight role: probes whether an input is a weight slot when the rank is unknown. */
const ANY_RANK = 4;

function roleAt(node: NodeProto, input: number, shape: readonly number[] | undefined): WeightRole | undefined {
  if (shape) return weightRole(node, input, shape.length);
  // Rank unknown after the chain: a weight slot still, but no axis can be named.
  return weightRole(node, input, ANY_RANK) ? {} : undefined;
}

/**
 * The weight role of one consumer of a weight of shape `dims`, seen through its data-movement chain: the consumer's
 * role (or, when the consumer is no weight op, that of the last Gather on the chain — a table looked up by constant
 * indices), with the channel and block axes traced back to the weight. Undefined: not a weight use.
 */
export function weightUse(c: WeightConsumer, dims: readonly number[]): WeightUse | undefined {
  if (c.input < 0) return undefined;
  const steps = c.steps ?? [];
  let node = c.node, input = c.input, upTo = steps.length;
  let role = roleAt(node, input, steps.length ? c.shape : dims);
  for (let i = steps.length - 1; !role && i >= 0; i--) {
    const s = steps[i]!;
    role = s.node.op_type === "Gather" ? roleAt(s.node, s.input, s.inShape) : undefined;
    if (role) [node, input, upTo] = [s.node, s.input, i];
  }
  if (!role) return undefined;
  const chain = steps.slice(0, upTo);
  const traced: WeightRole = {};
  // An axis that does not exist on the weight (a hostile or mis-shaped chain) is no axis at all.
  const onWeight = (a: number | undefined) => (a !== undefined && a >= 0 && a < dims.length ? a : undefined);
  const channelAxis = onWeight(traceAxisBack(chain, role.channelAxis));
  const blockAxis = onWeight(traceAxisBack(chain, role.blockAxis));
  if (channelAxis !== undefined) traced.channelAxis = channelAxis;
  if (blockAxis !== undefined) traced.blockAxis = blockAxis;
  return { node, input, opType: node.op_type ?? "", steps: chain, role: traced, untraced: role.channelAxis !== undefined && channelAxis === undefined };
}
