/**
 * `quant validate <original> <quantized>`: structure (connectivity, interface, Q/DQ rules), loadability in
 * onnxruntime-node, and numbers (both models on the same data: per-output SQNR, cosine, max abs error, top-1
 * agreement; `--detailed` adds per-layer error). Exit code 1 when anything is an error.
 * The JSON field names (`--format json`) are documented in the README and stay stable.
 */
import { defineCommand } from "citty";
import type { Diagnostic } from "../kernel/types.ts";
import { QuantError } from "../errors/errors.ts";
import { loadModel } from "../onnx/codec.ts";
import { checkConnectivity } from "../validate/connectivity.ts";
import { checkOrtLoad } from "../validate/ort-load.ts";
import { fidelityDiagnostics, measureFidelity, sqnrBar, type FidelityOptions, type FidelityReport } from "../validate/fidelity.ts";
import { DEFAULT_MIN_SQNR_DB, describeShapeMetrics, type LabelledAccuracy } from "../validate/metrics-by-shape.ts";
import type { OutputKind } from "../validate/output-kind.ts";
import { checkReportPath, writeHtmlReport } from "./report-html.ts";
import { calibArgs, checkImagePreset, dataOptionsFromArgs, globalArgs, parseShapes, repeated } from "./args.ts";
import { makeLogger, printJson, wantsJson, type GlobalFlags } from "./io.ts";
import { detailedSensitivity, formatSensitivity, type SensitivityReport } from "./validate-sensitivity.ts";

/** One output's numbers in the JSON report. SQNR is null when the outputs are identical (infinite SQNR). */
export interface OutputReport {
  name: string;
  sqnrDb: number | null;
  cosine: number;
  maxAbsError: number;
  /** What the output is, deciding its metrics: classifier, probability-map, probabilities or values. */
  kind: OutputKind;
  /** Classifiers only (null otherwise): rows (samples, anchors, pixels) whose argmax along the class axis agrees. */
  top1Agreement: number | null;
  /** Sigmoid outputs only (null otherwise): share of values on the same side of 0.5, and IoU of the sets above 0.5. */
  pixelAgreement: number | null;
  foregroundIoU: number | null;
  /** With --labels, on the output the labels were compared with. */
  accuracy?: LabelledAccuracy;
  nonFinite: number;
}

/** One intermediate tensor's numbers (`--detailed`), worst first. */
export interface LayerReport {
  name: string;
  opType: string;
  sqnrDb: number | null;
  cosine: number;
  maxAbsError: number;
}

/** The stable JSON report of `quant validate`. */
export interface ValidateReport {
  ok: boolean;
  structure: { errors: number; warnings: number; diagnostics: Diagnostic[] };
  /** Numeric comparison; absent when the quantized model does not load. */
  fidelity?: { samples: number; randomData: boolean; minSqnrDb: number | null; errors: number; diagnostics: Diagnostic[] };
  /** Labelled top-1 of both models (with --labels). */
  accuracy?: LabelledAccuracy;
  outputs: OutputReport[];
  layers?: LayerReport[];
  /** The measurement itself, for the HTML report (not part of the JSON output). */
  raw?: FidelityReport;
  /** `--detailed`: output SQNR with only that node quantized, most sensitive first (src/accuracy/isolated.ts). */
  sensitivity?: SensitivityReport[];
}

const finiteOrNull = (v: number) => (Number.isFinite(v) ? v : null);

/** Validate a quantized model against its original. */
export async function runValidate(
  originalPath: string,
  quantizedPath: string,
  opts: FidelityOptions & { logger?: ReturnType<typeof makeLogger>; report?: string },
): Promise<ValidateReport> {
  const original = loadModel(originalPath);
  // A broken graph (e.g. a dangling input) is what we are here to report, so load without the structural checks.
  const quantized = loadModel(quantizedPath, { check: false });
  try {
    const structure = [...checkConnectivity(quantized, original), ...(await checkOrtLoad(quantized))];
    const count = (ds: Diagnostic[], level: Diagnostic["level"]) => ds.filter((d) => d.level === level).length;
    const report: ValidateReport = {
      ok: false,
      structure: { errors: count(structure, "error"), warnings: count(structure, "warning"), diagnostics: structure },
      fidelity: undefined,
      outputs: [],
    };
    const loads = !structure.some((d) => d.code === "ort-load" && d.level === "error");
    let fid: FidelityReport | undefined;
    if (loads) {
      fid = await measureFidelity(original, quantized, { data: opts.data, inputs: opts.inputs, sampleAxis: opts.sampleAxis, samples: opts.samples, detailed: opts.detailed || !!opts.report, shapes: opts.shapes, seed: opts.seed, images: opts.images, labels: opts.labels, logger: opts.logger });
      const bar = sqnrBar(fid, opts.minSqnrDb) ?? -Infinity;
      const diags = fidelityDiagnostics(fid, opts.minSqnrDb).filter((d) => d.code !== "fidelity" && d.code !== "fidelity-layer");
      report.fidelity = { samples: fid.samples, randomData: fid.randomData, minSqnrDb: finiteOrNull(bar), errors: count(diags, "error"), diagnostics: diags };
      report.outputs = fid.outputs.map((o) => {
        const s = o.byShape;
        return {
          name: o.name, kind: s.kind, sqnrDb: finiteOrNull(o.sqnrDb), cosine: o.cosine, maxAbsError: o.maxAbsError,
          top1Agreement: s.top1Agreement ?? null, pixelAgreement: s.pixelAgreement ?? null, foregroundIoU: s.foregroundIoU ?? null,
          ...(s.accuracy ? { accuracy: s.accuracy } : {}), nonFinite: o.nonFinite,
        };
      });
      report.accuracy = fid.outputs.find((o) => o.byShape.accuracy)?.byShape.accuracy;
      if (fid.layers && opts.detailed) report.layers = fid.layers.map((l) => ({ name: l.name, opType: l.opType, sqnrDb: finiteOrNull(l.sqnrDb), cosine: l.cosine, maxAbsError: l.maxAbsError }));
      if (opts.detailed) report.sensitivity = await detailedSensitivity(original, quantized, opts);
    }
    report.ok = report.structure.errors === 0 && loads && (report.fidelity?.errors ?? 0) === 0;
    if (!fid && opts.report) opts.logger?.warn(`--report ${opts.report}: not written, the quantized model does not load in onnxruntime-node (see the structure errors)`);
    if (fid && opts.report) {
      // The isolated per-node sensitivity validate --detailed measures, when it did.
      const isolated = report.sensitivity;
      await writeHtmlReport(opts.report, { original: originalPath, quantized: quantizedPath }, { original, quantized }, {
        facts: [["command", `quant validate ${originalPath} ${quantizedPath}`]],
        data: { ...opts, labels: typeof opts.labels === "string" ? opts.labels : undefined },
        source: typeof opts.data === "string" ? opts.data : "the given inputs", minSqnrDb: report.fidelity!.minSqnrDb, fidelity: fid, isolated, logger: opts.logger,
      });
    }
    if (fid) report.raw = fid;
    return report;
  } finally {
    original.external?.close();
    quantized.external?.close();
  }
}

const db = (v: number | null) => (v === null ? "∞ (identical)" : `${v.toFixed(2)} dB`);

/** Human rendering of a validate report (`allLayers`: every layer, not the worst 25). */
export function formatValidate(r: ValidateReport, allLayers = false): string {
  const lines: string[] = [];
  const s = r.structure;
  lines.push(`structure: ${s.errors ? `${s.errors} error(s)` : "ok"}${s.warnings ? `, ${s.warnings} warning(s)` : ""}`);
  for (const d of s.diagnostics) lines.push(`  ${d.level === "info" ? "ok" : d.level}: ${d.code}${d.target ? ` (${d.target})` : ""}: ${d.message}`);
  if (r.fidelity) {
    lines.push(`outputs (${r.fidelity.samples} ${r.fidelity.randomData ? "random " : ""}samples):`);
    for (const o of r.outputs) {
      const shape = r.raw?.outputs.find((x) => x.name === o.name)?.byShape;
      const extra = shape ? describeShapeMetrics(shape) : "";
      lines.push(`  ${o.name} (${o.kind}): SQNR ${db(o.sqnrDb)}, cosine ${o.cosine.toFixed(6)}, max abs error ${o.maxAbsError.toPrecision(4)}${extra ? `, ${extra}` : ""}`);
    }
    for (const d of r.fidelity.diagnostics) lines.push(`  ${d.level}: ${d.code}${d.target ? ` (${d.target})` : ""}: ${d.message}`);
  }
  if (r.layers?.length) {
    // The worst layers are where error enters; the whole list is in --format json (or with --debug).
    const show = allLayers ? r.layers : r.layers.slice(0, 25);
    lines.push(`per-layer error (${show.length < r.layers.length ? `worst ${show.length} of ${r.layers.length}; all with --format json` : `${r.layers.length}, worst first`}):`);
    for (const l of show) lines.push(`  ${(l.sqnrDb === null ? "∞" : l.sqnrDb.toFixed(2)).padStart(7)} dB  ${l.name} (${l.opType})`);
  }
  lines.push(...formatSensitivity(r.sensitivity, allLayers));
  const low = r.fidelity ? r.fidelity.diagnostics.filter((d) => d.code === "fidelity-sqnr" && d.level === "error") : [];
  const bar = r.fidelity?.minSqnrDb;
  if (low.length) lines.push(`FAIL: ${low.length} output(s) below ${bar} dB SQNR${bar === DEFAULT_MIN_SQNR_DB ? " (the default bar; --min-sqnr DB to change it)" : ""}: ${low.map((d) => `${d.target} ${(d.metrics?.sqnrDb ?? NaN).toFixed(2)} dB`).join(", ")}`);
  else if (!r.ok) lines.push("FAIL");
  else if (bar !== undefined && bar !== null) lines.push(`PASS (every output ≥ ${bar} dB SQNR)`);
  else lines.push(r.fidelity?.randomData ? `PASS (structure and loading; numbers on random inputs are not judged against the ${DEFAULT_MIN_SQNR_DB} dB bar: pass --data)` : "PASS");
  return lines.join("\n");
}

function num(v: unknown, flag: string, integer: boolean): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || (integer && (!Number.isInteger(n) || n < 1))) throw new QuantError("E_USAGE", `--${flag} must be ${integer ? "a positive integer" : "a number"} (got ${v})`);
  return n;
}

/** Examples printed by `quant validate --help`; test/cli/examples.test.ts runs every one. */
export const examples = [
  "quant validate model.onnx model.qdq.onnx",
  "quant validate model.onnx model.qdq.onnx --data test.npy --min-sqnr 30",
  "quant validate model.onnx model.qdq.onnx --data test_x.npy --labels test_y.npy",
  "quant validate model.onnx model.qdq.onnx --data test.npy --report report.html",
  "quant validate model.onnx model.int4.onnx --detailed --samples 32 --format json",
  "quant validate model.onnx model.entropy.onnx --data images/ --image-preset unit",
];

export default defineCommand({
  meta: {
    name: "validate",
    description: `Check a quantized model against its original: structure, loadability in onnxruntime-node, and numbers.

Structure: every node input resolves (subgraph outer-scope reads included), graph inputs/outputs unchanged,
Q/DQ rules (scale finite and > 0, zero-point type = quantized type, axis in range, block_size consistent, opset).
Numbers: both models run on --data (or random N(0,1) inputs of the declared shapes): per-output SQNR, cosine,
max abs error, and what the output's kind calls for: top-1 agreement along the class axis for classifiers (Softmax
outputs, [N, C], [N, C, 1, 1]), pixel agreement at 0.5 and foreground IoU for Sigmoid probability maps, nothing more
for other values; --labels adds labelled top-1 of both models; --detailed adds the error of every intermediate tensor.
Exit code 1 when anything is an error: an output below ${DEFAULT_MIN_SQNR_DB} dB SQNR (--min-sqnr), NaN outputs.`,
  },
  args: {
    original: { type: "positional", required: true, description: "The float model" },
    quantized: { type: "positional", required: true, description: "The quantized model" },
    data: { type: "string", alias: "d", description: "Inputs to compare on (.npy/.npz/safetensors/image folder)", valueHint: "FILE" },
    samples: { type: "string", alias: "n", description: "Samples to compare: N (the data must have them) or all (default: all of --data; 16 random)", valueHint: "N|all" },
    detailed: { type: "boolean", description: "Per-layer error of every intermediate tensor, worst first" },
    "min-sqnr": { type: "string", description: `Fail when an output's SQNR is below DB (default ${DEFAULT_MIN_SQNR_DB}; off: never)`, valueHint: "DB|off" },
    report: { type: "string", description: "Write a self-contained HTML report (accuracy, per-layer error bars, worst tensors' ranges, size breakdown)", valueHint: "FILE.html" },
    labels: { type: "string", description: "Class labels of the data's samples (.npy: [N] indices or [N, C] one-hot): labelled top-1 of both models and the drop", valueHint: "FILE" },
    shape: { type: "string", description: "Input shape for random data, e.g. 1x3x224x224 or input=1x3x224x224 (repeatable)", valueHint: "SHAPE" },
    input: calibArgs.input,
    "sample-axis": calibArgs["sample-axis"],
    seed: { type: "string", description: "Seed for random data (default 0)" },
    "image-preset": calibArgs["image-preset"],
    ...globalArgs,
  },
  async run({ args, rawArgs }) {
    const flags = args as GlobalFlags;
    const json = wantsJson(flags);
    const logger = makeLogger(flags);
    checkImagePreset(args["image-preset"], args.data as string | undefined);
    if (typeof args.report === "string") checkReportPath(args.report);
    const report = await runValidate(String(args.original), String(args.quantized), {
      data: args.data as string | undefined,
      samples: args.samples === "all" ? undefined : num(args.samples, "samples", true),
      detailed: !!args.detailed,
      minSqnrDb: args["min-sqnr"] === "off" ? -Infinity : num(args["min-sqnr"], "min-sqnr", false),
      labels: args.labels as string | undefined,
      report: args.report as string | undefined,
      shapes: parseShapes(repeated(rawArgs, "shape")),
      ...dataOptionsFromArgs(rawArgs),
      seed: args.seed === undefined ? undefined : num(args.seed, "seed", false),
      images: args["image-preset"] as string | undefined,
      logger,
    });
    if (json) printJson({ ...report, raw: undefined });
    else if (!flags.quiet || !report.ok) process.stdout.write(`${formatValidate(report, !!flags.debug)}\n`);
    return report.ok ? 0 : 1;
  },
});
