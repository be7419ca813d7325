/**
 * `axes` attribute → second input: Squeeze / Unsqueeze and ReduceSum at 13, the other Reduce* ops at 18.
 * An absent `axes` stays absent: "all dimensions" (Reduce*, with noop_with_empty_axes defaulting to 0) and
 * "every size-1 dimension" (Squeeze) mean the same with no axes input.
 */
import type { NodeProto } from "../../types.ts";
import type { Adapter, AdapterTable } from "../adapter.ts";
import { setInput } from "../adapter.ts";
import type { ConvertContext } from "../context.ts";
import { intsAttr, removeAttr } from "../attrs.ts";

function axesToInput(node: NodeProto, ctx: ConvertContext): string | undefined {
  const axes = intsAttr(node, "axes");
  removeAttr(node, "axes");
  // An empty list meant "all" for Reduce*/Squeeze; an omitted input means the same.
  if (!axes || (axes.length === 0 && node.op_type !== "Unsqueeze")) return undefined;
  setInput(node, 1, ctx.int64s(axes, undefined, "axes"));
  return "axes attribute → input";
}

const at = (since: number): Adapter => ({ since, apply: axesToInput });

/** Adapters moving `axes` from attribute to input. */
export const axesAdapters: AdapterTable = {
  Squeeze: [at(13)],
  Unsqueeze: [at(13)],
  ReduceSum: [at(13)],
  ReduceMean: [at(18)],
  ReduceMax: [at(18)],
  ReduceMin: [at(18)],
  ReduceProd: [at(18)],
  ReduceL1: [at(18)],
  ReduceL2: [at(18)],
  ReduceLogSum: [at(18)],
  ReduceLogSumExp: [at(18)],
  ReduceSumSquare: [at(18)],
};
