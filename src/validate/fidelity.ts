/**
 * Numeric fidelity (the `fidelity` validator plugin and `quant validate` use it): run the float and the quantized model in onnxruntime-node on the same inputs and compare
 * every output (SQNR, cosine, max abs error, top-1 agreement). With `detailed`, also every intermediate tensor both
 * graphs produce under the same name (the QDQ rewrite keeps node output names), to find the layer where error enters.
 * Inputs come from a data file (`data`) or, with a warning, random N(0,1) samples of the declared input shapes.
 * Batches stream through: memory does not grow with the number of samples.
 */
import { ErrorAccumulator, type ErrorMetrics, type FloatArray } from "../tensor/metrics.ts";
import { GraphIndex, isOnnxOp } from "../onnx/graph.ts";
import { QuantError } from "../errors/errors.ts";
import { RuntimeSession, batchPlan, tensorFloats, modelInputs, type TensorMap } from "../runtime/session.ts";
import { GarbageBudget } from "../runtime/calibrate.ts";
import type { Diagnostic } from "../kernel/types.ts";
import { isFloatWeightType } from "../tensor/dtypes.ts";
import { openData, type DataSource } from "../data/open.ts";
import type { ImageOptions } from "../data/images.ts";
import type { InputValue } from "../data/values.ts";
import type { Model } from "../onnx/model.ts";
import type { SampleAxisSpec } from "../data/layout.ts";
import type { ConsolaInstance } from "consola";
import { DEFAULT_MIN_SQNR_DB, ShapeMetricsAccumulator, describeShapeMetrics, type Labels, type ShapeMetrics } from "./metrics-by-shape.ts";
import { outputRules } from "./output-kind.ts";
import { readLabels } from "./labels.ts";

/** Options of {@link measureFidelity} (and of the `fidelity` validator plugin). */
export interface FidelityOptions {
  /** Input data (a path, values per input, or a dataset object); random N(0,1) of the declared shapes when absent. */
  data?: DataSource;
  /** Values per input (`--input sr=16000`), taking precedence over `data`. */
  inputs?: Record<string, InputValue>;
  /** Sample axis per input (`--sample-axis state=1`). */
  sampleAxis?: Record<string, SampleAxisSpec>;
  /** Samples to compare (default: all the data holds; 16 for random data). */
  samples?: number;
  /** Per-layer error of every intermediate tensor both graphs produce. */
  detailed?: boolean;
  /** Fail (error diagnostic) when an output's SQNR is below this, in dB (default {@link DEFAULT_MIN_SQNR_DB}; `-Infinity` never fails). */
  minSqnrDb?: number;
  /** Class labels of the samples in data order (a .npy path or read labels): labelled top-1 of both models. */
  labels?: string | Labels;
  /** Shapes for random data (`input` → dims, `*` for all). */
  shapes?: Record<string, number[]>;
  /** Seed of random data (default 0). */
  seed?: number;
  /** Preprocessing of an image folder: a preset name (`imagenet`, `inception`, `unit`) or options. */
  images?: string | ImageOptions;
}

/** Metrics of one graph output. */
export interface OutputFidelity extends ErrorMetrics {
  name: string;
  /** The metrics its kind calls for (top-1 for classifiers, pixel agreement for probability maps, labelled accuracy). */
  byShape: ShapeMetrics;
}

/** Metrics of one intermediate tensor. */
export interface LayerFidelity extends ErrorMetrics {
  name: string;
  /** Op type of the node producing it in the original model. */
  opType: string;
}

/** What {@link measureFidelity} found. */
export interface FidelityReport {
  samples: number;
  randomData: boolean;
  outputs: OutputFidelity[];
  /** Worst first (lowest SQNR); only with `detailed`. */
  layers?: LayerFidelity[];
}

// float16 outputs are decoded by tensorFloats (half bits or Float16Array, depending on the runtime).
const FLOAT_OUT = new Set(["float32", "float64", "float16"]);

/** Float outputs of a session, by name. */
function floatOutputs(s: RuntimeSession): string[] {
  return s.session.outputMetadata.filter((m) => m.isTensor && FLOAT_OUT.has(m.type)).map((m) => m.name);
}

/**
 * Intermediate tensors to compare: outputs of main-graph nodes of the original that a node of the quantized model
 * also produces (not Q/DQ outputs, not graph outputs, not known to be non-float).
 */
export function sharedLayers(original: Model, quantized: Model): { name: string; opType: string }[] {
  const a = new GraphIndex(original);
  const b = new GraphIndex(quantized);
  const outputs = new Set((original.proto.graph?.output ?? []).map((o) => o.name));
  const out: { name: string; opType: string }[] = [];
  for (const node of original.proto.graph?.node ?? []) {
    if (isOnnxOp(node, "QuantizeLinear") || isOnnxOp(node, "DequantizeLinear") || isOnnxOp(node, "Constant")) continue;
    for (const name of node.output ?? []) {
      if (!name || outputs.has(name)) continue;
      const p = b.main.producers.get(name);
      if (p?.kind !== "node" || isOnnxOp(p.node, "QuantizeLinear") || isOnnxOp(p.node, "DequantizeLinear")) continue;
      const t = a.elemTypeOf(name);
      if (t !== undefined && !isFloatWeightType(t)) continue;
      out.push({ name, opType: node.op_type ?? "" });
    }
  }
  return out;
}

/** A copy of `model` whose main graph also outputs `names` (ORT infers their types). Shares everything else. */
function withOutputs(model: Model, names: readonly string[]): Model {
  const g = model.proto.graph!;
  return { ...model, proto: { ...model.proto, graph: { ...g, output: [...(g.output ?? []), ...names.map((name) => ({ name }))] } } };
}

/**
 * Run both models on the same inputs and compare them.
 * @example const r = await measureFidelity(loadModel("m.onnx"), loadModel("m.qdq.onnx"), { data: "test_x.npy" });
 */
export async function measureFidelity(
  original: Model,
  quantized: Model,
  opts: FidelityOptions & { logger?: ConsolaInstance; onProgress?: (done: number, total: number) => void } = {},
): Promise<FidelityReport> {
  const inputs = modelInputs(original);
  const images = typeof opts.images === "string" ? { preset: opts.images } : opts.images;
  const announce = (line: string) => opts.logger?.info(line);
  const opened = await openData(opts.data, { inputs: opts.inputs, sampleAxis: opts.sampleAxis, samples: opts.samples, shapes: opts.shapes, seed: opts.seed ?? 0, images, announce }, inputs);
  const dataset = opened.dataset;
  const randomData = opened.random.length > 0;
  if (randomData) {
    const which = opened.random.length === inputs.length ? "no data given" : `no data for ${opened.random.map((n) => `'${n}'`).join(", ")}`;
    opts.logger?.warn(`${which}: comparing on ${Math.min(opts.samples ?? dataset.count, dataset.count)} random N(0,1) inputs of the declared shapes (pass --data for meaningful numbers)`);
  }
  if (inputs.length > 1) for (const line of dataset.describe?.() ?? []) opts.logger?.info(line);
  const sessions: RuntimeSession[] = [];
  const open = async (m: Model) => {
    // Memory (validate of an 88 MB float16 ISNet at 1024×1024 peaked at 4.8 GB): two (four with `detailed`) sessions
    // live side by side. No arena, so none keeps its largest run's activations; optimizations up to "extended" (every
    // fusion, QDQ ones included) without the layout level, whose NCHWc transform keeps a blocked float32 copy of every
    // conv weight (423 vs 108 MB for that model's session). Only float summation order differs from level "all".
    const s = await RuntimeSession.create(m, { memoryArena: false, optimization: "extended" });
    sessions.push(s);
    return s;
  };
  try {
    const fixed = batchPlan(inputs, dataset).fixed;
    const step = fixed ?? 1; // one sample per run: exporters bake batch sizes into Reshape targets
    const total = Math.min(opts.samples ?? dataset.count, dataset.count);
    const end = fixed ? total - (total % fixed) : total;
    if (end < 1) throw new QuantError("E_CALIB_SAMPLES", `need at least ${fixed ?? 1} sample(s) to compare the models, got ${total}`);
    const a = await open(original);
    const b = await open(quantized);
    const names = floatOutputs(a).filter((n) => floatOutputs(b).includes(n));
    if (!names.length) throw new QuantError("E_VALIDATE", "the models share no float32/float64/float16 output to compare");
    const accs = names.map(() => new ErrorAccumulator());
    const labels = typeof opts.labels === "string" ? readLabels(opts.labels) : opts.labels;
    if (labels && randomData) throw new QuantError("E_USAGE", `--labels ${labels.source}: labels need the data they label (--data), not random inputs`);
    if (labels && labels.values.length < end) throw new QuantError("E_CALIB_SAMPLES", `--labels ${labels.source} holds ${labels.values.length} label(s) for ${end} compared sample(s)`);
    if (labels && labels.values.length !== dataset.count) opts.logger?.warn(`--labels ${labels.source} holds ${labels.values.length} label(s) but the data ${dataset.count} sample(s): check they are in the same order`);
    const rules = outputRules(original);
    const shapeAccs = names.map((n) => new ShapeMetricsAccumulator(n, rules.get(n) ?? { source: "shape" }, labels));
    let layers: { name: string; opType: string }[] = [];
    let la: RuntimeSession | undefined;
    let lb: RuntimeSession | undefined;
    if (opts.detailed) {
      layers = sharedLayers(original, quantized);
      // Separate sessions: exposing intermediates changes what ORT can fuse, and the outputs above must be the real ones.
      la = await open(withOutputs(original, layers.map((l) => l.name)));
      lb = await open(withOutputs(quantized, layers.map((l) => l.name)));
      const ok = new Set(floatOutputs(la).filter((n) => floatOutputs(lb!).includes(n)));
      layers = layers.filter((l) => ok.has(l.name));
    }
    const layerAccs = layers.map(() => new ErrorAccumulator());
    const layerNames = layers.map((l) => l.name);
    // Memory: the models went to onnxruntime as serialized copies, garbage now; and every run's outputs are garbage
    // after their comparison, but a large model's (ISNet: ~120 MB a run, twice that decoded from float16) pile up
    // before the collector runs on its own. Collect now, then whenever 8 MiB plus two runs' worth were dropped.
    if (typeof Bun !== "undefined") Bun.gc(true);
    const garbage = new GarbageBudget(8 << 20);
    for (let start = 0; start < end; start += step) {
      const batch = dataset.batch(start, Math.min(step, end - start));
      const outA = await a.run(a.feeds(batch), names);
      const outB = await b.run(b.feeds(batch), names);
      const count = Math.min(step, end - start);
      names.forEach((n, i) => (garbage.bytes += compare(accs[i]!, outA, outB, n, { acc: shapeAccs[i]!, first: start, count })));
      garbage.collect(outA);
      garbage.collect(outB);
      if (la && lb && layerNames.length) {
        const lA = await la.run(la.feeds(batch), layerNames);
        const lB = await lb.run(lb.feeds(batch), layerNames);
        layerNames.forEach((n, i) => (garbage.bytes += compare(layerAccs[i]!, lA, lB, n)));
        garbage.collect(lA);
        garbage.collect(lB);
      }
      opts.onProgress?.(Math.min(start + step, end), end);
    }
    const outputs = names.map((name, i) => {
      const byShape = shapeAccs[i]!.result();
      return { name, ...accs[i]!.result(), top1Agreement: byShape.top1Agreement, byShape };
    });
    if (labels && !outputs.some((o) => o.byShape.accuracy))
      throw new QuantError("E_USAGE", `--labels ${labels.source}: no output is a classifier with one row per sample (${names.map((n, i) => `"${n}": ${shapeAccs[i]!.labelsRefused}`).join("; ")})`);
    const report: FidelityReport = { samples: end, randomData, outputs };
    if (opts.detailed) {
      report.layers = layers.map((l, i) => ({ ...l, ...layerAccs[i]!.result() }));
      report.layers.sort((x, y) => x.sqnrDb - y.sqnrDb || x.name.localeCompare(y.name));
    }
    return report;
  } finally {
    for (const s of sessions) await s.release();
    opened.close();
  }
}

/**
 * Adds one output's comparison to `acc` (and to its per-kind metrics `shape`, samples `first … first + count - 1`);
 * returns the bytes of float32 copies it decoded (float16 outputs), now garbage.
 */
function compare(acc: ErrorAccumulator, a: TensorMap, b: TensorMap, name: string, shape?: { acc: ShapeMetricsAccumulator; first: number; count: number }): number {
  const x = a[name]!;
  const y = b[name]!;
  if (x.size !== y.size)
    throw new QuantError("E_VALIDATE", `"${name}" has ${x.size} elements in the original model but ${y.size} in the quantized one (dims [${x.dims.join(",")}] vs [${y.dims.join(",")}])`, { target: name });
  const fx = tensorFloats(x);
  const fy = tensorFloats(y);
  acc.add(fx, fy);
  shape?.acc.add(fx, fy, x.dims, shape.first, shape.count);
  return (fx !== x.data ? fx.byteLength : 0) + (fy !== y.data ? fy.byteLength : 0);
}

const fmtDb = (v: number) => (v === Infinity ? "∞" : v.toFixed(2));

/**
 * The SQNR bar a report is judged against: the one given, else {@link DEFAULT_MIN_SQNR_DB} on real data. On random
 * inputs the default is not applied (a model calibrated on real data clips N(0,1) activations: digits_cnn reads 1.6 dB
 * there and 41.7 dB on its test set), only reported as a warning; a bar given explicitly applies to any data.
 */
export function sqnrBar(r: { randomData: boolean }, minSqnrDb?: number): number | undefined {
  return minSqnrDb ?? (r.randomData ? undefined : DEFAULT_MIN_SQNR_DB);
}

/** Diagnostics of a fidelity report: info per output (and layer), errors for NaN outputs and SQNR below the bar ({@link sqnrBar}). */
export function fidelityDiagnostics(r: FidelityReport, minSqnrDb?: number): Diagnostic[] {
  const bar = sqnrBar(r, minSqnrDb);
  const out: Diagnostic[] = [];
  if (r.randomData) out.push({ level: "warning", code: "fidelity-random", message: `compared on ${r.samples} random N(0,1) samples, not real data: the numbers say little about accuracy` });
  for (const o of r.outputs) {
    const metrics: Record<string, number> = { sqnrDb: o.sqnrDb, cosine: o.cosine, maxAbsError: o.maxAbsError, samples: r.samples };
    const s = o.byShape;
    for (const k of ["top1Agreement", "pixelAgreement", "foregroundIoU"] as const) if (s[k] !== undefined) metrics[k] = s[k]!;
    if (s.accuracy) Object.assign(metrics, { accuracyFloat: s.accuracy.float, accuracyQuantized: s.accuracy.quantized, accuracyDrop: s.accuracy.drop });
    const extra = describeShapeMetrics(s);
    out.push({ level: "info", code: "fidelity", target: o.name, metrics, message: `SQNR ${fmtDb(o.sqnrDb)} dB, cosine ${o.cosine.toFixed(6)}, max abs error ${o.maxAbsError.toPrecision(4)}${extra ? `, ${extra}` : ""} over ${r.samples} samples` });
    if (o.nonFinite > o.nonFiniteReference)
      out.push({ level: "error", code: "fidelity-nan", target: o.name, message: `the quantized model outputs ${o.nonFinite} NaN/Inf value(s) in "${o.name}" (the float model: ${o.nonFiniteReference})` });
    else if (o.nonFiniteReference)
      out.push({ level: "warning", code: "fidelity-nan", target: o.name, message: `the float model itself outputs ${o.nonFiniteReference} NaN/Inf value(s) in "${o.name}"; they were left out` });
    if (bar !== undefined && o.sqnrDb < bar)
      out.push({ level: "error", code: "fidelity-sqnr", target: o.name, metrics: { sqnrDb: o.sqnrDb, minSqnrDb: bar }, message: `output "${o.name}": SQNR ${fmtDb(o.sqnrDb)} dB is below the required ${bar} dB${r.randomData ? " (on random inputs)" : ""}; --min-sqnr sets the bar` });
    else if (bar === undefined && o.sqnrDb < DEFAULT_MIN_SQNR_DB)
      out.push({ level: "warning", code: "fidelity-sqnr", target: o.name, metrics: { sqnrDb: o.sqnrDb, minSqnrDb: DEFAULT_MIN_SQNR_DB }, message: `output "${o.name}": SQNR ${fmtDb(o.sqnrDb)} dB on random inputs, below the ${DEFAULT_MIN_SQNR_DB} dB bar that real data (--data) is judged against` });
  }
  for (const l of r.layers ?? [])
    out.push({ level: "info", code: "fidelity-layer", target: l.name, metrics: { sqnrDb: l.sqnrDb, cosine: l.cosine, maxAbsError: l.maxAbsError }, message: `${l.opType}: SQNR ${fmtDb(l.sqnrDb)} dB, cosine ${l.cosine.toFixed(6)}` });
  return out;
}
