/**
 * `--report report.html` on quantize, calibrate and validate: measure what the report needs that the command did not
 * (per-layer error, histograms), render the self-contained HTML report and write it atomically.
 */
import { statSync } from "node:fs";
import { basename } from "node:path";
import type { ConsolaInstance } from "consola";
import { writeFileAtomic } from "../io/atomic.ts";
import { QuantError } from "../errors/errors.ts";
import type { ReportEntry } from "../kernel/types.ts";
import { loadModel } from "../onnx/codec.ts";
import type { Model } from "../onnx/model.ts";
import { openData, type DataSource } from "../data/open.ts";
import type { InputValue } from "../data/values.ts";
import type { SampleAxisSpec } from "../data/layout.ts";
import type { ImageOptions } from "../data/images.ts";
import { modelInputs } from "../runtime/session.ts";
import { measureFidelity } from "../validate/fidelity.ts";
import { DEFAULT_MIN_SQNR_DB } from "../validate/metrics-by-shape.ts";
import { collectReport, type FidelityLike } from "../report/collect.ts";
import { renderReportHtml } from "../report/html.ts";
import type { AccuracySearchSummary } from "../report/types.ts";

/** Data options shared by the comparison and the histograms. */
export interface ReportData {
  data?: DataSource;
  inputs?: Record<string, InputValue>;
  sampleAxis?: Record<string, SampleAxisSpec>;
  samples?: number;
  shapes?: Record<string, number[]>;
  seed?: number;
  images?: string | ImageOptions;
  labels?: string;
}

/** What to put in the report besides the measurement. */
export interface HtmlReportRequest {
  path: string;
  command: string;
  originalPath: string;
  quantizedPath: string;
  data: ReportData;
  /** Where the data came from, for the report ("test_x.npy", "the calibration data (--data)"). */
  source: string;
  minSqnrDb: number | null;
  /** A measurement already made with per-layer error; measured here when absent. */
  fidelity?: FidelityLike;
  entries?: readonly ReportEntry[];
  search?: AccuracySearchSummary;
  /** Isolated per-node sensitivity (validate --detailed), most sensitive first. */
  isolated?: readonly { node: string; opType: string; isolatedSqnrDb: number | null }[];
  facts?: [string, string][];
  notes?: string[];
  logger?: ConsolaInstance;
}

function fileSize(p: string): number {
  try {
    return statSync(p).size;
  } catch {
    return 0;
  }
}

/** Measure what is missing, render and write the report. Returns the path written. */
export async function writeHtmlReport(req: HtmlReportRequest, models?: { original: Model; quantized: Model }): Promise<string> {
  if (!/\.html?$/i.test(req.path)) throw new QuantError("E_USAGE", `--report ${req.path}: the report is HTML; name it *.html`);
  const original = models?.original ?? loadModel(req.originalPath);
  const quantized = models?.quantized ?? loadModel(req.quantizedPath, { check: false });
  const d = req.data;
  const images = typeof d.images === "string" ? { preset: d.images } : d.images;
  try {
    const fidelity = req.fidelity ?? (await measureFidelity(original, quantized, { ...d, detailed: true, logger: req.logger }));
    const opened = await openData(d.data, { inputs: d.inputs, sampleAxis: d.sampleAxis, samples: d.samples, shapes: d.shapes, seed: d.seed ?? 0, images }, modelInputs(original));
    try {
      const input = await collectReport({
        title: basename(req.quantizedPath),
        facts: [
          ["command", req.command],
          ["float model", req.originalPath],
          ["quantized model", req.quantizedPath],
          ...(req.facts ?? []),
          ["written", new Date().toISOString()],
        ],
        original,
        quantized,
        fileBytes: { before: fileSize(req.originalPath), after: fileSize(req.quantizedPath) },
        fidelity,
        source: fidelity.randomData ? "random N(0,1) inputs of the declared shapes" : req.source,
        minSqnrDb: req.minSqnrDb,
        dataset: opened.dataset,
        entries: req.entries,
        search: req.search,
        isolated: req.isolated,
        notes: req.notes,
      });
      writeFileAtomic(req.path, renderReportHtml(input));
      req.logger?.info(`report: ${req.path}`);
      return req.path;
    } finally {
      opened.close();
    }
  } finally {
    if (!models) {
      original.external?.close();
      quantized.external?.close();
    }
  }
}

/** The bar a report states: the command's own, else the default. */
export const reportBar = (minSqnrDb: number | undefined): number | null => {
  const v = minSqnrDb ?? DEFAULT_MIN_SQNR_DB;
  return Number.isFinite(v) ? v : null;
};
