/**
 * Softmax / LogSoftmax / Hardmax to version 13. Before 13 the input is coerced to 2-D at `axis` (default 1),
 * [d0·…·d(axis-1), d(axis)·…·d(n-1)], and the op runs over the second dimension; from 13 it runs over the single
 * axis (default -1). Both agree when `axis` is the last dimension; otherwise the old semantics are rebuilt as
 * Flatten(axis) → op(axis=1) → Reshape(Shape(input)), the Reshape taking over the original output name.
 */
import type { NodeProto } from "../../types.ts";
import type { Adapter, AdapterTable } from "../adapter.ts";
import type { ConvertContext } from "../context.ts";
import { intAttr, setIntAttr } from "../attrs.ts";

function toV13(node: NodeProto, ctx: ConvertContext): string {
  const x = node.input![0]!;
  const axis = intAttr(node, "axis", 1);
  const rank = ctx.index.rank(x);
  const k = rank !== undefined && axis < 0 ? axis + rank : axis;
  // axis -1 is the last dimension whatever the rank.
  if (axis === -1 || (rank !== undefined && k === rank - 1)) {
    // Same computation: only the default changed, so make the axis explicit.
    setIntAttr(node, "axis", -1);
    return "axis made explicit (last dimension)";
  }
  const shape = ctx.addBefore("Shape", [x]);
  const flat = ctx.addBefore("Flatten", [x], { axis });
  node.input![0] = flat;
  setIntAttr(node, "axis", 1);
  const out = node.output![0]!;
  const inner = ctx.fresh("2d");
  node.output![0] = inner;
  // allowzero (opset 14) keeps a 0-sized dimension of the original shape instead of copying one from the 2-D tensor.
  const reshape = ctx.makeNode("Reshape", [inner, shape], ctx.target >= 14 ? { allowzero: 1 } : {}, [out]);
  ctx.after.push(reshape);
  return `coerce-to-2D semantics kept: Flatten(axis=${axis}) → ${node.op_type}(axis=1) → Reshape`;
}

const v13: Adapter = { since: 13, apply: toV13 };

/** Adapters of the softmax family. */
export const softmaxAdapters: AdapterTable = {
  Softmax: [v13],
  LogSoftmax: [v13],
  Hardmax: [v13],
};
