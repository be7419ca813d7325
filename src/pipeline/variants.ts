/**
 * The transformers.js variant set: one float32 model → the files transformers.js loads by `dtype`, each made by a
 * plugin chain, then measured against the float model in onnxruntime-node (size, output SQNR, single-thread speed,
 * what ORT fused). The model is read and decoded once; each variant works on a copy.
 */
import { statSync } from "node:fs";
import { basename, extname, join } from "node:path";
import type { ConsolaInstance } from "consola";
import { QuantError } from "../errors/errors.ts";
import type { RunOptions } from "../kernel/options.ts";
import { defaultOpset, runPipeline } from "./pipeline.ts";
import { convertOpset } from "../onnx/opset/index.ts";
import { cloneModel, loadModel } from "../onnx/codec.ts";
import type { Model } from "../onnx/model.ts";
import type { PluginRegistry } from "../config/registry.ts";
import { resolveChain } from "../config/resolve.ts";
import { globToRegExp } from "../quant/select.ts";
import type { PluginSpec } from "../config/schema.ts";
import { createTimingSession, interleavedLatency, optimizedOpTypes, randomFeeds } from "../runtime/latency.ts";

/** A variant: its transformers.js `dtype`, file suffix, plugin chain and options. */
export interface VariantSpec {
  mode: string;
  suffix: string;
  description: string;
  chain: PluginSpec[];
  options: Partial<RunOptions>;
  /** Default-domain opset the variant's ops need; an older model is converted before the chain runs. */
  minOpset?: number;
}

const Q4: Partial<RunOptions> = { bits: 4, blockSize: 32, symmetric: true, nativeInt4: true, clipSearch: true };
/**
 * q4 quantizes MatMul weights only, as transformers.js's q4 does: an INT4 DequantizeLinear in front of a Gather
 * (embeddings) or Gemm is not fused by ONNX Runtime and dequantizes the whole table on every call (on a 768-wide,
 * 8000-token decoder step that made q4 slower than fp32).
 */
const Q4_WEIGHTS: PluginSpec = ["weight-only", { opTypes: ["MatMul"] }];

/** Every mode `quant variants` knows, in transformers.js's order. */
export const VARIANTS: readonly VariantSpec[] = [
  { mode: "fp16", suffix: "_fp16", description: "float16 weights and activations, float32 inputs/outputs", chain: ["normalize", "fp16"], options: {} },
  { mode: "q8", suffix: "_quantized", description: "dynamic INT8 (uint8 weights when the model has Conv, else int8)", chain: ["normalize", "dynamic", "int8"], options: {} },
  { mode: "int8", suffix: "_int8", description: "dynamic INT8, int8 weights", chain: ["normalize", ["dynamic", { weightType: "int8" }], "int8"], options: {} },
  { mode: "uint8", suffix: "_uint8", description: "dynamic INT8, uint8 weights", chain: ["normalize", ["dynamic", { weightType: "uint8" }], "int8"], options: {} },
  { mode: "q4", suffix: "_q4", description: "4-bit block 32 symmetric, MatMul → MatMulNBits", chain: ["normalize", Q4_WEIGHTS, "matmulnbits", "int4", "int8"], options: Q4, minOpset: 21 },
  { mode: "q4f16", suffix: "_q4f16", description: "q4, then float16 (MatMulNBits scales in float16)", chain: ["normalize", Q4_WEIGHTS, "matmulnbits", "fp16", "int4", "int8"], options: Q4, minOpset: 21 },
  { mode: "bnb4", suffix: "_bnb4", description: "NF4 block 64, MatMul → MatMulBnb4", chain: ["normalize", "bnb4"], options: {} },
];

/** The measured result of one variant. */
export interface VariantRow {
  mode: string;
  file: string;
  bytes: number;
  sizeRatio: number;
  sqnrDb: number;
  /** fp32 median / variant median, ORT, 1 thread, batch 1. */
  speedup: number;
  medianMs: number;
  fp32Ms: number;
  /** Op types ONNX Runtime's optimized graph has that the fp32 one does not (fusions, contrib kernels). */
  fused: Record<string, number>;
  seconds: number;
}

/** Options of {@link makeVariants}. */
export interface VariantsOptions {
  /** Where the variants' plugin names resolve (the CLI passes `builtinPlugins`). */
  registry: PluginRegistry;
  modes?: readonly string[];
  /** Timed runs per model (default 50; 0 skips timing). */
  runs?: number;
  logger?: ConsolaInstance;
  /** Input shapes for the measurement feeds by input name (`*` for all); symbolic dims default to 1. */
  shapes?: Record<string, number[]>;
  /** Called when a variant starts. */
  onStart?: (mode: string, index: number, total: number) => void;
}

/** Resolve `--modes` names (throws E_USAGE on an unknown one). */
export function variantSpecs(modes?: readonly string[]): VariantSpec[] {
  if (!modes?.length) return [...VARIANTS];
  return modes.map((m) => {
    const v = VARIANTS.find((x) => x.mode === m);
    if (!v) throw new QuantError("E_USAGE", `unknown variant mode "${m}" (modes: ${VARIANTS.map((x) => x.mode).join(", ")})`);
    return v;
  });
}

/** Make and measure every variant of one model into `outDir` (transformers.js names: `<name><suffix>.onnx`). */
export async function makeVariants(input: string, outDir: string, options: VariantsOptions): Promise<VariantRow[]> {
  const specs = variantSpecs(options.modes);
  const model = loadModel(input);
  const name = basename(input, extname(input));
  const inputBytes = statSync(input).size;
  const rows: VariantRow[] = [];
  let ref: Awaited<ReturnType<typeof createTimingSession>> | undefined;
  try {
    ref = await createTimingSession(input);
    const feeds = randomFeeds(ref, { shapes: expandShapes(options.shapes, ref.session.inputNames) });
    const refOut = await ref.session.run(feeds);
    const refOps = await optimizedOpTypes(input);
    const runs = options.runs ?? 50;
    for (const [i, spec] of specs.entries()) {
      options.onStart?.(spec.mode, i, specs.length);
      const t0 = performance.now();
      const file = join(outDir, `${name}${spec.suffix}.onnx`);
      const plugins = await resolveChain([...spec.chain, "onnx"], { registry: options.registry });
      const copy: Model = { ...cloneModel(model, true) };
      // Block-wise INT4 DequantizeLinear (for layers not turned into MatMulNBits) needs opset 21: raise it first.
      if (spec.minOpset && defaultOpset(copy) < spec.minOpset) convertOpset(copy, spec.minOpset);
      await runPipeline({ model: copy, plugins, options: { ...spec.options, output: file }, logger: options.logger });
      const bytes = statSync(file).size;
      const s = await createTimingSession(file);
      let row: VariantRow;
      try {
        const out = await s.session.run(feeds);
        const sqnr = outputsSqnr(refOut, out);
        let speedup = NaN, medianMs = NaN, fp32Ms = NaN;
        if (runs > 0) {
          const [a, b] = await interleavedLatency([ref!, s], feeds, { runs, warmup: Math.min(10, runs) });
          (fp32Ms = a!.medianMs), (medianMs = b!.medianMs), (speedup = a!.medianMs / b!.medianMs);
        }
        const ops = await optimizedOpTypes(file);
        const fused = Object.fromEntries(Object.entries(ops).filter(([op]) => !(op in refOps)));
        row = { mode: spec.mode, file, bytes, sizeRatio: bytes / inputBytes, sqnrDb: sqnr, speedup, medianMs, fp32Ms, fused, seconds: (performance.now() - t0) / 1000 };
      } finally {
        await s.release();
      }
      rows.push(row);
    }
  } finally {
    await ref?.release();
    model.external?.close();
  }
  return rows;
}

/** Shapes by input name: glob keys (`past_key_values.*.key=1x4x128x16`) apply to every input they match. */
function expandShapes(shapes: Record<string, number[]> | undefined, names: readonly string[]): Record<string, number[]> | undefined {
  if (!shapes) return undefined;
  const out: Record<string, number[]> = {};
  for (const [k, dims] of Object.entries(shapes)) {
    if (k === "*" || !/[*?[]/.test(k)) out[k] = dims;
    else for (const n of names) if (globToRegExp(k).test(n)) out[n] ??= dims;
  }
  return out;
}

/** SQNR over every float output (all outputs' elements together), in dB. */
function outputsSqnr(ref: Record<string, { data: unknown }>, got: Record<string, { data: unknown }>): number {
  let signal = 0, noise = 0, compared = 0;
  for (const [k, v] of Object.entries(ref)) {
    const r = v.data;
    if (!(r instanceof Float32Array)) continue;
    const g = got[k]?.data;
    if (!(g instanceof Float32Array) || g.length !== r.length) return NaN;
    compared += g.length;
    for (let i = 0; i < g.length; i++) {
      const d = r[i]! - g[i]!;
      signal += r[i]! * r[i]!;
      noise += d * d;
    }
  }
  // Nothing compared (no float32 output) is no measurement, not a perfect one.
  if (compared === 0) return NaN;
  return noise === 0 ? Infinity : 10 * Math.log10(signal / noise);
}

/** The per-variant table as text. */
export function formatVariants(input: string, rows: readonly VariantRow[]): string {
  const lines = [`${input}`, "  mode     file                                size     SQNR      speed (ORT, 1 thread)   ORT kernels added"];
  for (const r of rows) {
    const fused = Object.entries(r.fused).map(([k, v]) => `${k} ${v}`).join(", ") || "—";
    lines.push(`  ${r.mode.padEnd(8)} ${basename(r.file).padEnd(35)} ${r.sizeRatio.toFixed(3)}×  ${r.sqnrDb.toFixed(1).padStart(6)} dB  ${Number.isNaN(r.speedup) ? "—".padEnd(22) : `${r.speedup.toFixed(2)}× (${r.medianMs.toFixed(3)} ms)`.padEnd(22)}  ${fused}`);
  }
  return lines.join("\n");
}
