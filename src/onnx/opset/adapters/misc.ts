/**
 * Smaller one-off changes:
 * - Scatter is deprecated at 11 in favour of ScatterElements (same inputs, same `axis`).
 * - RoiAlign 16 adds coordinate_transformation_mode defaulting to "half_pixel"; the old behaviour is
 *   "output_half_pixel", so it is written out.
 * - DFT 20 moves `axis` (default 1) to an optional scalar input whose default is -2: always written out.
 * - GridSample 20 renames modes "bilinear" → "linear" and "bicubic" → "cubic".
 * - Scan 9 drops Scan-8's batch axis and sequence_lens input: not converted.
 */
import type { NodeProto } from "../../types.ts";
import type { AdapterTable } from "../adapter.ts";
import { inputAt, setInput } from "../adapter.ts";
import type { ConvertContext } from "../context.ts";
import { getAttr, intAttr, removeAttr, setAttr, stringAttr } from "../attrs.ts";

function scatterToElements(node: NodeProto): string {
  node.op_type = "ScatterElements";
  return "deprecated Scatter → ScatterElements";
}

function roiAlign16(node: NodeProto): string | undefined {
  if (getAttr(node, "coordinate_transformation_mode")) return undefined;
  setAttr(node, "coordinate_transformation_mode", "output_half_pixel");
  return 'coordinate_transformation_mode="output_half_pixel" (the pre-16 behaviour) made explicit';
}

function dftAxisToInput(node: NodeProto, ctx: ConvertContext): string {
  const axis = intAttr(node, "axis", 1);
  removeAttr(node, "axis");
  setInput(node, 1, inputAt(node, 1));
  setInput(node, 2, ctx.int64s([axis], [], "axis"));
  return `axis=${axis} attribute → input`;
}

const GRID_MODES: Record<string, string> = { bilinear: "linear", bicubic: "cubic" };

function gridSample20(node: NodeProto): string | undefined {
  const mode = stringAttr(node, "mode");
  const renamed = mode && GRID_MODES[mode];
  if (!renamed) return undefined;
  setAttr(node, "mode", renamed);
  return `mode "${mode}" → "${renamed}"`;
}

/** Scatter, RoiAlign, DFT, GridSample and Scan adapters. */
export const miscAdapters: AdapterTable = {
  Scatter: [{ since: 11, apply: scatterToElements, becomes: () => ({ op: "ScatterElements", reached: 11 }) }],
  RoiAlign: [{ since: 16, apply: roiAlign16 }],
  DFT: [{ since: 20, apply: dftAxisToInput }],
  GridSample: [{ since: 20, apply: gridSample20 }],
  Scan: [{ since: 9, check: () => "Scan-8 (batch axis, sequence_lens input) has no conversion to Scan-9", apply: () => undefined }],
};
