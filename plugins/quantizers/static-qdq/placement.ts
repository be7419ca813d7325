/**
 * Q/DQ placement: which activations of a float graph get a QuantizeLinear → DequantizeLinear pair so that ONNX Runtime
 * fuses the float ops between them into its integer kernels (QLinearConv, QLinearAdd, QLinearConcat, QGemm, …).
 *
 * What ONNX Runtime needs (see its qdq_transformer): a DQ on every input and a Q on the output of the op it fuses; a
 * Q directly after a Relu/Clip whose range makes the activation a no-op (it then deletes the activation and fuses
 * Conv → Q); equal Q/DQ parameters around MaxPool, Reshape, Transpose, … (it then runs them on the integers). So:
 * - anchors: Conv/ConvTranspose/MatMul/Gemm inputs are quantized, and (fuse-friendly) a Conv's output too, moved past a
 *   single-consumer Relu/Clip;
 * - pass-through ops share one scale between input and output, and quantize in either direction;
 * - Add/Mul, Concat and pooling run quantized when their inputs already are (their output is then quantized too).
 * The plan is a fixpoint of these rules (marks only grow, so it ends). Ops and tensors can be kept float by the caller.
 */
import { num, type NodeProto } from "../../../src/index.ts";
import type { PlacementGraph } from "./placement-graph.ts";

/** Ops whose activation inputs are quantized unconditionally (the integer kernels that make a model faster). */
export const ANCHOR_OPS: ReadonlySet<string> = new Set(["Conv", "ConvTranspose", "MatMul", "Gemm"]);
/** Ops that move data without changing values: input and output share one scale (ORT runs them on the integers). */
export const PASS_THROUGH_OPS: ReadonlySet<string> = new Set(["MaxPool", "Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "Resize"]);
/** Elementwise binary ops with an integer kernel (QLinearAdd / QLinearMul). */
export const BINARY_OPS: ReadonlySet<string> = new Set(["Add", "Mul"]);
/** Unary ops with an integer kernel. */
export const UNARY_OPS: ReadonlySet<string> = new Set(["GlobalAveragePool", "AveragePool"]);
/** Activations ORT deletes when the following Q already clamps to their range. */
export const FUSED_ACTIVATIONS: ReadonlySet<string> = new Set(["Relu", "Clip"]);
/** The default op types of static-qdq. Softmax, LayerNormalization and normalization arithmetic stay float. */
export const DEFAULT_OP_TYPES: readonly string[] = [...ANCHOR_OPS, ...PASS_THROUGH_OPS, ...BINARY_OPS, ...UNARY_OPS, "Concat", ...FUSED_ACTIVATIONS];

/** Ops that read only the shape of their input: a Q/DQ pair in front of them costs no accuracy. */
const SHAPE_ONLY: ReadonlySet<string> = new Set(["Shape", "Size"]);

/** What the planner is allowed to do. */
export interface PlacementPolicy {
  /** Op types that may run quantized. */
  readonly opTypes: ReadonlySet<string>;
  /** Nodes to keep float (excluded by name or glob). */
  readonly keepNodeFloat: (node: NodeProto) => boolean;
  /** Tensors that must not be quantized (excluded, or no range available). */
  readonly keepTensorFloat: (tensor: string) => boolean;
  /** Give Concat inputs and output one scale, so QLinearConcat only copies bytes. Default true. */
  readonly shareConcatScales?: boolean;
  /** Concats that keep one scale per input even when sharing is on (their input ranges differ too much). */
  readonly unsharedConcats?: ReadonlySet<NodeProto>;
  /** Quantize a Conv's output (past its Relu/Clip) even when no consumer asks, so the Conv fuses. Default true. */
  readonly fuseFriendly?: boolean;
  /**
   * Keep a stem Conv float: one reading a graph input with ≤ 4 input channels per group. MLAS's integer conv is
   * slower than its fp32 NCHWc kernel for so few input channels (MobileNetV2 0.38 ms fp32 vs 0.80 ms int8,
   * SqueezeNet 0.56 vs 1.66 ms). When Relu/Clip → MaxPool follow, they stay float too (fused into the NCHWc conv) and
   * the first Q goes after the MaxPool, guarded (see {@link Placement.guards}). Default false (static-qdq turns it on).
   */
  readonly floatStem?: boolean;
}

/** Roles of the inputs of an anchor op. */
export interface AnchorNode {
  readonly node: NodeProto;
  /** Input slots holding activations (each gets a DQ from its Q/DQ pair). */
  readonly activations: number[];
  /** Input slot of the constant weight and the axis of its output channels (undefined: per-tensor only). */
  readonly weight?: { slot: number; axis: number | undefined };
  /** Input slot of a constant bias to store as int32. */
  readonly bias?: number;
}

/** A node left float and why (for the report). */
export interface SkippedNode {
  readonly node: NodeProto;
  readonly reason: string;
}

/** The placement decided for one graph. */
export interface Placement {
  readonly index: PlacementGraph;
  /** Activations that get a Q → DQ pair, in graph order. */
  readonly tensors: string[];
  /** Scale group of each quantized tensor (its representative); members share one scale and zero point. */
  readonly group: Map<string, string>;
  /** Quantized tensors whose range must be calibrated (the others inherit their group's range). */
  readonly needsRange: string[];
  /** Anchor ops that run quantized (weights and biases get quantized). */
  readonly anchors: AnchorNode[];
  /** Relu/Clip whose output Q should make them disappear: tensor → clamp bounds. */
  readonly clamps: Map<string, { lo: number; hi: number }>;
  /** Nodes kept float on request: they read the float value, never a DQ output (ORT would quantize them anyway). */
  readonly floatNodes: ReadonlySet<NodeProto>;
  /**
   * Quantized tensors produced by a float MaxPool, with their channel count: their Q is written per-axis (axis 1, all
   * scales equal, so the same values). ORT's QDQPropagation moves a Q with a scalar scale above a MaxPool, which then
   * runs on uint8 in NCHW — ~7 ms on SqueezeNet's stem instead of 0.2 ms in fp32 NCHWc; a per-axis Q is not moved.
   */
  readonly guards: ReadonlyMap<string, number>;
  readonly skipped: SkippedNode[];
}

/** Plan the Q/DQ pairs of a graph. */
export function planPlacement(index: PlacementGraph, policy: PlacementPolicy): Placement {
  const nodes = index.graph.node ?? [];
  const shareConcat = policy.shareConcatScales ?? true;
  const fuseFriendly = policy.fuseFriendly ?? true;
  const wanted = new Set<string>();
  const skipped: SkippedNode[] = [];
  const parent = new Map<string, string>();
  const find = (t: string): string => {
    let r = t;
    while (parent.has(r) && parent.get(r) !== r) r = parent.get(r)!;
    return r;
  };
  const union = (a: string, b: string) => {
    const ra = find(a), rb = find(b);
    if (ra !== rb) parent.set(rb, ra);
  };
  // Exclusion patterns are globs: ask once per node and per tensor.
  const floatNodes = new Set(nodes.filter((n) => policy.keepNodeFloat(n)));
  const stems = new Set<NodeProto>();
  const guards = new Map<string, number>();
  for (const n of policy.floatStem ? nodes : []) {
    const chain = floatStemChain(index, n);
    if (!chain) continue;
    stems.add(n);
    for (const c of chain) floatNodes.add(c);
    if (chain.length === 3) guards.set(chain[2]!.output![0]!, num(index.constantOf(n.input![1]!)!.dims![0]!));
  }
  const keptFloat = new Map<string, boolean>();
  const keepTensorFloat = (t: string) => {
    let k = keptFloat.get(t);
    if (k === undefined) keptFloat.set(t, (k = policy.keepTensorFloat(t)));
    return k;
  };
  const enabled = (n: NodeProto) => !n.domain && policy.opTypes.has(n.op_type ?? "") && !floatNodes.has(n);
  /** An activation that may carry a Q/DQ pair: float, computed at run time, visible in this graph. */
  const quantizable = (t: string | undefined): t is string =>
    !!t && index.isFloat(t) && !index.constantOf(t) && !index.isChainWeight(t) && !keepTensorFloat(t);
  const mark = (t: string): boolean => {
    if (wanted.has(t)) return false;
    wanted.add(t);
    return true;
  };
  /** Quantize an op's output so the op fuses; past a single-consumer Relu/Clip so ORT deletes the activation. */
  const markOutput = (t: string | undefined, allowMove = true): boolean => {
    if (!quantizable(t) || index.outputs.has(t) || index.outerReads.has(t)) return false;
    const uses = index.uses(t);
    if (uses.every((u) => floatNodes.has(u.node))) return false; // only float readers: a Q would be dead
    if (allowMove && uses.length === 1) {
      const act = uses[0]!.node;
      const out = act.output?.[0];
      if (uses[0]!.index === 0 && FUSED_ACTIVATIONS.has(act.op_type ?? "") && enabled(act) && clampOf(index, act) &&
        quantizable(out) && !index.outputs.has(out) && !index.outerReads.has(out)) {
        return index.uses(out).every((u) => floatNodes.has(u.node)) ? false : mark(out);
      }
    }
    return mark(t);
  };

  const anchors: AnchorNode[] = [];
  for (const node of nodes) {
    const op = node.op_type ?? "";
    if (node.domain || !ANCHOR_OPS.has(op)) continue;
    if (!enabled(node)) {
      skipped.push({ node, reason: stems.has(node) ? "float stem (faster in fp32)" : floatNodes.has(node) ? "excluded" : `op type ${op} not selected` });
      continue;
    }
    const a = anchorRoles(index, node);
    if (typeof a === "string") {
      skipped.push({ node, reason: a });
      continue;
    }
    const constIn = [a.weight?.slot, a.bias].filter((s): s is number => s !== undefined).map((s) => node.input![s]!);
    const excludedConst = constIn.find((t) => keepTensorFloat(t) || keepTensorFloat(index.constantOf(t)?.name ?? "") ||
      (index.isChainConstant(t) && index.chainSources(t).some(keepTensorFloat)));
    if (excludedConst !== undefined) {
      const source = index.isChainConstant(excludedConst) ? index.chainSources(excludedConst).find(keepTensorFloat) : undefined;
      skipped.push({ node, reason: `weight "${source ?? excludedConst}" is excluded` });
      continue;
    }
    const bad = a.activations.map((s) => node.input![s]!).find((t) => !quantizable(t));
    if (bad !== undefined) {
      skipped.push({ node, reason: keepTensorFloat(bad) ? `input "${bad}" is kept float (excluded or no range)` : `input "${bad}" is not a float32 activation` });
      continue;
    }
    anchors.push(a);
    for (const s of a.activations) mark(node.input![s]!);
    if (fuseFriendly && (op === "Conv")) markOutput(node.output?.[0]);
  }

  // Propagate until nothing changes: each rule only adds marks.
  for (let changed = true; changed; ) {
    changed = false;
    for (const node of nodes) {
      if (!enabled(node)) continue;
      const op = node.op_type!;
      const ins = node.input ?? [];
      const out = node.output?.[0];
      if (PASS_THROUGH_OPS.has(op)) {
        const x = ins[0];
        if (!quantizable(x) || !quantizable(out) || (op === "MaxPool" && node.output!.length > 1 && node.output![1])) continue;
        if (index.outputs.has(out) || index.outerReads.has(out)) continue;
        // Pull the Q back onto the input only when nothing else reads it as a float: quantizing a value that float
        // ops also read (a Transformer's residual stream) costs accuracy to save a float Transpose.
        const pullBack = !wanted.has(x) && wanted.has(out) && index.uses(x).every((u) => u.node === node || SHAPE_ONLY.has(u.node.op_type ?? ""));
        if (wanted.has(x) || pullBack) {
          changed = mark(x) || changed;
          changed = mark(out) || changed;
          union(x, out);
        }
      } else if (UNARY_OPS.has(op)) {
        if (quantizable(ins[0]) && wanted.has(ins[0])) changed = markOutput(out) || changed;
        else if (out && wanted.has(out) && quantizable(ins[0])) changed = mark(ins[0]) || changed;
      } else if (BINARY_OPS.has(op)) {
        const [a, b] = ins;
        if (ins.length !== 2 || !quantizable(a) || !quantizable(b)) continue;
        if (wanted.has(a) && wanted.has(b)) changed = markOutput(out) || changed;
        else if (out && wanted.has(out) && (wanted.has(a) || wanted.has(b))) {
          changed = mark(a) || changed;
          changed = mark(b) || changed;
        }
      } else if (op === "Concat") {
        if (!ins.length || !ins.every((t) => quantizable(t)) || !quantizable(out)) continue;
        const all = ins.every((t) => wanted.has(t));
        if (all || (wanted.has(out) && ins.some((t) => wanted.has(t)))) {
          for (const t of ins) changed = mark(t) || changed;
          changed = markOutput(out, false) || changed;
          if (shareConcat && !policy.unsharedConcats?.has(node) && wanted.has(out)) for (const t of ins) union(out, t);
        }
      }
    }
  }

  // Tensors whose range comes from their group: outputs of pass-through ops and shared-scale Concats.
  const derived = new Set<string>();
  for (const node of nodes) {
    const out = node.output?.[0];
    if (!out || !wanted.has(out) || !enabled(node)) continue;
    const ins = (node.input ?? []).filter(Boolean);
    if (PASS_THROUGH_OPS.has(node.op_type!) && wanted.has(ins[0]!) && find(ins[0]!) === find(out)) derived.add(out);
    if (node.op_type === "Concat" && ins.every((t) => wanted.has(t) && find(t) === find(out))) derived.add(out);
  }
  const order = graphOrder(index);
  const tensors = order.filter((t) => wanted.has(t));
  const clamps = new Map<string, { lo: number; hi: number }>();
  for (const t of tensors) {
    const p = index.producer.get(t);
    if (p && FUSED_ACTIVATIONS.has(p.op_type ?? "") && enabled(p)) {
      const c = clampOf(index, p);
      if (c) clamps.set(t, c);
    }
  }
  const group = new Map(tensors.map((t) => [t, find(t)]));
  return { index, tensors, group, needsRange: tensors.filter((t) => !derived.has(t)), anchors, clamps, floatNodes, guards, skipped };
}

/**
 * The nodes a float stem keeps float: a Conv on a graph input (or on a Cast of one) with ≤ 4 input channels per group, then — only when a
 * MaxPool reads its single-consumer Relu/Clip — that activation and the MaxPool (undefined: not a stem).
 */
function floatStemChain(index: PlacementGraph, node: NodeProto): NodeProto[] | undefined {
  if (node.op_type !== "Conv" || node.domain) return undefined;
  let x = node.input?.[0];
  // Through the Cast a float16 model's input gets (float32-compute.ts): still the model's raw input.
  const cast = x ? index.producer.get(x) : undefined;
  if (cast?.op_type === "Cast" && !cast.domain && cast.input?.[0]) x = cast.input[0];
  if (!x || index.producer.has(x) || index.constantOf(x)) return undefined;
  const w = node.input?.[1] ? index.constantOf(node.input[1]) : undefined;
  const cin = w?.dims?.[1];
  if (cin === undefined || num(cin) > 4 || w?.dims?.length !== 4) return undefined;
  const only = (t: string | undefined) => {
    const uses = t ? index.uses(t) : [];
    return uses.length === 1 && uses[0]!.index === 0 && !index.outputs.has(t!) && !index.outerReads.has(t!) ? uses[0]!.node : undefined;
  };
  const act = only(node.output?.[0]);
  if (!act || !FUSED_ACTIVATIONS.has(act.op_type ?? "")) return [node];
  const pool = only(act.output?.[0]);
  // A MaxPool with an Indices output is not the plain pass-through ORT would run on the integers anyway.
  if (!pool || pool.op_type !== "MaxPool" || pool.domain || (pool.output?.length ?? 0) > 1 && pool.output![1]) return [node];
  return [node, act, pool];
}

/** Graph inputs, then node outputs in node order (the order Q/DQ pairs are emitted and reported in). */
function graphOrder(index: PlacementGraph): string[] {
  const out: string[] = [];
  for (const i of index.graph.input ?? []) if (i.name) out.push(i.name);
  for (const n of index.graph.node ?? []) for (const o of n.output ?? []) if (o) out.push(o);
  return out;
}

/** Clamp bounds of a Relu or a Clip with constant bounds (undefined: bounds not constant, so ORT cannot delete it). */
export function clampOf(index: PlacementGraph, node: NodeProto): { lo: number; hi: number } | undefined {
  if (node.op_type === "Relu") return { lo: 0, hi: Infinity };
  if (node.op_type !== "Clip") return undefined;
  const attr = (name: string) => node.attribute?.find((a) => a.name === name)?.f;
  const [, minIn, maxIn] = node.input ?? [];
  const lo = minIn ? index.constantScalar(minIn) : attr("min");
  const hi = maxIn ? index.constantScalar(maxIn) : attr("max");
  if ((minIn && lo === undefined) || (maxIn && hi === undefined)) return undefined;
  return { lo: lo ?? -Infinity, hi: hi ?? Infinity };
}

function intAttr(node: NodeProto, name: string, fallback: number): number {
  const a = node.attribute?.find((x) => x.name === name);
  return a?.i === undefined ? fallback : num(a.i);
}

/**
 * Input roles of an anchor op, or why it stays float. Weight axis = output channels: Conv 0, ConvTranspose 1 (only
 * for group 1), Gemm 0 when transB else 1, MatMul the last axis of a 2-D weight.
 */
export function anchorRoles(index: PlacementGraph, node: NodeProto): AnchorNode | string {
  const op = node.op_type!;
  const ins = node.input ?? [];
  const isConst = (t: string | undefined) => !!t && (index.isFloatConstant(t) || index.foldable(t));
  const floatConst = (slot: number) => (isConst(ins[slot]) ? slot : undefined);
  // A weight behind a chain that folds exactly (Slice, Transpose, …) is a weight like any other: the rewrite stores the
  // folded value quantized. One behind a chain that does not fold (Expand, Tile) is neither an activation nor a weight
  // slot: its DequantizeLinear goes at the weight itself (placement-weights.ts) and the op runs in float.
  const chain = (t: string | undefined) => !!t && index.isChainWeight(t) && !index.foldable(t);
  if (op === "Conv" || op === "ConvTranspose") {
    if (!isConst(ins[1])) return chain(ins[1]) ? "weight reached through a data-movement chain (quantized at the weight)" : "weight is not a float constant";
    const axis = op === "Conv" ? 0 : intAttr(node, "group", 1) === 1 ? 1 : undefined;
    const bias = ins[2] ? floatConst(2) : undefined;
    if (ins[2] && bias === undefined) return "bias is not a float constant";
    return { node, activations: [0], weight: { slot: 1, axis }, ...(bias !== undefined ? { bias } : {}) };
  }
  if (op === "Gemm") {
    const activations = isConst(ins[0]) || chain(ins[0]) ? [] : [0];
    if (!isConst(ins[1]) && !chain(ins[1])) activations.push(1);
    if (!activations.length) return "no activation input";
    const weight = isConst(ins[1]) ? { slot: 1, axis: intAttr(node, "transB", 0) ? 0 : 1 } : undefined;
    const alpha = node.attribute?.find((a) => a.name === "alpha")?.f ?? 1;
    const beta = node.attribute?.find((a) => a.name === "beta")?.f ?? 1;
    const c = ins[2] ? index.constantFloats(ins[2]) : undefined;
    // An int32 bias shares the matmul's scale only for a plain 1-D bias added once (alpha = beta = 1).
    const n = weight ? index.constantFloats(ins[1]!)!.dims[weight.axis] : undefined;
    const bias = weight && c && alpha === 1 && beta === 1 && c.dims.length === 1 && c.dims[0] === n ? 2 : undefined;
    return { node, activations, ...(weight ? { weight } : {}), ...(bias !== undefined ? { bias } : {}) };
  }
  // MatMul
  const activations = [0, 1].filter((s) => !isConst(ins[s]) && !chain(ins[s]));
  if (!activations.length) return "no activation input";
  if (isConst(ins[0]) || chain(ins[0])) return "constant left operand";
  if (activations.length === 1 && chain(ins[1])) return { node, activations };
  if (activations.length === 1) {
    const dims = index.constantFloats(ins[1]!)!.dims;
    return { node, activations, weight: { slot: 1, axis: dims.length === 2 ? 1 : undefined } };
  }
  return { node, activations };
}
