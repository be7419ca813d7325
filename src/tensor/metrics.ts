/**
 * Error metrics between a reference tensor (the float model) and a test tensor (the quantized model):
 * SQNR, cosine similarity, max abs error and top-1 agreement, as one-shot functions and as a streaming accumulator
 * that folds batch after batch in O(1) memory (the validator never keeps outputs of past batches).
 * Sums are kept in float64 so millions of elements do not lose precision.
 */
import { QuantError } from "../errors/errors.ts";
import { sqnrDb } from "./quantize.ts";

export { sqnrDb };

/** A float tensor's values (what onnxruntime returns for float/double outputs). */
export type FloatArray = Float32Array | Float64Array;

function sameLength(a: FloatArray, b: FloatArray, what: string): void {
  if (a.length !== b.length) throw new QuantError("E_VALIDATE", `${what} of arrays of different lengths (${a.length} vs ${b.length})`);
}

/** Cosine similarity `a·b / (|a||b|)`; 1 when both are all zeros, 0 when exactly one is. */
export function cosine(a: FloatArray, b: FloatArray): number {
  sameLength(a, b, "cosine");
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return cosineOf(dot, na, nb);
}

function cosineOf(dot: number, na: number, nb: number): number {
  if (na === 0 && nb === 0) return 1;
  if (na === 0 || nb === 0) return 0;
  return dot / Math.sqrt(na * nb);
}

/** Largest `|a[i] − b[i]|`; NaN when any element of either is NaN. */
export function maxAbs(a: FloatArray, b: FloatArray): number {
  sameLength(a, b, "max abs error");
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (d > m) m = d;
    else if (d !== d) return NaN;
  }
  return m;
}

/** Index of the largest of `n` values starting at `offset` (first one on ties; NaN never wins). */
function argmax(v: FloatArray, offset: number, n: number): number {
  let best = 0;
  let bv = -Infinity;
  for (let j = 0; j < n; j++) {
    const x = v[offset + j]!;
    if (x > bv) (bv = x), (best = j);
  }
  return best;
}

/**
 * Fraction of rows (`classes` consecutive values each: the last dim) whose argmax agrees.
 * @example top1Agreement(logitsFloat, logitsQuant, 10) // 0.995
 */
export function top1Agreement(a: FloatArray, b: FloatArray, classes: number): number {
  sameLength(a, b, "top-1 agreement");
  if (classes < 1 || a.length % classes !== 0) throw new QuantError("E_VALIDATE", `top-1 agreement: ${a.length} values are not rows of ${classes}`);
  const rows = a.length / classes;
  let same = 0;
  for (let r = 0; r < rows; r++) if (argmax(a, r * classes, classes) === argmax(b, r * classes, classes)) same++;
  return rows ? same / rows : 1;
}

/** Metrics of one tensor compared over all batches. */
export interface ErrorMetrics {
  /** 10·log10(Σx² / Σ(x−y)²) in dB; Infinity when identical. */
  sqnrDb: number;
  cosine: number;
  maxAbsError: number;
  /** Fraction of rows (over the last dim) with the same argmax; undefined when the last dim is 1 or unknown. */
  top1Agreement?: number;
  /** Elements compared. */
  elements: number;
  /** Non-finite (NaN/±Inf) elements in the test tensor, and in the reference. */
  nonFinite: number;
  nonFiniteReference: number;
}

/**
 * Streaming comparison of a reference and a test tensor over batches: `add` each batch, read `result` at the end.
 * Non-finite test elements are counted and left out of the sums (so one NaN does not hide the rest's SQNR).
 */
export class ErrorAccumulator {
  private signal = 0;
  private noise = 0;
  private dot = 0;
  private testSq = 0;
  private max = 0;
  private rows = 0;
  private sameRows = 0;
  private n = 0;
  private bad = 0;
  private badRef = 0;

  /** Fold one batch. `classes` (the last dim) enables top-1 agreement when > 1. */
  add(reference: FloatArray, test: FloatArray, classes?: number): void {
    sameLength(reference, test, "comparison");
    const n = reference.length;
    let signal = 0, noise = 0, dot = 0, testSq = 0, max = 0;
    // Fast path with no per-element finiteness test: a NaN/Inf anywhere makes the sums non-finite, and only then the
    // batch is summed again skipping (and counting) the non-finite elements.
    for (let i = 0; i < n; i++) {
      const x = reference[i]!;
      const y = test[i]!;
      const d = x - y;
      signal += x * x;
      noise += d * d;
      dot += x * y;
      testSq += y * y;
      const ad = Math.abs(d);
      if (ad > max) max = ad;
    }
    if (!Number.isFinite(signal + noise + dot + testSq)) {
      signal = noise = dot = testSq = max = 0;
      for (let i = 0; i < n; i++) {
        const x = reference[i]!;
        const y = test[i]!;
        const fx = Number.isFinite(x);
        const fy = Number.isFinite(y);
        if (!fx || !fy) {
          if (!fy) this.bad++;
          if (!fx) this.badRef++;
          continue;
        }
        const d = x - y;
        signal += x * x;
        noise += d * d;
        dot += x * y;
        testSq += y * y;
        const ad = Math.abs(d);
        if (ad > max) max = ad;
      }
    }
    this.signal += signal;
    this.noise += noise;
    this.dot += dot;
    this.testSq += testSq;
    if (max > this.max) this.max = max;
    this.n += n;
    if (classes !== undefined && classes > 1 && n % classes === 0) {
      const rows = n / classes;
      for (let r = 0; r < rows; r++) if (argmax(reference, r * classes, classes) === argmax(test, r * classes, classes)) this.sameRows++;
      this.rows += rows;
    }
  }

  /** The metrics so far. */
  result(): ErrorMetrics {
    return {
      sqnrDb: this.noise === 0 ? Infinity : 10 * Math.log10(this.signal / this.noise),
      cosine: cosineOf(this.dot, this.signal, this.testSq),
      maxAbsError: this.max,
      top1Agreement: this.rows ? this.sameRows / this.rows : undefined,
      elements: this.n,
      nonFinite: this.bad,
      nonFiniteReference: this.badRef,
    };
  }
}
