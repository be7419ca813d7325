/**
 * Activation scale and zero point of each scale group of a placement, from calibrated ranges.
 *
 * The rules that make ONNX Runtime delete a Relu/Clip before a Q (and so fuse Conv → Q into QLinearConv):
 * - after Relu, the zero point is the lowest code (0 for uint8, -128 for int8): ORT's ReluQuantFusion checks exactly that;
 * - after Clip(lo, hi), the Q's saturation range `[s·(qmin − zp), s·(qmax − zp)]` must lie inside `[lo, hi]` up to
 *   float epsilon, computed in float32 as ORT's ClipQuantFusion does. When the calibrated range reaches `hi` (a
 *   saturating ReLU6), `hi` is mapped onto the last code exactly (scale `hi / (qmax − zp)`, e.g. 6/255): the mass of
 *   values sitting at `hi` then reconstructs without error.
 * Otherwise the range (widened to contain 0) gets the asymmetric parameters of {@link computeScaleZeroPoint}.
 */
import { computeScaleZeroPoint, qrange, type Range, type RangeMap } from "../../../src/index.ts";
import type { Placement } from "./placement.ts";

/** Parameters of one scale group. */
export interface ActivationParams {
  readonly scale: number;
  readonly zeroPoint: number;
  /** The range the parameters were computed from (after widening to 0 and clamping to Relu/Clip bounds). */
  readonly range: Range;
}

const EPSILON = 2 ** -23; // std::numeric_limits<float>::epsilon(), ORT's tolerance in ClipQuantFusion
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function nextDown(s: number): number {
  f32[0] = s;
  u32[0] -= 1;
  return f32[0];
}

/** True when ORT's ClipQuantFusion would delete a Clip(lo, hi) before a Q with these parameters. */
export function clipRemovable(scale: number, zeroPoint: number, qmin: number, qmax: number, lo: number, hi: number): boolean {
  const lower = Math.fround(Math.fround(scale) * (qmin - zeroPoint));
  const upper = Math.fround(Math.fround(scale) * (qmax - zeroPoint));
  return !(EPSILON < Math.fround(lo - lower)) && !(EPSILON < Math.fround(upper - hi));
}

/**
 * Scale and zero point of a group. `clamp` is set when every member is the output of a Relu/Clip that ORT should
 * delete; its bounds are the loosest over the members (a Clip's output never leaves them).
 */
export function groupParams(range: Range, type: "uint8" | "int8", clamp?: { lo: number; hi: number }): ActivationParams {
  const { qmin, qmax } = qrange(type, false);
  let min = Math.min(range.min, 0);
  let max = Math.max(range.max, 0);
  if (clamp) {
    min = Math.max(min, Math.min(clamp.lo, 0));
    max = Math.min(max, Math.max(clamp.hi, 0));
    // An all-zero tensor fits any grid: take the Clip's own range so the Clip still folds.
    if (min === max) {
      min = Number.isFinite(clamp.lo) ? Math.min(clamp.lo, 0) : 0;
      max = Number.isFinite(clamp.hi) ? Math.max(clamp.hi, 0) : 0;
    }
  }
  let scale: number;
  let zeroPoint: number;
  if (clamp && clamp.lo >= 0) {
    // Relu / Clip(0, hi): zero point at the lowest code, the whole grid on [0, max].
    zeroPoint = qmin;
    if (Number.isFinite(clamp.hi) && max >= clamp.hi) scale = Math.fround(clamp.hi / (qmax - qmin));
    else scale = max === 0 ? 1 : computeScaleZeroPoint(0, max, type, false).scale;
  } else {
    ({ scale, zeroPoint } = computeScaleZeroPoint(min, max, type, false));
    // The side of the range that does not set the scale saturates past the data, by up to a step: keep it inside
    // the Clip's bounds (a Clip saturating on that side would otherwise stay).
    if (clamp) {
      if (Number.isFinite(clamp.hi) && zeroPoint < qmax) scale = Math.min(scale, Math.fround(Math.max(clamp.hi, 0) / (qmax - zeroPoint)));
      if (Number.isFinite(clamp.lo) && zeroPoint > qmin) scale = Math.min(scale, Math.fround(Math.min(clamp.lo, 0) / (qmin - zeroPoint)));
      if (!(scale > 0)) scale = computeScaleZeroPoint(min, max, type, false).scale;
    }
  }
  // fp32 rounding of the scale may put the Q's end a hair past the Clip's bound: step the scale down.
  if (clamp) for (let i = 0; i < 8 && !clipRemovable(scale, zeroPoint, qmin, qmax, clamp.lo, clamp.hi); i++) scale = nextDown(scale);
  return { scale, zeroPoint, range: { min, max } };
}

/** Result of {@link placementParams}: parameters by group, and the quantized tensors that had no range. */
export interface PlacementParams {
  readonly byGroup: Map<string, ActivationParams>;
  readonly missing: string[];
}

/** Parameters for every group of a placement; a group with a member lacking a range is left out (reported in `missing`). */
export function placementParams(p: Placement, ranges: RangeMap, type: "uint8" | "int8"): PlacementParams {
  const acc = new Map<string, { min: number; max: number; lo: number; hi: number; clamped: boolean }>();
  const missing: string[] = [];
  const broken = new Set<string>();
  for (const t of p.needsRange) {
    const g = p.group.get(t)!;
    const r = ranges.get(t);
    if (!r || !Number.isFinite(r.min) || !Number.isFinite(r.max) || r.min > r.max) {
      missing.push(t);
      broken.add(g);
      continue;
    }
    const c = p.clamps.get(t);
    const a = acc.get(g) ?? { min: Infinity, max: -Infinity, lo: Infinity, hi: -Infinity, clamped: true };
    a.min = Math.min(a.min, r.min);
    a.max = Math.max(a.max, r.max);
    a.clamped &&= !!c;
    if (c) {
      a.lo = Math.min(a.lo, c.lo);
      a.hi = Math.max(a.hi, c.hi);
    }
    acc.set(g, a);
  }
  const byGroup = new Map<string, ActivationParams>();
  for (const [g, a] of acc) {
    if (broken.has(g)) continue;
    byGroup.set(g, groupParams({ min: a.min, max: a.max }, type, a.clamped ? { lo: a.lo, hi: a.hi } : undefined));
  }
  return { byGroup, missing };
}
