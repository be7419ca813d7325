/**
 * Attributes that became inputs at opset 11 and need constants of the data's element type:
 * - Clip: `min` / `max` (defaults ±FLT_MAX) → optional scalar inputs. The defaults are written out, because Clip-6
 *   clamps ±inf to ±FLT_MAX while an omitted input at 11 clamps nothing.
 * - Pad: `pads` → int64 input, `value` → optional scalar input `constant_value` (omitted when 0); `mode` stays.
 */
import type { NodeProto } from "../../types.ts";
import type { AdapterTable } from "../adapter.ts";
import { setInput } from "../adapter.ts";
import { canMakeScalarLike, type CheckContext, type ConvertContext } from "../context.ts";
import { floatAttr, getAttr, intsAttr, removeAttr } from "../attrs.ts";

const FLT_MAX = 3.4028234663852886e38;

function typeCheck(node: NodeProto, ctx: CheckContext): string | undefined {
  const x = node.input?.[0] ?? "";
  return canMakeScalarLike(ctx, x) ? undefined : `element type of input "${x}" is unknown (needed for its scalar inputs at opset 11; add value_info or convert to opset >= 15)`;
}

function clipToInputs(node: NodeProto, ctx: ConvertContext): string {
  const x = node.input![0]!;
  const min = floatAttr(node, "min") ?? -FLT_MAX;
  const max = floatAttr(node, "max") ?? FLT_MAX;
  removeAttr(node, "min");
  removeAttr(node, "max");
  setInput(node, 1, ctx.scalarLike(x, min, "min"));
  setInput(node, 2, ctx.scalarLike(x, max, "max"));
  return `min/max attributes → inputs (${min}, ${max})`;
}

function padCheck(node: NodeProto, ctx: CheckContext): string | undefined {
  if (!getAttr(node, "pads")) return "has no pads attribute";
  const value = floatAttr(node, "value");
  if (value !== undefined && !Object.is(value, 0)) return typeCheck(node, ctx);
  return undefined;
}

function padToInputs(node: NodeProto, ctx: ConvertContext): string {
  const pads = intsAttr(node, "pads") ?? [];
  const value = floatAttr(node, "value");
  removeAttr(node, "pads");
  removeAttr(node, "value");
  setInput(node, 1, ctx.int64s(pads, undefined, "pads"));
  // +0 is the default constant_value; -0 (or anything else) must be written out.
  if (value !== undefined && !Object.is(value, 0)) setInput(node, 2, ctx.scalarLike(node.input![0]!, value, "pad_value"));
  return "pads/value attributes → inputs";
}

/** Clip and Pad adapters. */
export const clipPadAdapters: AdapterTable = {
  Clip: [{ since: 11, check: typeCheck, apply: clipToInputs }],
  Pad: [{ since: 11, check: padCheck, apply: padToInputs }],
};
