/**
 * Upsample and Resize.
 * - Upsample 9: the `scales` attribute becomes an input.
 * - Upsample 10 is deprecated: it becomes Resize. Upsample (and Resize-10) map output to input coordinates
 *   "asymmetric"ally (x / scale) and pick the nearest pixel by truncation (ONNX Runtime: floor when upsampling, ceil
 *   when downsampling an axis), so Resize-11+ gets coordinate_transformation_mode="asymmetric" and nearest_mode
 *   "floor" / "ceil" — a Resize-10 whose scales mix up- and downsampling, or are not constant, cannot be expressed.
 * - Resize 11 adds the `roi` input before `scales`; 13 makes roi/scales optional and drops "tf_half_pixel_for_nn";
 *   empty constant roi / scales (with sizes) become omitted inputs, which 18 requires.
 */
import type { NodeProto } from "../../types.ts";
import type { AdapterTable } from "../adapter.ts";
import { inputAt, setInput, trimInputs } from "../adapter.ts";
import type { CheckContext, ConvertContext } from "../context.ts";
import { floatsAttr, removeAttr, setAttr, stringAttr } from "../attrs.ts";

function upsampleScalesToInput(node: NodeProto, ctx: ConvertContext): string | undefined {
  const scales = floatsAttr(node, "scales");
  removeAttr(node, "scales");
  if (!scales) return undefined;
  setInput(node, 1, ctx.floats(scales, undefined, "scales"));
  return "scales attribute → input";
}

/** nearest_mode reproducing the truncation of Upsample / Resize-10 for these scales, or a reason it cannot. */
function nearestModeFor(scales: Float32Array | undefined): { mode?: string; why?: string } {
  if (!scales) return { why: "its scales are not constant, so the nearest-pixel rounding of Resize-10 cannot be chosen" };
  const up = scales.some((s) => s > 1);
  const down = scales.some((s) => s < 1);
  if (up && down) return { why: "its scales both up- and downsample, which no single nearest_mode reproduces" };
  return { mode: down ? "ceil" : "floor" };
}

/** Resize-10 inputs [X, scales] → Resize-11+ [X, roi, scales] with v10 semantics. */
function toResize11(node: NodeProto, ctx: ConvertContext, mode: string | undefined): void {
  const scales = inputAt(node, 1);
  // roi only matters for tf_crop_and_resize; required (may be empty) at 11-12, optional from 13.
  const roi = ctx.target >= 13 ? "" : ctx.floats([], [0], "roi");
  node.input = [node.input![0]!, roi, scales];
  setAttr(node, "coordinate_transformation_mode", "asymmetric");
  if (mode) setAttr(node, "nearest_mode", mode);
}

function upsampleToResize(node: NodeProto, ctx: ConvertContext): string {
  node.op_type = "Resize";
  if (ctx.target < 11) return "deprecated Upsample → Resize-10";
  // Upsample requires scales >= 1: nearest pixels were always found by truncation (floor).
  const nearest = (stringAttr(node, "mode") ?? "nearest") === "nearest";
  toResize11(node, ctx, nearest ? "floor" : undefined);
  return "deprecated Upsample → Resize (asymmetric coordinates, floor rounding)";
}

function resize10Check(node: NodeProto, ctx: CheckContext): string | undefined {
  if ((stringAttr(node, "mode") ?? "nearest") !== "nearest") return undefined;
  return nearestModeFor(ctx.index.constFloats(inputAt(node, 1))).why;
}

function resize10To11(node: NodeProto, ctx: ConvertContext): string {
  const nearest = (stringAttr(node, "mode") ?? "nearest") === "nearest";
  const mode = nearest ? nearestModeFor(ctx.index.constFloats(inputAt(node, 1))).mode : undefined;
  toResize11(node, ctx, mode);
  return `roi input added; v10 semantics kept (asymmetric${mode ? `, nearest_mode=${mode}` : ""})`;
}

function resize13Check(node: NodeProto): string | undefined {
  return stringAttr(node, "coordinate_transformation_mode") === "tf_half_pixel_for_nn"
    ? 'coordinate_transformation_mode "tf_half_pixel_for_nn" was removed at opset 13'
    : undefined;
}

function resize13(node: NodeProto, ctx: ConvertContext): string | undefined {
  const empty = (name: string) => !!name && ctx.index.constant(name) !== undefined && (ctx.index.constFloats(name)?.length ?? 1) === 0;
  const changes: string[] = [];
  if (empty(inputAt(node, 1))) {
    node.input![1] = "";
    changes.push("empty roi omitted");
  }
  if (inputAt(node, 3) && empty(inputAt(node, 2))) {
    node.input![2] = "";
    changes.push("empty scales omitted (sizes given)");
  }
  trimInputs(node);
  return changes.length ? changes.join(", ") : undefined;
}

/** Upsample and Resize adapters. */
export const resizeAdapters: AdapterTable = {
  Upsample: [
    { since: 9, apply: upsampleScalesToInput },
    { since: 10, apply: upsampleToResize, becomes: (_n, t) => ({ op: "Resize", reached: t >= 11 ? 11 : 10 }) },
  ],
  Resize: [
    { since: 11, check: resize10Check, apply: resize10To11 },
    { since: 13, check: resize13Check, apply: resize13 },
  ],
};
