/**
 * `quant benchmark <original> <quantized>`: what quantization bought — file and weight bytes, node counts with a
 * QDQ-aware structure check (the quantized graph is the original plus Q/DQ nodes), real single-thread latency of both
 * models in onnxruntime-node (interleaved runs, medians, speedup) and what ORT fused in the quantized model.
 * The JSON field names (`--format json`) are documented in the README and stay stable.
 */
import { statSync } from "node:fs";
import { resolve } from "node:path";
import { defineCommand } from "citty";
import { QuantError } from "../errors/errors.ts";
import { loadModel } from "../onnx/codec.ts";
import { externalRef, isExternal } from "../onnx/external.ts";
import type { Model } from "../onnx/model.ts";
import { storedByteLength } from "../onnx/weights.ts";
import { allGraphs, allTensors } from "../onnx/walk.ts";
import { isFloatWeightType } from "../tensor/dtypes.ts";
import { createTimingSession, interleavedLatency, optimizedOpTypes, randomFeeds, type LatencyStats } from "../runtime/latency.ts";
import { calibArgs, dataOptionsFromArgs, globalArgs, parseShapes, repeated } from "./args.ts";
import type { ModelInputInfo } from "../data/dataset.ts";
import type { SampleAxisSpec } from "../data/layout.ts";
import { type DataSource, openData } from "../data/open.ts";
import type { InputValue } from "../data/values.ts";
import { batchPlan, modelInputs, type RuntimeSession, type TensorMap } from "../runtime/session.ts";
import { fmtBytes, makeLogger, printJson, wantsJson, type GlobalFlags } from "./io.ts";

/** Sizes and op counts of one model. */
export interface ModelFacts {
  path: string;
  /** Model file plus its external data files. */
  fileBytes: number;
  /** External data files alone. */
  externalBytes: number;
  /** Stored bytes of every tensor (initializers and Constant values), float and integer. */
  weightBytes: number;
  floatWeightBytes: number;
  integerWeightBytes: number;
  nodes: number;
  /** Node count by op type (`domain.op` outside the default domain), over all graphs. */
  opTypes: Record<string, number>;
}

/** The stable JSON report of `quant benchmark`. */
export interface BenchmarkReport {
  original: ModelFacts;
  quantized: ModelFacts;
  /** quantized.fileBytes / original.fileBytes. */
  sizeRatio: number;
  structure: {
    /** True when the quantized graph's op counts equal the original's once Q/DQ nodes (and removed Identity/Constant nodes) are set aside. */
    ok: boolean;
    quantizeLinear: number;
    dequantizeLinear: number;
    /** Op types with more nodes (count added) or fewer nodes (count removed) than the original, Q/DQ aside. */
    added: Record<string, number>;
    removed: Record<string, number>;
  };
  latency: {
    threads: number;
    batch: 1;
    runs: number;
    warmup: number;
    original: LatencyStats;
    quantized: LatencyStats;
    /** original.medianMs / quantized.medianMs. */
    speedup: number;
  };
  /** ORT's optimized graph of the quantized model: integer kernels it picked, float compute left, Q/DQ left. */
  optimized: {
    integerOps: Record<string, number>;
    floatOps: Record<string, number>;
    quantizeLinear: number;
    dequantizeLinear: number;
    opTypes: Record<string, number>;
  };
}

const FLOAT_COMPUTE = new Set(["Conv", "ConvTranspose", "MatMul", "Gemm", "FusedConv", "FusedMatMul", "FusedGemm", "Attention", "MultiHeadAttention"]);
const INTEGER_OPS = new Set(["QGemm", "QAttention", "MatMulInteger", "ConvInteger", "MatMulIntegerToFloat", "DynamicQuantizeMatMul", "MatMulNBits", "QOrderedMatMul", "QEmbedLayerNormalization", "GatherBlockQuantized"]);
const bare = (op: string) => op.slice(op.lastIndexOf(".") + 1);

function fileSize(p: string): number {
  try {
    return statSync(p).size;
  } catch {
    return 0;
  }
}

/** Facts of a loaded model: sizes on disk (with external data) and op counts. */
export function modelFacts(model: Model, path: string): ModelFacts {
  const locations = new Set<string>();
  let weightBytes = 0;
  let floatWeightBytes = 0;
  for (const { tensor } of allTensors(model.proto)) {
    if (isExternal(tensor)) locations.add(externalRef(tensor).location);
    const b = storedByteLength(tensor);
    weightBytes += b;
    if (isFloatWeightType(tensor.data_type ?? 0)) floatWeightBytes += b;
  }
  let externalBytes = 0;
  for (const loc of locations) externalBytes += fileSize(resolve(model.baseDir ?? ".", loc));
  const opTypes: Record<string, number> = {};
  let nodes = 0;
  for (const { graph } of allGraphs(model.proto))
    for (const n of graph.node ?? []) {
      const op = n.domain && n.domain !== "ai.onnx" ? `${n.domain}.${n.op_type}` : (n.op_type ?? "");
      opTypes[op] = (opTypes[op] ?? 0) + 1;
      nodes++;
    }
  return { path, fileBytes: fileSize(path) + externalBytes, externalBytes, weightBytes, floatWeightBytes, integerWeightBytes: weightBytes - floatWeightBytes, nodes, opTypes };
}

/** Op-count difference of the quantized model against the original, Q/DQ nodes set aside. */
export function structureDiff(original: Record<string, number>, quantized: Record<string, number>): BenchmarkReport["structure"] {
  const added: Record<string, number> = {};
  const removed: Record<string, number> = {};
  const qdq = new Set(["QuantizeLinear", "DequantizeLinear"]);
  for (const op of new Set([...Object.keys(original), ...Object.keys(quantized)])) {
    if (qdq.has(op)) continue;
    const d = (quantized[op] ?? 0) - (original[op] ?? 0);
    if (d > 0) added[op] = d;
    else if (d < 0) removed[op] = -d;
  }
  // Q/DQ the original already had are not "added".
  const extra = (op: string) => Math.max(0, (quantized[op] ?? 0) - (original[op] ?? 0));
  // Bypassed Identity nodes and Constant nodes turned into initializers (the normalize pass) change nothing computed.
  const ok = !Object.keys(added).length && Object.keys(removed).every((op) => op === "Identity" || op === "Constant");
  return { ok, quantizeLinear: extra("QuantizeLinear"), dequantizeLinear: extra("DequantizeLinear"), added, removed };
}

/** Split ORT's optimized op counts into integer kernels, float compute and leftover Q/DQ. */
export function fusedSummary(opTypes: Record<string, number>): BenchmarkReport["optimized"] {
  const integerOps: Record<string, number> = {};
  const floatOps: Record<string, number> = {};
  let q = 0;
  let dq = 0;
  for (const [op, n] of Object.entries(opTypes)) {
    const b = bare(op);
    if (b.startsWith("QLinear") || INTEGER_OPS.has(b)) integerOps[op] = n;
    else if (FLOAT_COMPUTE.has(b)) floatOps[op] = n;
    else if (b === "QuantizeLinear") q += n;
    else if (b === "DequantizeLinear") dq += n;
  }
  return { integerOps, floatOps, quantizeLinear: q, dequantizeLinear: dq, opTypes };
}

/** The input to time on: real data or values when given (`--data`, `--input`, `--shape`…), else one random sample. */
export interface BenchmarkInput {
  data?: DataSource;
  inputs?: Record<string, InputValue>;
  sampleAxis?: Record<string, SampleAxisSpec>;
  shapes?: Record<string, number[]>;
}

/**
 * Feeds of one run: the first sample (or fixed batch) of the data when any is given — inputs without data then get
 * random values only where that is valid, as in validate — else `randomFeeds` (integers zero, dynamic dims 1).
 */
async function benchmarkFeeds(session: RuntimeSession, inputs: ModelInputInfo[], o: BenchmarkInput & { seed?: number }): Promise<TensorMap> {
  if (o.data === undefined && !o.inputs && !o.sampleAxis && !o.shapes) return randomFeeds(session, { seed: o.seed });
  const opened = await openData(o.data, { inputs: o.inputs, sampleAxis: o.sampleAxis, shapes: o.shapes, seed: o.seed, maxSamples: 1 }, inputs);
  try {
    const size = batchPlan(inputs, opened.dataset).fixed ?? 1;
    return session.feeds(opened.dataset.batch(0, size));
  } finally {
    opened.close();
  }
}

function positiveInt(v: unknown, flag: string, fallback: number, min = 1): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new QuantError("E_USAGE", `--${flag} must be an integer ≥ ${min} (got ${v})`);
  return n;
}

/** Run the whole benchmark. */
export async function runBenchmark(
  originalPath: string,
  quantizedPath: string,
  opts: { runs: number; warmup: number; threads: number; seed?: number; onProgress?: (done: number, total: number) => void } & BenchmarkInput,
): Promise<BenchmarkReport> {
  const models = [loadModel(originalPath), loadModel(quantizedPath)] as const;
  let facts: [ModelFacts, ModelFacts];
  const inputs = modelInputs(models[0]);
  try {
    facts = [modelFacts(models[0], originalPath), modelFacts(models[1], quantizedPath)];
  } finally {
    for (const m of models) m.external?.close();
  }
  // ORT reads the files itself (external data included).
  const a = await createTimingSession(originalPath, { threads: opts.threads });
  let stats: LatencyStats[];
  try {
    const b = await createTimingSession(quantizedPath, { threads: opts.threads });
    try {
      const feeds = await benchmarkFeeds(a, inputs, opts);
      const missing = b.inputNames.filter((n) => !(n in feeds));
      if (missing.length) throw new QuantError("E_USAGE", `the models take different inputs (quantized needs ${missing.map((m) => `"${m}"`).join(", ")}); benchmark compares a model with its quantized version`);
      stats = await interleavedLatency([a, b], feeds, { runs: opts.runs, warmup: opts.warmup, onProgress: opts.onProgress });
    } finally {
      await b.release();
    }
  } finally {
    await a.release();
  }
  const optimized = fusedSummary(await optimizedOpTypes(quantizedPath, opts.threads));
  return {
    original: facts[0],
    quantized: facts[1],
    sizeRatio: facts[0].fileBytes ? facts[1].fileBytes / facts[0].fileBytes : 0,
    structure: structureDiff(facts[0].opTypes, facts[1].opTypes),
    latency: { threads: opts.threads, batch: 1, runs: opts.runs, warmup: opts.warmup, original: stats[0]!, quantized: stats[1]!, speedup: stats[0]!.medianMs / stats[1]!.medianMs },
    optimized,
  };
}

const list = (r: Record<string, number>) => Object.entries(r).sort((x, y) => y[1] - x[1] || x[0].localeCompare(y[0])).map(([k, v]) => `${k} ${v}`).join(", ") || "none";

/** Human rendering of a benchmark report. */
export function formatBenchmark(r: BenchmarkReport): string {
  const ms = (v: number) => (v < 1 ? `${v.toFixed(3)} ms` : `${v.toFixed(2)} ms`);
  const row = (k: string, a: string, b: string, c = "") => `${k.padEnd(16)}${a.padStart(14)}${b.padStart(14)}${c ? `   ${c}` : ""}`;
  const o = r.original;
  const q = r.quantized;
  const L = r.latency;
  const s = r.structure;
  return [
    row("", "original", "quantized"),
    row("file", fmtBytes(o.fileBytes), fmtBytes(q.fileBytes), `${r.sizeRatio.toFixed(3)}×`),
    row("weights", fmtBytes(o.weightBytes), fmtBytes(q.weightBytes), `float ${fmtBytes(q.floatWeightBytes)}, integer ${fmtBytes(q.integerWeightBytes)}`),
    row("nodes", String(o.nodes), String(q.nodes)),
    row("median", ms(L.original.medianMs), ms(L.quantized.medianMs), `speedup ${L.speedup.toFixed(2)}×`),
    row("p90", ms(L.original.p90Ms), ms(L.quantized.p90Ms)),
    `  (${L.runs} interleaved runs after ${L.warmup} warm-up, ${L.threads} thread${L.threads > 1 ? "s" : ""}, batch 1)`,
    `structure: ${s.ok ? "ok" : "changed"} — +${s.quantizeLinear} QuantizeLinear, +${s.dequantizeLinear} DequantizeLinear` +
      (Object.keys(s.added).length ? `; added: ${list(s.added)}` : "") + (Object.keys(s.removed).length ? `; removed: ${list(s.removed)}` : ""),
    `ORT fused (quantized): integer ${list(r.optimized.integerOps)}; float compute left: ${list(r.optimized.floatOps)}` +
      (r.optimized.quantizeLinear + r.optimized.dequantizeLinear ? `; Q/DQ left: ${r.optimized.quantizeLinear}/${r.optimized.dequantizeLinear}` : ""),
  ].join("\n");
}

/** Examples printed by `quant benchmark --help`; test/cli/examples.test.ts runs every one. */
export const examples = [
  "quant benchmark model.onnx model.qdq.onnx",
  "quant benchmark model.onnx model.qdq.onnx --runs 200 --warmup 20",
  "quant benchmark model.onnx model.qdq.onnx --threads 2 --format json",
];

export default defineCommand({
  meta: {
    name: "benchmark",
    description: `Compare a model with its quantized version: sizes, node counts (QDQ-aware), single-thread latency in onnxruntime-node.

Latency: batch 1, the same random input to both, warm-up, then interleaved runs (A, B, A, B, …); medians and p90;
speedup = original median / quantized median. Also lists what ONNX Runtime fused (QLinearConv, QGemm, …).`,
  },
  args: {
    original: { type: "positional", required: true, description: "The float model" },
    quantized: { type: "positional", required: true, description: "The quantized model" },
    runs: { type: "string", description: "Timed runs per model (default 100)", valueHint: "N" },
    warmup: { type: "string", description: "Untimed warm-up runs per model (default 10)", valueHint: "N" },
    threads: { type: "string", description: "intra-op threads (default 1)", valueHint: "N" },
    seed: { type: "string", description: "Seed of the random input (default 0)", valueHint: "N" },
    data: { ...calibArgs.data, description: "Time on the first sample of this data (as for calibrate) instead of a random input" },
    shape: calibArgs.shape,
    input: calibArgs.input,
    "sample-axis": calibArgs["sample-axis"],
    ...globalArgs,
  },
  async run({ args, rawArgs }) {
    const flags = args as GlobalFlags;
    const json = wantsJson(flags);
    const logger = makeLogger(flags);
    const runs = positiveInt(args.runs, "runs", 100);
    const warmup = positiveInt(args.warmup, "warmup", 10, 0);
    const threads = positiveInt(args.threads, "threads", 1);
    const seed = positiveInt(args.seed, "seed", 0, 0);
    logger.info(`timing ${runs} interleaved runs of each model (${threads} thread${threads > 1 ? "s" : ""}, batch 1)`);
    const input: BenchmarkInput = { data: args.data as string | undefined, shapes: parseShapes(repeated(rawArgs, "shape")), ...dataOptionsFromArgs(rawArgs) };
    const report = await runBenchmark(String(args.original), String(args.quantized), { runs, warmup, threads, seed, ...input });
    if (json) printJson(report);
    else if (!flags.quiet) process.stdout.write(`${formatBenchmark(report)}\n`);
    return 0;
  },
});
