/** `validate --detailed`: isolated per-node sensitivity beside the cumulative per-layer error. */
import type { Model } from "../onnx/model.ts";
import { isolatedSensitivity } from "../accuracy/isolated.ts";
import type { FidelityOptions } from "../validate/fidelity.ts";
import type { PassPlugin, PluginContext } from "../kernel/types.ts";
import { defaultOptions } from "../kernel/options.ts";
import { builtinPlugins } from "./registry.ts";
import { reason } from "../errors/errors.ts";

/** One node's isolated sensitivity in the report (null: quantizing it alone changes nothing measurable). */
export interface SensitivityReport {
  node: string;
  opType: string;
  isolatedSqnrDb: number | null;
}

/**
 * Isolated sensitivity of the quantized nodes (on at most 2 samples of the validation data). The default chains fold
 * BatchNormalization into Conv before quantizing: when the quantized model has none left, the original's are folded
 * too, so each node is compared with the float weights it was quantized from. A model that cannot be probed gives
 * an empty list and a warning, never a failed validation.
 */
export async function detailedSensitivity(original: Model, quantized: Model, opts: FidelityOptions & { logger?: { warn(m: string): void } }): Promise<SensitivityReport[]> {
  const hasBn = (m: Model) => (m.proto.graph?.node ?? []).some((n) => n.op_type === "BatchNormalization" && !n.domain);
  try {
    // The built-in fold-batchnorm pass, as the default chains run it.
    const fold = hasBn(original) && !hasBn(quantized) ? ((await builtinPlugins.plugins["fold-batchnorm"]!.load()).default() as PassPlugin) : undefined;
    const quiet = { logger: { info() {}, warn() {}, debug() {}, log() {}, withTag() { return quiet.logger; } }, options: defaultOptions, progress() {}, at() {} } as unknown as PluginContext;
    const rows = await isolatedSensitivity(original, quantized, {
      data: opts.data, inputs: opts.inputs, sampleAxis: opts.sampleAxis, shapes: opts.shapes, seed: opts.seed ?? 0, images: opts.images as never,
      prepare: fold ? async (m) => void (await fold.run(m, quiet)) : undefined,
    });
    return rows.map((r) => ({ node: r.node, opType: r.opType, isolatedSqnrDb: Number.isFinite(r.isolatedSqnrDb) ? r.isolatedSqnrDb : null }));
  } catch (e) {
    opts.logger?.warn(`isolated per-node sensitivity not measured: ${reason(e)}`);
    return [];
  }
}

/** Human lines (worst 25 unless `all`). */
export function formatSensitivity(rows: readonly SensitivityReport[] | undefined, all = false): string[] {
  if (!rows?.length) return [];
  const show = all ? rows : rows.slice(0, 25);
  const lines = [`isolated per-node sensitivity (output SQNR with only that node quantized; ${show.length < rows.length ? `worst ${show.length} of ${rows.length}` : `${rows.length}, worst first`}):`];
  for (const r of show) lines.push(`  ${(r.isolatedSqnrDb === null ? "∞" : r.isolatedSqnrDb.toFixed(2)).padStart(7)} dB  ${r.node} (${r.opType})`);
  return lines;
}
