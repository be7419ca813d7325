/**
 * Exporter of the run's report as JSON: every quantizer decision (tensor, action, reason, type, granularity,
 * bytes, reconstruction SQNR), the opset, the calibrated ranges and, with an accuracy target, the search's decisions.
 */
import { defineExporter, type OptionKeys } from "../../src/index.ts";

/** Options of the `report` exporter. */
export interface ReportOptions {
  /** Output path (default `<output>.report.json`). */
  path?: string;
}

/** The options this plugin takes: a config giving any other key is refused (E_CONFIG). */
export const optionKeys: OptionKeys<ReportOptions> = { path: true };

/** `report` exporter factory. */
export default function report(opts: ReportOptions = {}) {
  return defineExporter({
    name: "report",
    options: { ...opts },
    export(state, ctx) {
      const base = ctx.options.output?.replace(/\.onnx$/, "") ?? "quant";
      const doc = {
        format: "quant-report",
        version: 1,
        input: state.original.path,
        output: ctx.options.output,
        tensors: state.entries,
        activationRanges: Object.fromEntries(state.ranges),
        // With an accuracy target: the search's result and every fallback decision.
        ...(state.accuracySearch ? { accuracySearch: state.accuracySearch } : {}),
      };
      return [{ path: opts.path ?? `${base}.report.json`, kind: "report", data: JSON.stringify(doc, null, 1) }];
    },
  });
}
