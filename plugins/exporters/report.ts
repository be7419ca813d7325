/**
 * Exporter of the run's report. As JSON (default `<output>.report.json`): every quantizer decision (tensor, action,
 * reason, type, granularity, bytes, reconstruction SQNR), the opset, the calibrated ranges and, with an accuracy
 * target, the search's decisions. With a `.html` path: the self-contained HTML report (accuracy against the float
 * model on the run's data, per-layer error, ranges of the worst tensors, size breakdown, fallback decisions) — what
 * `--report` on quantize and calibrate writes.
 */
import { basename } from "node:path";
import { DEFAULT_MIN_SQNR_DB, buildHtmlReport, defineExporter, type OptionKeys } from "../../src/index.ts";

/** Options of the `report` exporter. */
export interface ReportOptions {
  /** Output path (default `<output>.report.json`); a path ending in `.html` writes the HTML report. */
  path?: string;
  /** The command line, shown in the HTML report. */
  command?: string;
}

/** The options this plugin takes: a config giving any other key is refused (E_CONFIG). */
export const optionKeys: OptionKeys<ReportOptions> = { path: true, command: true };

/** `report` exporter factory. */
export default function report(opts: ReportOptions = {}) {
  return defineExporter({
    name: "report",
    options: { ...opts },
    async export(state, ctx) {
      const base = ctx.options.output?.replace(/\.onnx$/, "") ?? "quant";
      const path = opts.path ?? `${base}.report.json`;
      if (/\.html?$/i.test(path)) {
        // The run's data options: the report compares on the data the run was given (random inputs without any).
        const o = ctx.data?.options ?? { seed: 0 };
        const output = ctx.options.output;
        // The accuracy search's result, when the run had a target.
        const search = state.accuracySearch;
        const html = await buildHtmlReport(state.original, state.model, {
          title: basename(output ?? "model.onnx"),
          facts: [
            ...(opts.command ? ([["command", opts.command]] as [string, string][]) : []),
            ["float model", state.original.path ?? "(bytes)"],
            ["quantized model", output ?? "(not written)"],
          ],
          data: { data: o.data, inputs: o.inputs, sampleAxis: o.sampleAxis, samples: o.samples, shapes: o.shapes, seed: o.seed, images: o.images as string | undefined },
          source: typeof o.data === "string" ? `${o.data} (the run's own data: optimistic figures; validate --report on held-out data for unbiased ones)` : "the run's inputs",
          // Random inputs are not judged against the bar (a model calibrated on real data clips them).
          minSqnrDb: o.data === undefined ? null : DEFAULT_MIN_SQNR_DB,
          entries: state.entries,
          search,
          logger: ctx.logger,
        });
        return [{ path, kind: "report-html", data: html }];
      }
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
      return [{ path, kind: "report", data: JSON.stringify(doc, null, 1) }];
    },
  });
}
