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
import { fidelityDiagnostics, measureFidelity, type FidelityOptions, type FidelityReport } from "../validate/fidelity.ts";
import { calibArgs, checkImagePreset, dataOptionsFromArgs, globalArgs, parseShapes, repeated } from "./args.ts";
import { makeLogger, printJson, wantsJson, type GlobalFlags } from "./io.ts";
import { detailedSensitivity, formatSensitivity, type SensitivityReport } from "./validate-sensitivity.ts";

/** One output's numbers in the JSON report. SQNR is null when the outputs are identical (infinite SQNR). */
export interface OutputReport {
  name: string;
  sqnrDb: number | null;
  cosine: number;
  maxAbsError: number;
  /** null when the output's last dim is 1 (not a classification). */
  top1Agreement: number | null;
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
  outputs: OutputReport[];
  layers?: LayerReport[];
  /** `--detailed`: output SQNR with only that node quantized, most sensitive first (src/accuracy/isolated.ts). */
  sensitivity?: SensitivityReport[];
}

const finiteOrNull = (v: number) => (Number.isFinite(v) ? v : null);

/** Validate a quantized model against its original. */
export async function runValidate(
  originalPath: string,
  quantizedPath: string,
  opts: FidelityOptions & { logger?: ReturnType<typeof makeLogger> },
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
      fid = await measureFidelity(original, quantized, { data: opts.data, inputs: opts.inputs, sampleAxis: opts.sampleAxis, samples: opts.samples, detailed: opts.detailed, shapes: opts.shapes, seed: opts.seed, images: opts.images, logger: opts.logger });
      const diags = fidelityDiagnostics(fid, opts.minSqnrDb).filter((d) => d.code !== "fidelity" && d.code !== "fidelity-layer");
      report.fidelity = { samples: fid.samples, randomData: fid.randomData, minSqnrDb: opts.minSqnrDb ?? null, errors: count(diags, "error"), diagnostics: diags };
      report.outputs = fid.outputs.map((o) => ({ name: o.name, sqnrDb: finiteOrNull(o.sqnrDb), cosine: o.cosine, maxAbsError: o.maxAbsError, top1Agreement: o.top1Agreement ?? null, nonFinite: o.nonFinite }));
      if (fid.layers) report.layers = fid.layers.map((l) => ({ name: l.name, opType: l.opType, sqnrDb: finiteOrNull(l.sqnrDb), cosine: l.cosine, maxAbsError: l.maxAbsError }));
      if (opts.detailed) report.sensitivity = await detailedSensitivity(original, quantized, opts);
    }
    report.ok = report.structure.errors === 0 && loads && (report.fidelity?.errors ?? 0) === 0;
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
    for (const o of r.outputs)
      lines.push(`  ${o.name}: SQNR ${db(o.sqnrDb)}, cosine ${o.cosine.toFixed(6)}, max abs error ${o.maxAbsError.toPrecision(4)}` +
        (o.top1Agreement !== null ? `, top-1 agreement ${(100 * o.top1Agreement).toFixed(2)}%` : ""));
    for (const d of r.fidelity.diagnostics) lines.push(`  ${d.level}: ${d.code}${d.target ? ` (${d.target})` : ""}: ${d.message}`);
  }
  if (r.layers?.length) {
    // The worst layers are where error enters; the whole list is in --format json (or with --debug).
    const show = allLayers ? r.layers : r.layers.slice(0, 25);
    lines.push(`per-layer error (${show.length < r.layers.length ? `worst ${show.length} of ${r.layers.length}; all with --format json` : `${r.layers.length}, worst first`}):`);
    for (const l of show) lines.push(`  ${(l.sqnrDb === null ? "∞" : l.sqnrDb.toFixed(2)).padStart(7)} dB  ${l.name} (${l.opType})`);
  }
  lines.push(...formatSensitivity(r.sensitivity, allLayers));
  lines.push(r.ok ? "PASS" : "FAIL");
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
max abs error, top-1 agreement; --detailed adds the error of every intermediate tensor both graphs produce.
Exit code 1 when anything is an error (also SQNR below --min-sqnr, NaN outputs).`,
  },
  args: {
    original: { type: "positional", required: true, description: "The float model" },
    quantized: { type: "positional", required: true, description: "The quantized model" },
    data: { type: "string", alias: "d", description: "Inputs to compare on (.npy/.npz/safetensors/image folder)", valueHint: "FILE" },
    samples: { type: "string", alias: "n", description: "Samples to compare: N (the data must have them) or all (default: all of --data; 16 random)", valueHint: "N|all" },
    detailed: { type: "boolean", description: "Per-layer error of every intermediate tensor, worst first" },
    "min-sqnr": { type: "string", description: "Fail when an output's SQNR is below DB", valueHint: "DB" },
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
    const report = await runValidate(String(args.original), String(args.quantized), {
      data: args.data as string | undefined,
      samples: args.samples === "all" ? undefined : num(args.samples, "samples", true),
      detailed: !!args.detailed,
      minSqnrDb: num(args["min-sqnr"], "min-sqnr", false),
      shapes: parseShapes(repeated(rawArgs, "shape")),
      ...dataOptionsFromArgs(rawArgs),
      seed: args.seed === undefined ? undefined : num(args.seed, "seed", false),
      images: args["image-preset"] as string | undefined,
      logger,
    });
    if (json) printJson(report);
    else if (!flags.quiet || !report.ok) process.stdout.write(`${formatValidate(report, !!flags.debug)}\n`);
    return report.ok ? 0 : 1;
  },
});
