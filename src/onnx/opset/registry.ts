/**
 * All adapters, and the walk of one node across the version boundaries between two opsets.
 */
import type { NodeProto } from "../types.ts";
import type { Adapter, AdapterTable } from "./adapter.ts";
import { crossedVersions } from "./versions.ts";
import { axesAdapters } from "./adapters/axes.ts";
import { clipPadAdapters } from "./adapters/clip-pad.ts";
import { dropoutAdapters } from "./adapters/dropout.ts";
import { miscAdapters } from "./adapters/misc.ts";
import { normAdapters } from "./adapters/norm.ts";
import { resizeAdapters } from "./adapters/resize.ts";
import { sliceTopkAdapters } from "./adapters/slice-topk.ts";
import { softmaxAdapters } from "./adapters/softmax.ts";
import { splitAdapters } from "./adapters/split.ts";

const TABLES: AdapterTable[] = [
  axesAdapters, clipPadAdapters, dropoutAdapters, miscAdapters, normAdapters, resizeAdapters, sliceTopkAdapters, softmaxAdapters, splitAdapters,
];

/** Adapter per "Op@version". */
const ADAPTERS = new Map<string, Adapter>();
for (const table of TABLES) for (const [op, list] of Object.entries(table)) for (const a of list) ADAPTERS.set(`${op}@${a.since}`, a);

/** One step of a node's conversion: the op type at that point, the version crossed and its adapter (if any). */
export interface Step {
  op: string;
  version: number;
  adapter?: Adapter;
}

/**
 * The version boundaries a node crosses from opset `from` to `to`, in order, following op replacements
 * (Upsample → Resize …). `node` is the node before conversion; renames are predicted with `becomes`.
 */
export function conversionSteps(node: NodeProto, from: number, to: number): Step[] {
  const steps: Step[] = [];
  let op = node.op_type ?? "";
  let cur = from;
  for (;;) {
    const next = crossedVersions(op, cur, to)[0];
    if (next === undefined) return steps;
    const adapter = ADAPTERS.get(`${op}@${next}`);
    steps.push({ op, version: next, adapter });
    const becomes = adapter?.becomes?.(node, to);
    if (becomes) {
      op = becomes.op;
      cur = becomes.reached;
    } else cur = next;
  }
}
