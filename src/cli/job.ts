/**
 * Run one quantization job from the CLI and describe its result (human summary or JSON report).
 * The JSON field names here are documented in the README and kept stable.
 */
import { statSync } from "node:fs";
import type { ConsolaInstance } from "consola";
import { runPipeline, type RunResult } from "../pipeline/pipeline.ts";
import type { EventSink } from "../kernel/events.ts";
import type { JobPlan } from "../config/plan.ts";
import { resolveChain } from "../config/resolve.ts";
import { fmtBytes } from "./io.ts";
import type { ModelProto } from "../onnx/types.ts";
import { allGraphs } from "../onnx/walk.ts";
import { storedByteLength } from "../onnx/weights.ts";
import type { AccuracySearchSummary } from "../kernel/accuracy.ts";
import { formatAccuracySearch } from "../accuracy/format.ts";

/** The stable JSON report of one job. */
export interface JobReport {
  input: string;
  output: string;
  ok: true;
  seconds: number;
  chain: string[];
  opset: RunResult["opset"];
  bytes: { input: number; output: number; ratio: number };
  weights: { quantized: number; skipped: number; bytesBefore: number; bytesAfter: number };
  activations: { quantized: number; skipped: number; unobservable: number };
  alreadyQuantized: boolean;
  /** What was done to the model as a whole: settled on load (initializers made constants, …), how a float16 model was handled. */
  notes: string[];
  skippedReasons: Record<string, number>;
  tensors: RunResult["entries"];
  artifacts: RunResult["artifacts"];
  diagnostics: RunResult["diagnostics"];
  timings: RunResult["timings"];
  /** The accuracy search (with --target-sqnr / --target-accuracy, and INT4's default target). */
  accuracySearch?: AccuracySearchSummary;
}

function fileSize(p: string): number {
  try {
    return statSync(p).size;
  } catch {
    return 0;
  }
}

/** Bytes stored for each dequantized tensor: the DequantizeLinear's integer data, scale and zero point, by its output. */
function storedWeightBytes(model: ModelProto): Map<string, number> {
  const out = new Map<string, number>();
  for (const { graph } of allGraphs(model)) {
    const inits = new Map((graph.initializer ?? []).map((t) => [t.name ?? "", t]));
    for (const n of graph.node ?? []) {
      if (n.op_type !== "DequantizeLinear" || (n.domain && n.domain !== "ai.onnx") || !n.output?.[0]) continue;
      const q = inits.get(n.input?.[0] ?? "");
      if (!q) continue;
      out.set(n.output[0], (n.input ?? []).reduce((s, name) => s + (inits.has(name) ? storedByteLength(inits.get(name)!) : 0), 0));
    }
  }
  return out;
}

/** Run a job through the kernel. */
export async function runJob(job: JobPlan, logger: ConsolaInstance, onEvent?: EventSink): Promise<JobReport> {
  const t0 = performance.now();
  const plugins = await resolveChain(job.chain, { cwd: job.cwd, registry: job.registry });
  const result = await runPipeline({ model: job.input, plugins, options: job.options, logger, onEvent, requireQuantized: true });
  const w = result.entries.filter((e) => e.kind !== "activation");
  const a = result.entries.filter((e) => e.kind === "activation");
  const skippedReasons: Record<string, number> = {};
  for (const e of result.entries) if (e.action === "skipped") skippedReasons[e.reason ?? "unspecified"] = (skippedReasons[e.reason ?? "unspecified"] ?? 0) + 1;
  // The input's real data files (any name, not just <model>.data).
  const inBytes = result.inputBytes || fileSize(job.input);
  const outBytes = result.artifacts.filter((x) => x.kind === "onnx" || x.kind === "onnx-data").reduce((s, x) => s + x.bytes, 0);
  const quantW = w.filter((e) => e.action === "quantized");
  // What the weights take in the file, as stored (a quantizer's own estimate cannot know the packer's storage).
  const stored = storedWeightBytes(result.model.proto);
  for (const e of quantW) {
    const b = stored.get(e.tensor);
    if (b !== undefined) e.bytesAfter = b;
  }
  return {
    input: job.input,
    output: job.output,
    ok: true,
    seconds: (performance.now() - t0) / 1000,
    chain: plugins.map((p) => p.name),
    opset: result.opset,
    notes: result.notes,
    bytes: { input: inBytes, output: outBytes, ratio: inBytes ? outBytes / inBytes : 0 },
    weights: {
      quantized: quantW.length,
      skipped: w.length - quantW.length,
      bytesBefore: quantW.reduce((s, e) => s + (e.bytesBefore ?? 0), 0),
      bytesAfter: quantW.reduce((s, e) => s + (e.bytesAfter ?? 0), 0),
    },
    activations: { quantized: a.filter((e) => e.action === "quantized").length, skipped: a.filter((e) => e.action === "skipped").length, unobservable: result.unobservable.length },
    alreadyQuantized: result.entries.some((e) => e.reason === "already quantized"),
    skippedReasons,
    tensors: result.entries,
    artifacts: result.artifacts,
    diagnostics: result.diagnostics,
    timings: result.timings,
    ...(result.accuracySearch ? { accuracySearch: result.accuracySearch } : {}),
  };
}

/** Human summary of a job report. */
export function formatJob(r: JobReport, detailed = false): string {
  const lines = [`${r.input} → ${r.output}  (${r.seconds.toFixed(2)} s)`];
  lines.push(`  chain: ${r.chain.join(" → ")}`);
  lines.push(`  weights: ${r.weights.quantized} quantized, ${r.weights.skipped} kept float` + (r.weights.bytesBefore ? `  (${fmtBytes(r.weights.bytesBefore)} → ${fmtBytes(r.weights.bytesAfter)})` : ""));
  if (r.activations.quantized || r.activations.skipped || r.activations.unobservable)
    lines.push(`  activations: ${r.activations.quantized} quantized, ${r.activations.skipped} kept float${r.activations.unobservable ? `, ${r.activations.unobservable} not observable (in subgraphs or non-float)` : ""}`);
  const reasons = Object.entries(r.skippedReasons).sort((a, b) => b[1] - a[1]);
  if (reasons.length) lines.push(`  kept float: ${reasons.map(([k, v]) => `${v} ${k}`).join(", ")}`);
  for (const n of r.notes ?? []) lines.push(`  note: ${n}`);
  if (r.alreadyQuantized) lines.push("  note: the model was partly quantized; its quantized weights were kept, its float weights quantized");
  const why = r.opset.to !== r.opset.from && r.opset.needs?.find((n) => n.opset === r.opset.to);
  lines.push(`  file: ${fmtBytes(r.bytes.input)} → ${fmtBytes(r.bytes.output)} (${r.bytes.ratio.toFixed(3)}×)   opset ${r.opset.from} → ${r.opset.to}${why ? ` (${why.reason})` : ""}`);
  const errs = r.tensors.filter((e) => e.action === "quantized" && e.sqnrDb !== undefined).sort((a, b) => a.sqnrDb! - b.sqnrDb!);
  if (errs.length) {
    const show = detailed ? errs : errs.slice(0, 5);
    lines.push(`  per-layer weight SQNR (${detailed ? "all" : "worst 5"}):`);
    for (const e of show) lines.push(`    ${e.sqnrDb!.toFixed(1).padStart(6)} dB  ${e.tensor}${e.opType ? ` (${e.opType}${e.via ? ` via ${e.via}` : ""}` : ""}${e.granularity ? `, ${e.type} ${e.granularity})` : e.opType ? ")" : ""}`);
  }
  const kept8 = r.tensors.filter((e) => e.action === "quantized" && e.reason?.startsWith("kept at 8 bits"));
  if (kept8.length) {
    lines.push(`  kept at 8 bits (${kept8.length}):`);
    for (const e of kept8) lines.push(`    ${e.tensor}: ${e.reason!.replace(/^kept at 8 bits: /, "")}`);
  }
  if (r.accuracySearch) lines.push(...formatAccuracySearch(r.accuracySearch));
  for (const d of r.diagnostics.filter((d) => d.level !== "info")) lines.push(`  ${d.level}: ${d.code}${d.target ? ` (${d.target})` : ""}: ${d.message}`);
  return lines.join("\n");
}
