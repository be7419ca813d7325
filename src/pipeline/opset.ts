/**
 * The output opset, decided before anything is inserted: the quantizers declare what their output needs given their
 * options (`requires`), the packers what the storage of the declared integer types needs (`minOpset`), and the kernel
 * converts the loaded model once, first, to the lowest opset that serves — so calibration, quantizers and the output
 * all see one graph, and a conversion that cannot be done is refused up front, naming the ops of the user's model.
 */
import { QuantError } from "../errors/errors.ts";
import type { QuantOptions } from "../kernel/options.ts";
import type { IntType, PackerPlugin, Plugin, PluginContext, QuantizerPlugin } from "../kernel/types.ts";
import type { Model } from "../onnx/model.ts";

/** One requirement on the output opset, and who has it. */
export interface OpsetNeed {
  plugin: string;
  opset: number;
  reason: string;
}

/** The kernel's opset decision for a run (shown in the summary and by `config --dry-run`). */
export interface OpsetDecision {
  /** Default-domain opset of the model as loaded (0 when it imports none). */
  from: number;
  /** Opset the output will have. */
  to: number;
  /** Highest declared need (0 when nothing was declared). */
  needed: number;
  /** The declared needs, highest first. */
  needs: OpsetNeed[];
}

/** Default-domain opset a model imports (0 when none). */
export function defaultOpset(model: Model): number {
  const o = model.proto.opset_import?.find((x) => !x.domain || x.domain === "ai.onnx");
  return Number(o?.version ?? 0);
}

/** "block-wise weights (block 32) need 21 [weight-only]; int4 storage needs 21 [int4]". */
export const describeNeeds = (needs: readonly OpsetNeed[]): string =>
  needs.map((n) => `${n.reason} ${/s$/.test(n.reason) ? "need" : "needs"} ${n.opset} [${n.plugin}]`).join("; ");

/**
 * Ask the chain what the output needs and decide the target opset. Throws `E_OPSET` when `options.opset` pins an
 * opset below the need; plugin hooks run through `call` (failures are attributed to the plugin).
 */
export async function decideOpset(
  model: Model,
  plugins: readonly Plugin[],
  options: QuantOptions,
  call: <T>(p: Plugin, fn: (ctx: PluginContext) => T | Promise<T>) => Promise<T>,
): Promise<OpsetDecision> {
  const from = defaultOpset(model);
  const needs: OpsetNeed[] = [];
  const types = new Set<IntType>();
  for (const q of plugins.filter((p): p is QuantizerPlugin => p.kind === "quantizer")) {
    if (!q.requires) continue;
    const r = await call(q, (c) => q.requires!(model, c));
    needs.push({ plugin: q.name, opset: r.opset, reason: r.reason ?? "quantization ops" });
    for (const t of r.types ?? []) types.add(t);
  }
  const packers = plugins.filter((p): p is PackerPlugin => p.kind === "packer");
  for (const t of types) {
    for (const p of packers) {
      if (!p.minOpset) continue;
      const v = await call(p, (c) => p.minOpset!(t, c));
      if (v === undefined) continue;
      if (v > 0) needs.push({ plugin: p.name, opset: v, reason: `${t} storage` });
      break;
    }
  }
  needs.sort((a, b) => b.opset - a.opset);
  const needed = needs[0]?.opset ?? 0;
  if (options.opset !== undefined && options.opset < needed)
    throw new QuantError("E_OPSET", `--opset ${options.opset} is too low: this output needs opset ${needed} (${describeNeeds(needs.filter((n) => n.opset > options.opset!))})`);
  return { from, to: options.opset ?? Math.max(from, needed), needed, needs };
}
