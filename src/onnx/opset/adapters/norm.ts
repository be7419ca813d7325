/**
 * Normalization ops.
 * - Before 14 a BatchNormalization with more than one output is in training mode: Y is normalized with the batch's
 *   own statistics (ONNX Runtime does so too), whether or not the extra outputs are read. 14 says so with
 *   training_mode=1 and has only Y, running_mean, running_var: saved_mean / saved_var are dropped when unread,
 *   refused otherwise.
 * - BatchNormalization 9 removes `spatial`. spatial=1 (the default) is what 9+ computes. spatial=0 normalizes per
 *   activation (scale/B/mean/var shaped [C, D1, …]), which 9+ cannot express; in inference mode it is rebuilt from
 *   broadcasting elementwise ops, (X − mean) · (scale / sqrt(var + ε)) + B; in training mode it is refused.
 * - GroupNormalization 21 takes scale/bias per channel instead of per group: each group's value is repeated C/G
 *   times (as new initializers when they are constant and C is known, else with Reshape/Expand/Reshape), and
 *   stash_type is set to the input type, since 18 computed in the input's precision.
 */
import type { NodeProto, TensorProto } from "../../types.ts";
import type { AdapterTable } from "../adapter.ts";
import { inputAt } from "../adapter.ts";
import { canMakeScalarLike, type CheckContext, type ConvertContext } from "../context.ts";
import { floatAttr, intAttr, removeAttr, setIntAttr } from "../attrs.ts";
import { makeTensor } from "../../tensor-data.ts";
import { DataType } from "../../../tensor/dtypes.ts";

/** Before opset 14, extra outputs put BatchNormalization in training mode. */
function trainingMode(node: NodeProto): boolean {
  return (node.output ?? []).slice(1).some(Boolean);
}

function bn9Check(node: NodeProto, ctx: CheckContext): string | undefined {
  if (intAttr(node, "spatial", 1) !== 0) return undefined;
  if (trainingMode(node)) return "spatial=0 in training mode (more than one output) has no equivalent from opset 9";
  return canMakeScalarLike(ctx, inputAt(node, 0)) ? undefined : "spatial=0 needs the input element type (unknown)";
}

function bn9(node: NodeProto, ctx: ConvertContext): string | undefined {
  const spatial = intAttr(node, "spatial", 1);
  removeAttr(node, "spatial");
  if (spatial !== 0) return undefined;
  const [x, scale, b, mean, variance] = node.input as [string, string, string, string, string];
  const eps = ctx.scalarLike(x, floatAttr(node, "epsilon") ?? 1e-5, "epsilon");
  const std = ctx.addBefore("Sqrt", [ctx.addBefore("Add", [variance, eps])]);
  const k = ctx.addBefore("Div", [scale, std]);
  const scaled = ctx.addBefore("Mul", [ctx.addBefore("Sub", [x, mean]), k]);
  node.op_type = "Add";
  node.input = [scaled, b];
  node.attribute = [];
  ctx.dropOutputs(node, 1);
  return "spatial=0 → (X − mean) · scale / sqrt(var + ε) + B";
}

function bn14Check(node: NodeProto, ctx: CheckContext): string | undefined {
  const read = (node.output ?? []).slice(3).filter((o) => o && ctx.index.isUsed(o));
  return read.length ? `its saved_mean/saved_var outputs (${read.join(", ")}) are read; BatchNormalization 14 has no such outputs` : undefined;
}

function bn14(node: NodeProto, ctx: ConvertContext): string | undefined {
  if (!trainingMode(node)) {
    ctx.dropOutputs(node, 1); // trailing "" outputs only
    return undefined;
  }
  ctx.dropOutputs(node, 3);
  setIntAttr(node, "training_mode", 1);
  return "training mode (extra outputs) made explicit: training_mode=1, saved_mean/saved_var dropped";
}

const FLOATS = new Set<number>([DataType.FLOAT, DataType.FLOAT16, DataType.BFLOAT16, DataType.DOUBLE]);

function gn21Check(node: NodeProto, ctx: CheckContext): string | undefined {
  const t = ctx.index.elemType(inputAt(node, 0));
  if (t === undefined || !FLOATS.has(t)) return "input element type unknown (needed for stash_type at opset 21)";
  return intAttr(node, "num_groups") === undefined ? "has no num_groups attribute" : undefined;
}

/** Repeat each of `values` `times` times (numpy.repeat) into a FLOAT tensor. */
function repeated(values: Float32Array, times: number): TensorProto {
  const out = new Float32Array(values.length * times);
  for (let i = 0; i < values.length; i++) out.fill(values[i]!, i * times, (i + 1) * times);
  return makeTensor("", DataType.FLOAT, [out.length], out);
}

function gn21(node: NodeProto, ctx: ConvertContext): string {
  const x = inputAt(node, 0);
  const groups = intAttr(node, "num_groups", 1);
  const type = ctx.index.elemType(x)!;
  if (type !== DataType.FLOAT) setIntAttr(node, "stash_type", type);
  const channels = ctx.index.dim(x, 1);
  const isFloat = (name: string) => ctx.index.constant(name)?.data_type === DataType.FLOAT;
  if (channels !== undefined && channels % groups === 0 && isFloat(inputAt(node, 1)) && isFloat(inputAt(node, 2))) {
    for (const i of [1, 2]) node.input![i] = ctx.constant(repeated(ctx.index.constFloats(inputAt(node, i))!, channels / groups), i === 1 ? "scale" : "bias");
    return `scale/bias repeated per channel (C=${channels}, G=${groups})`;
  }
  // Channel count only known at run time: repeat with Reshape([-1,1]) → Expand([1, C/G]) → Reshape([-1]).
  const c = ctx.addBefore("Shape", [x], { start: 1, end: 2 });
  const perGroup = ctx.addBefore("Div", [c, ctx.int64s([groups], undefined, "groups")]);
  const expandShape = ctx.addBefore("Concat", [ctx.int64s([1], undefined, "one"), perGroup], { axis: 0 });
  const col = ctx.int64s([-1, 1], undefined, "col");
  const flat = ctx.int64s([-1], undefined, "flat");
  for (const i of [1, 2]) {
    const r = ctx.addBefore("Reshape", [inputAt(node, i), col]);
    node.input![i] = ctx.addBefore("Reshape", [ctx.addBefore("Expand", [r, expandShape]), flat]);
  }
  return "scale/bias repeated per channel at run time";
}

/** BatchNormalization and GroupNormalization adapters. */
export const normAdapters: AdapterTable = {
  BatchNormalization: [
    {
      since: 9,
      check: bn9Check,
      apply: bn9,
      becomes: (n, t) => (intAttr(n, "spatial", 1) === 0 ? { op: "Add", reached: t } : undefined),
    },
    { since: 14, check: bn14Check, apply: bn14 },
  ],
  GroupNormalization: [{ since: 21, check: gn21Check, apply: gn21 }],
};
