/**
 * Attributes that became int64 inputs at opset 10: Slice `starts` / `ends` / `axes` (same clamping semantics; `steps`
 * is new and defaults to 1) and TopK `k` (a 1-D tensor of one element).
 */
import type { NodeProto } from "../../types.ts";
import type { AdapterTable } from "../adapter.ts";
import { setInput } from "../adapter.ts";
import type { ConvertContext } from "../context.ts";
import { getAttr, intAttr, intsAttr, removeAttr } from "../attrs.ts";

function sliceToInputs(node: NodeProto, ctx: ConvertContext): string {
  const starts = intsAttr(node, "starts") ?? [];
  const ends = intsAttr(node, "ends") ?? [];
  const axes = intsAttr(node, "axes");
  for (const a of ["starts", "ends", "axes"]) removeAttr(node, a);
  setInput(node, 1, ctx.int64s(starts, undefined, "starts"));
  setInput(node, 2, ctx.int64s(ends, undefined, "ends"));
  if (axes) setInput(node, 3, ctx.int64s(axes, undefined, "axes"));
  return "starts/ends/axes attributes → inputs";
}

function topkToInput(node: NodeProto, ctx: ConvertContext): string {
  const k = intAttr(node, "k", 0);
  removeAttr(node, "k");
  setInput(node, 1, ctx.int64s([k], [1], "k"));
  return `k=${k} attribute → input`;
}

/** Slice and TopK adapters. */
export const sliceTopkAdapters: AdapterTable = {
  Slice: [{ since: 10, check: (n) => (getAttr(n, "starts") && getAttr(n, "ends") ? undefined : "has no starts/ends attributes"), apply: sliceToInputs }],
  TopK: [{ since: 10, check: (n) => (getAttr(n, "k") ? undefined : "has no k attribute"), apply: topkToInput }],
};
