/** `quant validate --report report.html`: the self-contained HTML report of the comparison, written atomically. */
import { statSync } from "node:fs";
import { basename } from "node:path";
import { writeFileAtomic } from "../io/atomic.ts";
import { QuantError } from "../errors/errors.ts";
import type { Model } from "../onnx/model.ts";
import { buildHtmlReport, type BuildReportOptions } from "../report/build.ts";

function fileSize(p: string): number {
  try {
    return statSync(p).size;
  } catch {
    return 0;
  }
}

/** `--report` must name an .html file (checked before any work). */
export function checkReportPath(path: string): void {
  if (!/\.html?$/i.test(path)) throw new QuantError("E_USAGE", `--report ${path}: the report is HTML; name it *.html`);
}

/** Render the report of `quantized` against `original` and write it to `path`. */
export async function writeHtmlReport(path: string, paths: { original: string; quantized: string }, models: { original: Model; quantized: Model }, o: Omit<BuildReportOptions, "title">): Promise<void> {
  checkReportPath(path);
  const html = await buildHtmlReport(models.original, models.quantized, {
    ...o,
    title: basename(paths.quantized),
    facts: [["float model", paths.original], ["quantized model", paths.quantized], ...(o.facts ?? [])],
    fileBytes: { before: fileSize(paths.original), after: fileSize(paths.quantized) },
  });
  writeFileAtomic(path, html);
  o.logger?.info(`report: ${path}`);
}
