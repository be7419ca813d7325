/**
 * Value histograms of the worst tensors for the report: activations sampled by running the float model on a few
 * samples with those tensors exposed as outputs, weights read from the float model; each drawn against the range its
 * quantization can represent in the quantized model (per-tensor QuantizeLinear/DequantizeLinear scale and zero point),
 * with the share of values that range clips.
 */
import type { Model } from "../onnx/model.ts";
import type { TensorProto } from "../onnx/types.ts";
import { tensorFloat32, tensorInts, tensorSize } from "../onnx/tensor-data.ts";
import { HistogramObserver } from "../tensor/histogram.ts";
import { RuntimeSession, batchPlan, modelInputs, tensorFloats } from "../runtime/session.ts";
import type { CalibrationDataset } from "../data/dataset.ts";
import { dataTypeName } from "../tensor/dtypes.ts";
import type { ReportTensor } from "./types.ts";

/** Display bins of a report histogram. */
const BINS = 64;

const QRANGE: Record<string, [number, number]> = {
  UINT8: [0, 255], INT8: [-128, 127], UINT16: [0, 65535], INT16: [-32768, 32767], UINT4: [0, 15], INT4: [-8, 7],
};

/** Per-tensor representable range of `tensor` in the quantized model, from the Q (activations) or DQ (weights) around it. */
export function quantRange(quantized: Model, tensor: string): ReportTensor["qRange"] {
  const g = quantized.proto.graph;
  const inits = new Map<string, TensorProto>((g?.initializer ?? []).map((t) => [t.name ?? "", t]));
  for (const n of g?.node ?? []) {
    if (n.domain && n.domain !== "ai.onnx") continue;
    const isQ = n.op_type === "QuantizeLinear" && n.input?.[0] === tensor;
    const isDQ = n.op_type === "DequantizeLinear" && n.output?.[0] === tensor;
    if (!isQ && !isDQ) continue;
    const s = inits.get(n.input?.[1] ?? "");
    const z = inits.get(n.input?.[2] ?? "");
    if (!s || tensorSize(s) !== 1) return undefined; // per-channel / block-wise: no single range
    const scale = tensorFloat32(quantized, s)[0]!;
    const zt = z?.data_type ?? (isDQ ? inits.get(n.input?.[0] ?? "")?.data_type : undefined) ?? 2;
    const type = dataTypeName(zt);
    const [qmin, qmax] = QRANGE[type] ?? [0, 255];
    const zp = z && tensorSize(z) === 1 ? (tensorInts(quantized, z)[0] ?? 0) : 0;
    return { lo: (qmin - zp) * scale, hi: (qmax - zp) * scale, step: scale, type: type.toLowerCase() };
  }
  return undefined;
}

/** Display histogram from an exact streaming one: `BINS` equal bins over [min, max]. */
function displayBins(h: HistogramObserver): { lo: number; hi: number; counts: number[] } {
  const lo = h.min, hi = h.max;
  const counts = new Array<number>(BINS).fill(0);
  const span = hi - lo;
  const w = h.width;
  for (let j = 0; j < h.used; j++) {
    const c = h.counts[j]!;
    if (!c) continue;
    const centre = (h.first + j + 0.5) * w;
    const b = span > 0 ? Math.min(BINS - 1, Math.max(0, Math.floor(((centre - lo) / span) * BINS))) : 0;
    counts[b]! += c;
  }
  return { lo, hi: span > 0 ? hi : lo + 1, counts };
}

/** Count of `values` outside [lo, hi]. */
function outside(values: ArrayLike<number>, lo: number, hi: number): number {
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v < lo || v > hi) n++;
  }
  return n;
}

/** A copy of `model` whose main graph also outputs `names`. */
function withOutputs(model: Model, names: readonly string[]): Model {
  const g = model.proto.graph!;
  return { ...model, proto: { ...model.proto, graph: { ...g, output: [...(g.output ?? []), ...names.map((name) => ({ name }))] } } };
}

/** One tensor to sample. */
export interface TensorPick {
  name: string;
  opType: string;
  sqnrDb: number | null;
}

/** Histograms of activation tensors of `original`, over up to `samples` samples of `dataset`. */
export async function activationHistograms(original: Model, quantized: Model, picks: readonly TensorPick[], dataset: CalibrationDataset, samples: number): Promise<ReportTensor[]> {
  if (!picks.length) return [];
  const session = await RuntimeSession.create(withOutputs(original, picks.map((p) => p.name)));
  try {
    const step = batchPlan(modelInputs(original), dataset).fixed ?? 1;
    const total = Math.min(samples, dataset.count);
    const end = Math.max(step, total - (total % step));
    const hists = picks.map(() => new HistogramObserver(2048));
    const clipped = picks.map(() => 0);
    const ranges = picks.map((p) => quantRange(quantized, p.name));
    const names = picks.map((p) => p.name);
    for (let start = 0; start + step <= Math.min(end, dataset.count); start += step) {
      const out = await session.run(session.feeds(dataset.batch(start, step)), names);
      names.forEach((n, i) => {
        const t = out[n];
        if (!t) return;
        const v = tensorFloats(t);
        const f = v instanceof Float32Array ? v : Float32Array.from(v);
        hists[i]!.observe(f);
        const q = ranges[i];
        if (q) clipped[i]! += outside(f, q.lo, q.hi);
      });
    }
    return picks.flatMap((p, i) => {
      const h = hists[i]!;
      if (!h.total) return [];
      return [{ name: p.name, opType: p.opType, kind: "activation" as const, sqnrDb: p.sqnrDb, min: h.min, max: h.max, ...displayBins(h), qRange: ranges[i], clipped: ranges[i] ? clipped[i]! / h.total : undefined, values: h.total }];
    });
  } finally {
    await session.release();
  }
}

/** Histograms of float weights of `original` (initializers by name). */
export function weightHistograms(original: Model, quantized: Model, picks: readonly TensorPick[]): ReportTensor[] {
  const inits = new Map((original.proto.graph?.initializer ?? []).map((t) => [t.name ?? "", t]));
  return picks.flatMap((p) => {
    const t = inits.get(p.name);
    if (!t) return [];
    const v = tensorFloat32(original, t);
    if (!v.length) return [];
    const h = new HistogramObserver(2048);
    h.observe(v);
    const q = quantRange(quantized, p.name);
    return [{ name: p.name, opType: p.opType, kind: "weight" as const, sqnrDb: p.sqnrDb, min: h.min, max: h.max, ...displayBins(h), qRange: q, clipped: q ? outside(v, q.lo, q.hi) / v.length : undefined, values: v.length }];
  });
}
