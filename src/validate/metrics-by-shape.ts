/**
 * Per-output metrics that depend on what the output is (see output-kind.ts): top-1 agreement along the class axis for
 * classifiers, agreement at 0.5 and foreground IoU for probability maps, and — with labels — labelled top-1 accuracy
 * of the float and the quantized model. Streams over batches like ErrorAccumulator: no per-element allocation, memory
 * independent of the number of samples.
 */
import type { FloatArray } from "../tensor/metrics.ts";
import { classLayout, outputKind, type ClassLayout, type OutputKind, type OutputRule } from "./output-kind.ts";

/** Labelled accuracy of one classifier output (`--labels`). */
export interface LabelledAccuracy {
  /** The labels file (or a description of where the labels came from). */
  labels: string;
  /** The output the labels were compared with. */
  output: string;
  samples: number;
  /** Top-1 accuracy of the float model and of the quantized model, in [0, 1]. */
  float: number;
  quantized: number;
  /** `float - quantized` (positive: the quantized model is worse). */
  drop: number;
}

/** What {@link ShapeMetricsAccumulator.result} reports for one output. */
export interface ShapeMetrics {
  kind: OutputKind;
  /** Runtime dims of one batch's output (the first batch). */
  dims: number[];
  /** Classifier only: the class axis and the number of rows compared (one per sample, anchor or pixel). */
  classAxis?: number;
  rows?: number;
  top1Agreement?: number;
  /** Probabilities only: share of values on the same side of 0.5, and IoU of the sets above 0.5 (1 when both are empty). */
  pixelAgreement?: number;
  foregroundIoU?: number;
  /** Why a Sigmoid output was judged as plain values (a reference value outside [0, 1]). */
  note?: string;
  accuracy?: LabelledAccuracy;
}

/** Labels of the samples in data order (class indices), and where they came from. */
export interface Labels {
  values: Int32Array;
  source: string;
}

/** argmax over `classes` values starting at `at` with stride `step` (the first maximum wins, as numpy's). */
function argmaxStrided(a: FloatArray, at: number, classes: number, step: number): number {
  let best = 0;
  let max = a[at]!;
  for (let c = 1; c < classes; c++) {
    const v = a[at + c * step]!;
    if (v > max || (max !== max && v === v)) {
      max = v;
      best = c;
    }
  }
  return best;
}

/** Streaming per-shape metrics of one output. */
export class ShapeMetricsAccumulator {
  private kind: OutputKind | undefined;
  private dims: number[] = [];
  private layout: ClassLayout | undefined;
  private rows = 0;
  private same = 0;
  private values = 0;
  private agree = 0;
  private inter = 0;
  private union = 0;
  private outOfRange = 0;
  private labelled = 0;
  private rightFloat = 0;
  private rightQuant = 0;
  private seen = 0;
  private unlabelled: string | undefined;

  constructor(
    readonly name: string,
    private readonly rule: OutputRule,
    private readonly labels?: Labels,
  ) {}

  /**
   * Fold one batch: `reference` and `test` with runtime `dims`, holding samples `first … first + count - 1` of the data
   * (for labels: row r of a classifier with one row per sample is sample `first + r`).
   */
  add(reference: FloatArray, test: FloatArray, dims: readonly number[], first: number, count: number): void {
    if (this.kind === undefined) {
      this.kind = outputKind(this.rule, dims);
      this.dims = [...dims];
      this.layout = this.kind === "classifier" ? classLayout(this.rule, dims) : undefined;
    }
    if (this.kind === "classifier") this.addClassifier(reference, test, dims, first, count);
    else if (this.kind === "probability-map" || this.kind === "probabilities") this.addProbabilities(reference, test, first, count);
  }

  private addClassifier(reference: FloatArray, test: FloatArray, dims: readonly number[], first: number, count: number): void {
    // The layout can differ per batch only in the batch dim (a last partial batch): recompute it from these dims.
    const l = classLayout(this.rule, dims) ?? this.layout!;
    const { outer, classes, inner } = l;
    if (outer * classes * inner !== reference.length) return;
    const rowsPerBatch = outer * inner;
    const labels = this.usableLabels(rowsPerBatch, count, `${rowsPerBatch} class rows`);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const at = o * classes * inner + i;
        const a = argmaxStrided(reference, at, classes, inner);
        const b = argmaxStrided(test, at, classes, inner);
        if (a === b) this.same++;
        if (labels) {
          const y = labels.values[first + o * inner + i]!;
          if (a === y) this.rightFloat++;
          if (b === y) this.rightQuant++;
          this.labelled++;
        }
      }
    }
    this.rows += rowsPerBatch;
  }

  private addProbabilities(reference: FloatArray, test: FloatArray, first: number, count: number): void {
    const n = reference.length;
    let agree = 0, inter = 0, union = 0, bad = 0;
    for (let i = 0; i < n; i++) {
      const x = reference[i]!;
      const y = test[i]!;
      if (!(x >= 0 && x <= 1)) bad++;
      const a = x > 0.5;
      const b = y > 0.5;
      if (a === b) agree++;
      if (a && b) inter++;
      if (a || b) union++;
    }
    this.values += n;
    this.agree += agree;
    this.inter += inter;
    this.union += union;
    this.outOfRange += bad;
    // One probability per sample: a binary classifier, label 1 = above 0.5.
    const labels = this.usableLabels(n, count, `${n} probabilities`);
    if (labels) {
      for (let i = 0; i < n; i++) {
        const y = labels.values[first + i]!;
        if (+(reference[i]! > 0.5) === y) this.rightFloat++;
        if (+(test[i]! > 0.5) === y) this.rightQuant++;
        this.labelled++;
      }
    }
  }

  /** The labels when this batch has one row per sample (else why not, kept for the message). */
  private usableLabels(rows: number, count: number, what: string): Labels | undefined {
    if (!this.labels || this.unlabelled) return undefined;
    if (rows === count && this.labels.values.length >= this.seen + count) {
      this.seen += count;
      return this.labels;
    }
    this.unlabelled = rows === count ? `the labels end before the samples do` : `${what} for ${count} sample(s): labels need one per sample`;
    this.labelled = 0;
    return undefined;
  }

  /** Why the labels could not be compared with this output (undefined when they were, or none were given). */
  get labelsRefused(): string | undefined {
    return this.labels && this.kind !== "classifier" && this.kind !== "probabilities" && this.kind !== "probability-map" ? `a ${this.kind ?? "values"} output` : this.unlabelled;
  }

  /** The metrics so far. */
  result(): ShapeMetrics {
    const kind = this.kind ?? "values";
    const out: ShapeMetrics = { kind, dims: this.dims };
    if (kind === "classifier" && this.rows) {
      out.classAxis = this.layout?.axis;
      out.rows = this.rows;
      out.top1Agreement = this.same / this.rows;
    }
    if ((kind === "probability-map" || kind === "probabilities") && this.values) {
      if (this.outOfRange) {
        out.kind = "values";
        out.note = `produced by a Sigmoid but ${this.outOfRange} reference value(s) lie outside [0, 1]: judged as plain values`;
        return out;
      }
      out.pixelAgreement = this.agree / this.values;
      out.foregroundIoU = this.union ? this.inter / this.union : 1;
    }
    if (this.labels && this.labelled && !this.unlabelled) {
      const f = this.rightFloat / this.labelled;
      const q = this.rightQuant / this.labelled;
      out.accuracy = { labels: this.labels.source, output: this.name, samples: this.labelled, float: f, quantized: q, drop: f - q };
    }
    return out;
  }
}

/**
 * The default bar of `quant validate` and of the `fidelity` validator: every float output's SQNR against the float
 * model must reach 20 dB. Below ~20 dB a classifier's top-1 starts to flip and a map's edges move visibly; a
 * well-quantized INT8 CNN lands at 25–45 dB, a broken one (INT4 defaults on a CNN: 3–5 dB) far below.
 */
export const DEFAULT_MIN_SQNR_DB = 20;

const pct = (v: number) => `${(100 * v).toFixed(2)}%`;

/** One human phrase for the shape metrics of an output ("top-1 agreement 99.20% over 4420 rows", …), "" for plain values. */
export function describeShapeMetrics(s: ShapeMetrics): string {
  const parts: string[] = [];
  if (s.top1Agreement !== undefined) parts.push(`top-1 agreement ${pct(s.top1Agreement)}${s.rows !== undefined ? ` over ${s.rows} row(s) on axis ${s.classAxis}` : ""}`);
  if (s.pixelAgreement !== undefined)
    parts.push(`${s.kind === "probability-map" ? "pixel agreement" : "agreement"} at 0.5 ${pct(s.pixelAgreement)}, foreground IoU ${s.foregroundIoU!.toFixed(4)}`);
  if (s.accuracy) parts.push(`labelled top-1 ${pct(s.accuracy.float)} float → ${pct(s.accuracy.quantized)} quantized (drop ${(100 * s.accuracy.drop).toFixed(2)} points, ${s.accuracy.samples} labels)`);
  if (s.note) parts.push(s.note);
  return parts.join(", ");
}
