/**
 * Split: the `split` attribute becomes an input at 13; at 18 a Split without `split` must say `num_outputs`
 * (before 18 the output count implied an equal split, which had to divide the axis exactly, so num_outputs = output
 * count reproduces it).
 */
import type { NodeProto } from "../../types.ts";
import type { AdapterTable } from "../adapter.ts";
import { inputAt, setInput } from "../adapter.ts";
import type { ConvertContext } from "../context.ts";
import { getAttr, intsAttr, removeAttr, setIntAttr } from "../attrs.ts";

function splitToInput(node: NodeProto, ctx: ConvertContext): string | undefined {
  const split = intsAttr(node, "split");
  removeAttr(node, "split");
  if (!split || split.length === 0) return undefined;
  setInput(node, 1, ctx.int64s(split, undefined, "split"));
  return "split attribute → input";
}

function numOutputs(node: NodeProto): string | undefined {
  if (inputAt(node, 1) || getAttr(node, "num_outputs")) return undefined;
  setIntAttr(node, "num_outputs", node.output?.length ?? 1);
  return `num_outputs=${node.output?.length ?? 1} made explicit`;
}

/** Split adapters. */
export const splitAdapters: AdapterTable = {
  Split: [
    { since: 13, apply: splitToInput },
    { since: 18, apply: numOutputs },
  ],
};
