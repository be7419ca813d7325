/**
 * When a shared Concat scale costs too much: QLinearConcat only copies bytes when its inputs and output share one
 * scale, but that scale spans the widest input. An input whose range is far narrower then keeps only a few codes —
 * in ISNet, stage 1's output (range ≈ 25) shares a decoder Concat with an upsampled feature (range ≈ 500): 2 bits
 * left, 6 dB at the stage's output. Such Concats get one scale per input (QLinearConcat requantizes, a cheap copy).
 *
 * Ranges are only calibrated where a scale is set; an input whose value came through pass-through ops (MaxPool,
 * Resize, Reshape, …) or a Concat has the range of its source (a subset of it, or the union of the parts).
 */
import type { NodeProto, Range, RangeMap } from "../../../src/index.ts";
import { PASS_THROUGH_OPS, type Placement } from "./placement.ts";
import type { ActivationParams } from "./placement-params.ts";

/** Largest ratio of the shared range's span to an input's own span before the Concat gets one scale per input. */
export const MAX_CONCAT_SPAN_RATIO = 4;

/**
 * The calibrated range of a value, or the one it inherits through pass-through ops and Concats. `memo` holds what is
 * settled (null: none), so shared paths (a Concat of x with x, repeated many deep) cost one visit each.
 */
function inheritedRange(p: Placement, ranges: RangeMap, t: string, memo: Map<string, Range | null>, depth = 0): Range | undefined {
  const r = ranges.get(t);
  if (r || depth > 64) return r;
  const known = memo.get(t);
  if (known !== undefined) return known ?? undefined;
  let out: Range | undefined;
  const n = p.index.producer.get(t);
  if (n && (!n.domain || n.domain === "ai.onnx")) {
    if (PASS_THROUGH_OPS.has(n.op_type ?? "") && n.input?.[0]) out = inheritedRange(p, ranges, n.input[0], memo, depth + 1);
    else if (n.op_type === "Concat") {
      let min = Infinity, max = -Infinity;
      let all = true;
      for (const i of n.input ?? []) {
        const ri = i ? inheritedRange(p, ranges, i, memo, depth + 1) : undefined;
        if (!ri) {
          all = false;
          break;
        }
        min = Math.min(min, ri.min);
        max = Math.max(max, ri.max);
      }
      if (all) out = { min, max };
    }
  }
  memo.set(t, out ?? null);
  return out;
}

const span = (r: Range) => Math.max(r.max, 0) - Math.min(r.min, 0);

/**
 * Concats of a placement whose shared scale would cost an input more than log2(MAX_CONCAT_SPAN_RATIO) bits, each with
 * the range its output takes once it has its own scale (the union of its inputs'), to add to the range map.
 */
export function disparateConcats(p: Placement, ranges: RangeMap, groups: ReadonlyMap<string, ActivationParams>): { node: NodeProto; output: string; range: Range }[] {
  const out: { node: NodeProto; output: string; range: Range }[] = [];
  const memo = new Map<string, Range | null>();
  for (const n of p.index.graph.node ?? []) {
    const o = n.output?.[0];
    if (n.op_type !== "Concat" || (n.domain && n.domain !== "ai.onnx") || !o || !p.group.has(o)) continue;
    const ins = (n.input ?? []).filter(Boolean);
    if (ins.length < 2 || !ins.every((t) => p.group.get(t) === p.group.get(o))) continue;
    const own = ins.map((t) => inheritedRange(p, ranges, t, memo));
    if (own.some((r) => !r)) continue;
    const shared = groups.get(p.group.get(o)!);
    if (!shared) continue;
    const whole = { min: Math.min(...own.map((r) => r!.min)), max: Math.max(...own.map((r) => r!.max)) };
    const narrowest = Math.min(...own.map((r) => span(r!)));
    // The group's range (over every member, not only this Concat's inputs) is what sets the shared scale.
    if (narrowest > 0 && span(shared.range) / narrowest > MAX_CONCAT_SPAN_RATIO) out.push({ node: n, output: o, range: whole });
  }
  return out;
}
