/**
 * The whole HTML report from two models: compare them (per-layer error included) unless a comparison is given, sample
 * the worst tensors, render. Used by `--report` on the commands and by the `report` exporter (`path: "*.html"`).
 */
import type { ConsolaInstance } from "consola";
import type { Model } from "../onnx/model.ts";
import type { ReportEntry } from "../kernel/types.ts";
import { openData } from "../data/open.ts";
import type { RunDataSource } from "../kernel/dataset.ts";
import type { ImageOptions } from "../data/images.ts";
import { modelInputs } from "../runtime/session.ts";
import { measureFidelity } from "../validate/fidelity.ts";
import { collectReport, type FidelityLike } from "./collect.ts";
import { renderReportHtml } from "./html.ts";
import type { AccuracySearchSummary } from "./types.ts";

/** Inputs the report compares the models on (the same options as the `fidelity` validator). */
export interface ReportData extends Partial<Omit<RunDataSource, "images">> {
  images?: string | ImageOptions;
  labels?: string;
}

/** Options of {@link buildHtmlReport}. */
export interface BuildReportOptions {
  title: string;
  facts?: [string, string][];
  data: ReportData;
  /** Where the data came from, for the report. */
  source: string;
  /** The bar the figures are judged against (null: not judged). */
  minSqnrDb: number | null;
  /** A comparison already made with per-layer error; measured here when absent. */
  fidelity?: FidelityLike;
  fileBytes?: { before: number; after: number };
  entries?: readonly ReportEntry[];
  search?: AccuracySearchSummary;
  isolated?: readonly { node: string; opType: string; isolatedSqnrDb: number | null }[];
  notes?: string[];
  logger?: ConsolaInstance;
}

/**
 * The self-contained HTML report of `quantized` against `original`.
 * @example const html = await buildHtmlReport(loadModel("m.onnx"), loadModel("m.qdq.onnx"), { title: "m", data: { data: "test.npy" }, source: "test.npy", minSqnrDb: 20 });
 */
export async function buildHtmlReport(original: Model, quantized: Model, o: BuildReportOptions): Promise<string> {
  const d = o.data;
  const images = typeof d.images === "string" ? { preset: d.images } : d.images;
  const fidelity = o.fidelity ?? (await measureFidelity(original, quantized, { ...d, detailed: true, logger: o.logger }));
  const opened = await openData(d.data, { inputs: d.inputs, sampleAxis: d.sampleAxis, samples: d.samples, shapes: d.shapes, seed: d.seed ?? 0, images }, modelInputs(original));
  try {
    const input = await collectReport({
      title: o.title,
      facts: [...(o.facts ?? []), ["written", new Date().toISOString()]],
      original,
      quantized,
      fileBytes: o.fileBytes,
      fidelity,
      source: fidelity.randomData ? "random N(0,1) inputs of the declared shapes" : o.source,
      minSqnrDb: o.minSqnrDb,
      dataset: opened.dataset,
      entries: o.entries,
      search: o.search,
      isolated: o.isolated,
      notes: o.notes,
    });
    return renderReportHtml(input);
  } finally {
    opened.close();
  }
}
