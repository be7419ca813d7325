/**
 * How much each weight, quantized alone, disturbs the model's outputs — measured in onnxruntime-node, not guessed.
 * The candidates become graph inputs of one probe session, so every measurement is one run with that weight's
 * dequantized values fed instead of the originals: (candidates + 1) × samples runs, one session.
 */
import type { GraphProto } from "../onnx/types.ts";
import type { Model } from "../onnx/model.ts";
import { cloneModel } from "../onnx/codec.ts";
import { valueInfo } from "../onnx/builder.ts";
import { openData } from "../data/open.ts";
import type { RunDataSource } from "../kernel/dataset.ts";
import { RuntimeSession, batchPlan, modelInputs, type TensorMap } from "../runtime/session.ts";
import { DataType } from "../tensor/dtypes.ts";
import { QuantError } from "../errors/errors.ts";
import { inferenceMacs } from "./probe-cost.ts";

/** A weight to probe: its original and its dequantized values (float32, main-graph initializer). */
export interface SensitivityCandidate {
  name: string;
  dims: readonly number[];
  original: Float32Array;
  dequantized: Float32Array;
}

/** Options of {@link weightSensitivity}: where the probe's data comes from (as for `calibrate`; random N(0,1) of the declared shapes without `data`). */
export interface SensitivityOptions extends Partial<Omit<RunDataSource, "images">> {
  /**
   * Time budget in ms, of estimated time: the probe counts its cost in multiply-accumulates ({@link inferenceMacs} of
   * one batch × (candidates + 1) runs) at a fixed {@link PROBE_MACS_PER_MS}, uses fewer samples to fit, and throws when
   * even one sample would take over 2.5× the budget. Counted, not timed, so the decision (and the output's bytes)
   * does not depend on the machine's load. Default: no budget.
   */
  budgetMs?: number;
}

/**
 * Multiply-accumulates per millisecond the budget assumes: onnxruntime-node on one core of the 2-core reference
 * machine runs mobilenet_v2 at ~6.5 and resnet18 at ~12 MMAC/ms; the probe's session (weights fed as inputs, not
 * pre-packed) is slower, hence 5.
 */
export const PROBE_MACS_PER_MS = 5e6;

/** Samples the probe affords within `budgetMs` given the cost of one batch of `step` samples, or an error past 2.5× the budget. */
export function probeSamples(macsPerBatch: number, candidates: number, step: number, wanted: number, budgetMs: number): number {
  const perBatchMs = (macsPerBatch * (candidates + 1)) / PROBE_MACS_PER_MS;
  if (perBatchMs > 2.5 * budgetMs) throw new QuantError("E_RUNTIME", `measuring would take about ${(perBatchMs / 1000).toFixed(1)} s per sample`);
  return Math.max(step, Math.min(wanted, Math.floor((budgetMs / perBatchMs) * step)));
}

/**
 * Noise-to-signal ratio of the model's outputs (Σ(y−ŷ)² / Σy² over all outputs and samples) when only that weight
 * is replaced by its dequantized values. Candidates must be float32 initializers of the main graph.
 */
export async function weightSensitivity(model: Model, candidates: readonly SensitivityCandidate[], opts: SensitivityOptions = {}): Promise<Map<string, number>> {
  const probe = cloneModel(model);
  const g = probe.proto.graph as GraphProto;
  const names = new Set(candidates.map((c) => c.name));
  g.initializer = (g.initializer ?? []).filter((t) => !names.has(t.name ?? ""));
  for (const c of candidates) (g.input ??= []).push(valueInfo(c.name, DataType.FLOAT, c.dims));
  const session = await RuntimeSession.create(probe);
  // An explicit count must be there; the default is "up to 4".
  const spec = { inputs: opts.inputs, sampleAxis: opts.sampleAxis, samples: opts.samples, maxSamples: 4, shapes: opts.shapes, seed: opts.seed ?? 0 };
  const opened = await openData(opts.data, spec, modelInputs(model)).catch(async (e) => {
    await session.release();
    throw e;
  });
  const dataset = opened.dataset;
  const noise = new Map<string, number>(candidates.map((c) => [c.name, 0]));
  let signal = 0;
  try {
    const weights: TensorMap = {};
    for (const c of candidates) weights[c.name] = session.tensor(c.original, c.dims, DataType.FLOAT);
    // One sample per run, or the model's fixed batch (found on each input's own batch axis).
    const step = batchPlan(modelInputs(model), dataset).fixed ?? 1;
    let n = Math.max(step, Math.min(dataset.count, opts.samples ?? 4));
    for (let i = 0; i + step <= n; i += step) {
      const batch = dataset.batch(i, step);
      const feeds: TensorMap = { ...weights };
      for (const [name, b] of Object.entries(batch)) feeds[name] = session.tensor(b.data, b.dims, b.elemType);
      // The budget is decided on the first batch, from its counted cost (never from a clock).
      if (i === 0 && opts.budgetMs) n = probeSamples(await inferenceMacs(model, batch), candidates.length, step, n, opts.budgetMs);
      const ref = await session.run(feeds);
      const refData = Object.values(ref).map((t) => Float32Array.from(t.data as Float32Array));
      for (const r of refData) for (let k = 0; k < r.length; k++) signal += r[k]! * r[k]!;
      for (const c of candidates) {
        const out = await session.run({ ...feeds, [c.name]: session.tensor(c.dequantized, c.dims, DataType.FLOAT) });
        let e = 0;
        Object.values(out).forEach((t, j) => {
          const a = t.data as Float32Array;
          const r = refData[j]!;
          for (let k = 0; k < r.length; k++) e += (a[k]! - r[k]!) ** 2;
        });
        noise.set(c.name, noise.get(c.name)! + e);
      }
      dataset.release?.(batch);
    }
  } finally {
    opened.close();
    await session.release();
  }
  for (const [k, v] of noise) noise.set(k, signal > 0 ? v / signal : 0);
  return noise;
}
