/**
 * Weights read through data-movement chains. Exporters often leave ops between a weight and the op that uses it:
 * an LSTMCell's packed weights are sliced per gate, a Linear's weight is transposed, an embedding table is reshaped.
 * Those ops only move or select values, so a DequantizeLinear at the weight itself (before the chain) stores it as
 * integers. Which axis of the weight is the consumer's output channel follows from what each step does: this module
 * infers each step's output shape and maps an output axis back to the input axis it comes from.
 *
 * "Comes from" is exact: input axis `a` maps to output axis `b` when the input index along `a` is a function of the
 * output index along `b` alone. Per-channel scales on `a` then give every output channel along `b` one scale, which
 * is what per-channel quantization of the consumer means (Slice, Gather and Concat keep a subset of channels, a
 * Reshape that merges `a` with inner axes keeps it as a coarser group; a Reshape that splits it does not).
 */
import { isFloatWeightType } from "../tensor/dtypes.ts";
import type { NodeProto } from "./types.ts";
import { num } from "./types.ts";

/** Ops that move, select or repeat values without computing new ones. */
export const DATA_MOVEMENT_OPS: ReadonlySet<string> = new Set([
  "Identity", "Cast", "Transpose", "Slice", "Split", "Gather", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Concat", "Expand", "Tile",
]);


/** One data-movement node a weight passes through on its way to a consumer. */
export interface ChainStep {
  readonly node: NodeProto;
  /** Input slot of `node` the weight's value enters by. */
  readonly input: number;
  /** Output slot followed (Split has several). */
  readonly output: number;
  /** Shape entering the step (-1 for an unknown dimension), undefined when even the rank is unknown. */
  readonly inShape?: readonly number[];
  /** Shape leaving the step. */
  readonly outShape?: readonly number[];
}

/** What shape inference needs from the graph: constant integer inputs and known shapes of other inputs. */
export interface ChainContext {
  /** Values of a constant integer tensor (Slice starts, Reshape shape, …), undefined when not constant. */
  ints(name: string): number[] | undefined;
  /** Shape of any value (-1 unknown dims), undefined when unknown. */
  shape(name: string): number[] | undefined;
  /** Default-domain opset of the graph (attribute vs input forms). */
  opset: number;
}

function attr(node: NodeProto, name: string) {
  return node.attribute?.find((a) => a.name === name);
}

/** An INT attribute of `node`, or `fallback`. */
export function intAttr(node: NodeProto, name: string, fallback: number): number {
  const a = attr(node, name);
  return a?.i !== undefined ? num(a.i) : fallback;
}

function intsAttr(node: NodeProto, name: string): number[] | undefined {
  const a = attr(node, name);
  return a?.ints?.length ? a.ints.map((v) => num(v)) : undefined;
}

/** Integer list given by attribute (old opsets) or by input `slot`; null when given but not constant. */
function listOf(node: NodeProto, name: string, slot: number, ctx: ChainContext): number[] | undefined | null {
  const a = intsAttr(node, name);
  if (a) return a;
  const input = node.input?.[slot];
  if (!input) return undefined;
  return ctx.ints(input) ?? null;
}

/** A hostile attribute (an axis out of range, a perm that is no permutation): the step is not followed. */
class InvalidStep extends Error {}

/** Axis in [0, rank), or InvalidStep. */
const norm = (axis: number, rank: number) => {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw new InvalidStep();
  return a;
};

/** The Transpose perm (default: reversed), or InvalidStep when it is not a permutation of `rank` axes. */
function permOf(node: NodeProto, rank: number): number[] {
  const perm = intsAttr(node, "perm") ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
  const seen = new Set(perm);
  if (perm.length !== rank || seen.size !== rank || perm.some((p) => !Number.isInteger(p) || p < 0 || p >= rank)) throw new InvalidStep();
  return perm;
}

/** Run `f`; undefined when the step's attributes are invalid. */
function guarded<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch (e) {
    if (e instanceof InvalidStep) return undefined;
    throw e;
  }
}
const known = (s: readonly number[]) => s.every((d) => d >= 0);
/** Product of dims `from`..`to` (exclusive). */
export const product = (s: readonly number[], from = 0, to = s.length) => {
  let p = 1;
  for (let i = from; i < to; i++) p *= s[i]!;
  return p;
};

/**
 * Can the value entering `node` at `input` be followed as a weight (the node only moves it)? Gather only with
 * constant indices (with run-time indices it is an embedding lookup, a consumer); Cast only to a float type.
 */
export function movesData(node: NodeProto, input: number, ctx: ChainContext): boolean {
  if (node.domain && node.domain !== "ai.onnx") return false;
  const op = node.op_type ?? "";
  if (!DATA_MOVEMENT_OPS.has(op)) return false;
  if (op === "Concat") return true;
  if (input !== 0) return false;
  if (op === "Cast") return isFloatWeightType(intAttr(node, "to", 0)); // a float Cast still carries a weight
  if (op === "Gather") return !!node.input?.[1] && ctx.ints(node.input[1]) !== undefined;
  return true;
}

/** Shape of output `output` of a data-movement step, given the input shape; undefined when not inferable (or invalid). */
export function stepOutputShape(node: NodeProto, input: number, output: number, inShape: readonly number[] | undefined, ctx: ChainContext): number[] | undefined {
  if (!inShape) return undefined;
  const out = guarded(() => outputShape(node, input, output, inShape, ctx));
  return out && out.every((d) => Number.isInteger(d) && d >= -1) ? out : undefined;
}

function outputShape(node: NodeProto, input: number, output: number, inShape: readonly number[], ctx: ChainContext): number[] | undefined {
  const rank = inShape.length;
  const op = node.op_type ?? "";
  switch (op) {
    case "Identity":
    case "Cast":
      return [...inShape];
    case "Transpose":
      return permOf(node, rank).map((p) => inShape[p]!);
    case "Slice":
      return sliceShape(node, inShape, ctx);
    case "Split": {
      const axis = norm(intAttr(node, "axis", 0), rank);
      const dim = inShape[axis]!;
      const n = node.output?.length ?? 1;
      let split = listOf(node, "split", 1, ctx);
      if (split === null) return undefined;
      if (!split) {
        if (dim < 0) return undefined;
        const size = Math.ceil(dim / n); // opset 18: the last output takes the remainder
        split = Array.from({ length: n }, (_, i) => Math.max(0, Math.min(size, dim - i * size)));
      }
      if (split.some((d) => d < 0) || (dim >= 0 && split.reduce((a, d) => a + d, 0) !== dim) || split.length !== n) return undefined;
      const out = [...inShape];
      out[axis] = split[output] ?? -1;
      return out;
    }
    case "Gather": {
      const axis = norm(intAttr(node, "axis", 0), rank);
      const idx = ctx.shape(node.input![1]!);
      return idx ? [...inShape.slice(0, axis), ...idx, ...inShape.slice(axis + 1)] : undefined;
    }
    case "Reshape": {
      const shape = listOf(node, "shape", 1, ctx);
      if (!shape) return undefined;
      const allowZero = intAttr(node, "allowzero", 0) === 1;
      if (shape.some((d) => d < -1) || shape.filter((d) => d === -1).length > 1) return undefined;
      const out = shape.map((d, i) => (d === 0 && !allowZero ? (inShape[i] ?? -1) : d));
      const free = out.indexOf(-1);
      if (free >= 0) {
        const rest = product(out.filter((_, i) => i !== free));
        out[free] = known(inShape) && rest > 0 && out.filter((d) => d === -1).length === 1 ? product(inShape) / rest : -1;
      }
      return out;
    }
    case "Flatten": {
      const axis = norm(intAttr(node, "axis", 1), rank);
      const a = product(inShape, 0, axis), b = product(inShape, axis);
      return [inShape.slice(0, axis).some((d) => d < 0) ? -1 : a, inShape.slice(axis).some((d) => d < 0) ? -1 : b];
    }
    case "Squeeze": {
      const axes = listOf(node, "axes", 1, ctx);
      if (axes === null) return undefined;
      if (!axes) return known(inShape) ? inShape.filter((d) => d !== 1) : undefined;
      const drop = new Set(axes.map((a) => norm(a, rank)));
      if ([...drop].some((a) => inShape[a]! > 1)) return undefined;
      return inShape.filter((_, i) => !drop.has(i));
    }
    case "Unsqueeze": {
      const axes = listOf(node, "axes", 1, ctx);
      if (!axes) return undefined;
      const outRank = rank + axes.length;
      const add = new Set(axes.map((a) => norm(a, outRank)));
      if (add.size !== axes.length) return undefined;
      const out: number[] = [];
      for (let i = 0, j = 0; i < outRank; i++) out.push(add.has(i) ? 1 : inShape[j++]!);
      return out;
    }
    case "Concat": {
      const axis = norm(intAttr(node, "axis", 0), rank);
      let total = 0;
      for (const [i, name] of (node.input ?? []).entries()) {
        const s = i === input ? inShape : name ? ctx.shape(name) : undefined;
        // Known shapes must agree off the axis (a hostile Concat would make the folded value read out of bounds).
        if (s && (s.length !== rank || s.some((d, k) => k !== axis && d >= 0 && inShape[k]! >= 0 && d !== inShape[k]))) return undefined;
        const d = s?.[axis] ?? -1;
        total = total < 0 || d < 0 ? -1 : total + d;
      }
      const out = [...inShape];
      out[axis] = total;
      return out;
    }
    case "Expand": {
      const shape = listOf(node, "shape", 1, ctx);
      if (!shape) return undefined;
      const outRank = Math.max(rank, shape.length);
      const out: number[] = [];
      for (let i = 0; i < outRank; i++) {
        const a = inShape[i - (outRank - rank)] ?? 1, b = shape[i - (outRank - shape.length)] ?? 1;
        out.push(a === 1 ? b : a);
      }
      return out;
    }
    case "Tile": {
      const reps = listOf(node, "repeats", 1, ctx);
      if (!reps || reps.length !== rank) return undefined;
      return inShape.map((d, i) => (d < 0 ? -1 : d * reps[i]!));
    }
    default:
      return undefined;
  }
}

/** Per-axis start, step and length of a Slice (every axis; unsliced ones start 0 step 1); undefined when not constant. */
export function sliceParams(node: NodeProto, inShape: readonly number[], ctx: ChainContext): { start: number[]; step: number[]; len: number[] } | undefined {
  const rank = inShape.length;
  const old = ctx.opset < 10 || !!attr(node, "starts");
  const starts = old ? intsAttr(node, "starts") : node.input?.[1] ? ctx.ints(node.input[1]) : undefined;
  const ends = old ? intsAttr(node, "ends") : node.input?.[2] ? ctx.ints(node.input[2]) : undefined;
  const axesIn = old ? intsAttr(node, "axes") : node.input?.[3] ? ctx.ints(node.input[3]) : undefined;
  const stepsIn = old ? undefined : node.input?.[4] ? ctx.ints(node.input[4]) : undefined;
  if (!starts || !ends || (!old && ((node.input?.[3] && !axesIn) || (node.input?.[4] && !stepsIn)))) return undefined;
  const start = inShape.map(() => 0), step = inShape.map(() => 1), len = [...inShape];
  const axes = axesIn ?? starts.map((_, i) => i);
  for (let k = 0; k < axes.length; k++) {
    const a = norm(axes[k]!, rank);
    const dim = inShape[a]!;
    if (dim < 0) return undefined;
    const st = stepsIn?.[k] ?? 1;
    if (st === 0) return undefined;
    let b = starts[k]!, e = ends[k]!;
    if (b < 0) b += dim;
    if (e < 0) e += dim;
    if (st > 0) {
      b = Math.min(Math.max(b, 0), dim);
      e = Math.min(Math.max(e, 0), dim);
    } else {
      b = Math.min(Math.max(b, 0), dim - 1);
      e = Math.min(Math.max(e, -1), dim - 1);
    }
    start[a] = b;
    step[a] = st;
    len[a] = Math.max(0, Math.ceil((e - b) / st));
  }
  return { start, step, len };
}

function sliceShape(node: NodeProto, inShape: readonly number[], ctx: ChainContext): number[] | undefined {
  const p = sliceParams(node, inShape, ctx);
  if (p) return p.len;
  // Bounds not constant: the sliced axes are unknown (all of them when the axes are unknown too).
  const old = ctx.opset < 10 || !!attr(node, "starts");
  const axesIn = old ? intsAttr(node, "axes") : node.input?.[3] ? ctx.ints(node.input[3]) : undefined;
  const out = [...inShape];
  for (const a of axesIn ?? inShape.map((_, i) => i)) out[norm(a, inShape.length)] = -1;
  return out;
}

/**
 * The input axis of `step` whose index is a function of the index along output axis `axis` alone, or undefined
 * (the step mixes that axis with others, or creates it).
 */
export function mapAxisBack(step: ChainStep, axis: number): number | undefined {
  const a = guarded(() => axisBack(step, axis));
  return a !== undefined && step.inShape && a >= 0 && a < step.inShape.length ? a : undefined;
}

function axisBack(step: ChainStep, axis: number): number | undefined {
  const { node, inShape, outShape } = step;
  const op = node.op_type ?? "";
  switch (op) {
    case "Identity":
    case "Cast":
    case "Slice":
    case "Split":
    case "Concat":
    case "Tile":
      return inShape && axis < inShape.length ? axis : undefined;
    case "Transpose":
      return inShape ? permOf(node, inShape.length)[axis] : undefined;
    case "Gather": {
      if (!inShape || !outShape) return undefined;
      const gAxis = norm(intAttr(node, "axis", 0), inShape.length);
      const idxRank = outShape.length - inShape.length + 1;
      if (axis < gAxis) return axis;
      if (axis >= gAxis + idxRank) return axis - idxRank + 1;
      return idxRank === 1 ? gAxis : undefined; // the indices' own axes: only a 1-D index list keeps one
    }
    case "Expand": {
      if (!inShape || !outShape) return undefined;
      const a = axis - (outShape.length - inShape.length);
      return a >= 0 ? a : undefined;
    }
    case "Squeeze":
    case "Unsqueeze":
      // Size-1 axes come and go; the others keep their order (no need to know every size).
      if (inShape && outShape && known(inShape) && known(outShape)) return reshapeAxisBack(inShape, outShape, axis);
      return inShape && outShape ? unitAxisBack(inShape, outShape, axis) : undefined;
    case "Reshape":
    case "Flatten":
      return inShape && outShape ? reshapeAxisBack(inShape, outShape, axis) : undefined;
    default:
      return undefined;
  }
}

/**
 * For a row-major reshape `inShape` → `outShape`: the input axis `a` whose index depends only on the index along
 * output axis `b`. With strides T (input) and S (output), the input index is floor(l / T_a) mod in[a] for the flat
 * index l = … + j·S_b + r; it depends on j alone when S_b divides T_a and T_a·in[a] divides S_b·out[b].
 * Prefers an axis of the same size (a kept axis), then the longest (finest groups).
 */
export function reshapeAxisBack(inShape: readonly number[], outShape: readonly number[], b: number): number | undefined {
  if (!known(inShape) || !known(outShape) || b >= outShape.length || product(inShape) !== product(outShape)) return undefined;
  const sB = product(outShape, b + 1);
  const spanB = sB * outShape[b]!;
  let best: number | undefined;
  for (let a = 0; a < inShape.length; a++) {
    const tA = product(inShape, a + 1);
    if (inShape[a]! <= 1 || sB === 0 || tA % sB !== 0 || spanB % (tA * inShape[a]!) !== 0) continue;
    if (inShape[a] === outShape[b]) return a;
    if (best === undefined || inShape[a]! > inShape[best]!) best = a; // the finest groups
  }
  return best;
}

/** Squeeze/Unsqueeze with unknown sizes: match the axes that are not 1 in order (undefined for an inserted 1). */
function unitAxisBack(inShape: readonly number[], outShape: readonly number[], b: number): number | undefined {
  if (outShape[b] === 1) return undefined;
  let k = 0;
  for (let i = 0; i < b; i++) if (outShape[i] !== 1) k++;
  for (let a = 0, seen = 0; a < inShape.length; a++) {
    if (inShape[a] === 1) continue;
    if (seen++ === k) return a;
  }
  return undefined;
}

/** Trace an axis of the value at the end of `steps` back to the weight's own axis; undefined when it cannot be. */
export function traceAxisBack(steps: readonly ChainStep[], axis: number | undefined): number | undefined {
  let a = axis;
  for (let i = steps.length - 1; i >= 0 && a !== undefined; i--) a = mapAxisBack(steps[i]!, a);
  return a;
}

/**
 * Write the default `perm` (reversed axes) on the Transposes of `steps` that leave it implicit. Same meaning, but
 * onnxruntime-node 1.30 aborts the process (a failed assertion, not an error) on a per-axis DequantizeLinear feeding
 * a Transpose without `perm`.
 */
export function explicitPerms(steps: readonly ChainStep[]): void {
  for (const s of steps) {
    const n = s.node;
    if (n.op_type !== "Transpose" || (n.domain && n.domain !== "ai.onnx") || !s.inShape || intsAttr(n, "perm")) continue;
    const rank = s.inShape.length;
    (n.attribute ??= []).push({ name: "perm", type: 7, ints: Array.from({ length: rank }, (_, i) => rank - 1 - i) });
  }
}
