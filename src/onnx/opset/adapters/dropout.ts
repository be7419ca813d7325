/**
 * Dropout: at 10 the optional `mask` output turns from T to bool, so a mask that something reads cannot be carried
 * over (an unread one is dropped); at 12 `ratio` moves from attribute to input. In inference Dropout is the identity
 * whatever the ratio, but the ratio is kept so the model says what it said.
 */
import type { NodeProto } from "../../types.ts";
import type { AdapterTable } from "../adapter.ts";
import { setInput } from "../adapter.ts";
import type { CheckContext, ConvertContext } from "../context.ts";
import { floatAttr, removeAttr } from "../attrs.ts";

function maskCheck(node: NodeProto, ctx: CheckContext): string | undefined {
  const mask = node.output?.[1];
  return mask && ctx.index.isUsed(mask) ? `its mask output "${mask}" is read, and its type changes from T to bool at opset 10` : undefined;
}

function maskToBool(node: NodeProto, ctx: ConvertContext): string | undefined {
  if ((node.output?.length ?? 0) < 2) return undefined;
  ctx.dropOutputs(node, 1);
  return "unread mask output dropped";
}

function ratioToInput(node: NodeProto, ctx: ConvertContext): string | undefined {
  const ratio = floatAttr(node, "ratio");
  removeAttr(node, "ratio");
  if (ratio === undefined) return undefined;
  setInput(node, 1, ctx.floats([ratio], [], "ratio"));
  return "ratio attribute → input";
}

/** Dropout adapters. */
export const dropoutAdapters: AdapterTable = {
  Dropout: [
    { since: 10, check: maskCheck, apply: maskToBool },
    { since: 12, apply: ratioToInput },
  ],
};
