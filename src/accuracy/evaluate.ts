/**
 * The evaluation side of the accuracy search: the held-out samples (never the calibration samples), running a model
 * on them in onnxruntime-node, and the metric (output SQNR against the float model, or top-1 accuracy on labels).
 */
import type { Model } from "../onnx/model.ts";
import type { Batch } from "../data/dataset.ts";
import { openData } from "../data/open.ts";
import { readNpy } from "../data/npy.ts";
import { QuantError } from "../errors/errors.ts";
import type { DataOptions } from "../kernel/options.ts";
import { RuntimeSession, batchPlan, modelInputs, tensorFloats, type TensorMap } from "../runtime/session.ts";
import type { AccuracyTarget } from "../kernel/accuracy.ts";

/** Evaluation samples used by an SQNR target (each probe configuration costs one run per sample). */
export const DEFAULT_EVAL_SAMPLES = 8;
/** Evaluation samples used by an accuracy target: a top-1 rate over 8 samples moves in steps of 12.5 points. */
export const ACCURACY_EVAL_SAMPLES = 256;

/** How the data given with `--data` is split when the evaluation samples are held out of it. */
export interface HeldOutSplit {
  /** Samples calibration uses (the first ones). */
  calibrate: number;
  /** First evaluation sample and count. */
  evalStart: number;
  evalCount: number;
}

/**
 * The held-out split of `count` samples: calibration takes the first `samples` (or all but a quarter, at least one,
 * at most {@link DEFAULT_EVAL_SAMPLES}, held out), evaluation the ones after it. Fewer than two samples cannot be
 * split (E_CALIB_SAMPLES: pass --eval-data).
 */
export function heldOutSplit(count: number, samples: number | undefined, maxEval = DEFAULT_EVAL_SAMPLES): HeldOutSplit {
  if (samples !== undefined) {
    if (samples >= count)
      throw new QuantError("E_CALIB_SAMPLES", `an accuracy target needs evaluation samples apart from the ${samples} calibration samples: the data has ${count}; pass --eval-data or fewer --samples`);
    return { calibrate: samples, evalStart: samples, evalCount: Math.min(maxEval, count - samples) };
  }
  if (count < 2) throw new QuantError("E_CALIB_SAMPLES", `an accuracy target needs evaluation samples apart from the calibration samples: the data has ${count}; pass --eval-data`);
  const evalCount = Math.min(maxEval, Math.max(1, Math.round(count / 4)));
  return { calibrate: count - evalCount, evalStart: count - evalCount, evalCount };
}

/** The evaluation samples, as batches the model takes (one sample per batch, or the model's fixed batch). */
export interface EvalSet {
  batches: Batch[];
  /** Samples in all batches. */
  count: number;
  /** Samples per batch. */
  step: number;
  /** Where they came from, for the summary. */
  source: string;
  /** Labels per sample (accuracy targets). */
  labels?: Int32Array;
}

/**
 * Open the evaluation samples: `evalData`, else the held-out part of `data` (`split`), else random data of the
 * model's declared shapes with a seed apart from calibration's (what `validate` does without data; said in `source`).
 */
export async function openEvalSet(model: Model, options: DataOptions, evalData: string | undefined, split: HeldOutSplit | undefined, labels: string | undefined, calibrates: boolean, maxEval = DEFAULT_EVAL_SAMPLES): Promise<EvalSet> {
  const inputs = modelInputs(model);
  const spec = { inputs: options.inputs, sampleAxis: options.sampleAxis, shapes: options.shapes, images: typeof options.images === "string" ? { preset: options.images } : options.images as never };
  let source: string;
  let start = 0;
  let count: number;
  const data = evalData ?? options.data;
  const opened = await openData(data, { ...spec, seed: evalData ? options.seed : options.seed + 7919, maxSamples: data === undefined ? 4 : undefined }, inputs);
  try {
    const ds = opened.dataset;
    if (evalData) {
      count = Math.min(ds.count, maxEval);
      source = `${count} of ${ds.count} samples of --eval-data ${evalData}`;
    } else if (opened.random.length === inputs.length) {
      count = ds.count;
      source = `${count} random N(0,1) samples of the declared input shapes (seed ${options.seed + 7919}, apart from calibration's; no --data or --eval-data given)`;
    } else if (split && calibrates) {
      start = split.evalStart;
      count = split.evalCount;
      source = `samples ${start}–${start + count - 1} of ${typeof data === "string" ? data : "--data"}, held out: calibration used samples 0–${split.calibrate - 1}`;
    } else {
      count = Math.min(ds.count, maxEval);
      const why = calibrates ? "ranges from --stats-in: quant cannot tell which samples they came from; pass --eval-data" : "weight-only: nothing is calibrated on them";
      source = `${count} of ${ds.count} samples of ${typeof data === "string" ? data : "--data"} (${why})`;
    }
    const step = batchPlan(inputs, ds).fixed ?? 1;
    const batches: Batch[] = [];
    for (let i = start; i + step <= start + count; i += step) batches.push(copyBatch(ds.batch(i, step)));
    if (!batches.length) throw new QuantError("E_CALIB_SAMPLES", `no evaluation samples (the model's batch is ${step}, ${count} samples held out)`);
    const set: EvalSet = { batches, count: batches.length * step, step, source };
    if (labels) set.labels = readLabels(labels, evalData ? 0 : start, set.count);
    return set;
  } finally {
    opened.close();
  }
}

/** A batch whose arrays the dataset will not reuse. */
function copyBatch(b: Batch): Batch {
  const out: Batch = {};
  for (const [k, v] of Object.entries(b)) out[k] = { data: v.data.slice() as typeof v.data, dims: [...v.dims], elemType: v.elemType };
  return out;
}

/** Integer labels `[offset, offset+count)` of a `.npy` file. */
function readLabels(path: string, offset: number, count: number): Int32Array {
  const a = readNpy(path);
  const n = a.data.length;
  if (n < offset + count) throw new QuantError("E_DATA_FORMAT", `--labels ${path} has ${n} labels; the evaluation samples need ${offset + count}`, { file: path });
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) out[i] = Number(a.data[offset + i]);
  return out;
}

/** Outputs of one model on every evaluation batch: [batch][measured output]. */
export type EvalOutputs = Float32Array[][];

/** Run `session` on every batch, fetching `names`, with `extra` feeds (gates) taking precedence over the batch. */
export async function runEval(session: RuntimeSession, set: EvalSet, names: readonly string[], extra: TensorMap = {}): Promise<EvalOutputs> {
  const out: EvalOutputs = [];
  for (const b of set.batches) {
    const feeds: TensorMap = {};
    for (const n of session.inputNames) {
      if (extra[n]) feeds[n] = extra[n]!;
      else if (b[n]) feeds[n] = session.tensor(b[n]!.data, b[n]!.dims, b[n]!.elemType);
      else throw new QuantError("E_CALIB_SHAPE", `model input "${n}" has no evaluation data`, { target: n });
    }
    const r = await session.run(feeds, names);
    out.push(names.map((n) => Float32Array.from(tensorFloats(r[n]!))));
  }
  return out;
}

/** The metric of the search against the float model's outputs. */
export class Scorer {
  readonly signal: number;
  readonly floatAccuracy?: number;
  constructor(readonly ref: EvalOutputs, readonly target: AccuracyTarget, readonly set: EvalSet) {
    let s = 0;
    for (const b of ref) for (const o of b) for (let i = 0; i < o.length; i++) s += o[i]! * o[i]!;
    this.signal = s;
    if (target.kind === "accuracy") {
      if (!set.labels) throw new QuantError("E_USAGE", "--target-accuracy needs --labels (integer class per evaluation sample, .npy)");
      this.floatAccuracy = this.accuracy(ref);
    }
  }
  /** Σ(y−ŷ)² over every output and sample. */
  noise(out: EvalOutputs): number {
    let e = 0;
    for (let b = 0; b < out.length; b++) for (let j = 0; j < out[b]!.length; j++) {
      const a = out[b]![j]!, r = this.ref[b]![j]!;
      for (let i = 0; i < r.length; i++) {
        const d = a[i]! - r[i]!;
        e += d * d;
      }
    }
    return e;
  }
  /** Output SQNR in dB for a noise figure. */
  sqnrOf(noise: number): number {
    return noise === 0 ? Infinity : 10 * Math.log10(this.signal / noise);
  }
  /** Top-1 accuracy of the first measured output against the labels. */
  accuracy(out: EvalOutputs): number {
    const labels = this.set.labels!;
    let right = 0;
    let k = 0;
    for (const b of out) {
      const o = b[0]!;
      const classes = o.length / this.set.step;
      for (let s = 0; s < this.set.step; s++, k++) {
        let best = 0;
        for (let c = 1; c < classes; c++) if (o[s * classes + c]! > o[s * classes + best]!) best = c;
        if (best === labels[k]) right++;
      }
    }
    return right / k;
  }
  /** The target's metric of `out`. */
  value(out: EvalOutputs): number {
    return this.target.kind === "sqnr" ? this.sqnrOf(this.noise(out)) : this.accuracy(out);
  }
  /** True when `value` meets the target. */
  meets(value: number): boolean {
    return this.target.kind === "sqnr" ? value >= this.target.db : value >= this.floatAccuracy! - this.target.drop - 1e-12;
  }
  /** "25.0 dB" / "accuracy 0.981 (float 0.990)". */
  format(value: number): string {
    return this.target.kind === "sqnr" ? `${value.toFixed(1)} dB` : `accuracy ${value.toFixed(4)}`;
  }
}
