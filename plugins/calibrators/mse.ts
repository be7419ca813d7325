/**
 * `mse` calibrator: the range whose quantization error, clipping included, is smallest in expectation over the
 * histogram — the quantity SQNR measures.
 *
 * Error model (values uniform within each bin, the quantizer of the returned range as ONNX Runtime builds it:
 * asymmetric `step = (max - min) / 255` with the zero point rounded so 0 is exact; symmetric `step = absmax / 127`):
 * - `|x| < step/2` rounds to the exact 0: error `x²` (keeps ReLU's spike of zeros from counting as rounding noise);
 * - other values inside the representable range: `step² / 12`;
 * - values past a clip point `t`: `(x - t)²`.
 * With prefix sums of the bins' count, first and second moments, every candidate costs O(1), so *every* bin edge is
 * tried: unsigned data (after ReLU) scans the max with the min at 0; symmetric scans |x|; signed asymmetric data scans
 * both ends scaled together, then refines each end with the other fixed until no end moves.
 *
 * Data: the runtime gives each histogram the exact min/max of every whole tensor (in-graph reductions), and the values
 * of tensors up to 16Ki elements per sample; larger rank-4 activations are binned from a fixed strided spatial
 * subsample of about 16Ki values per sample (src/runtime/subsample.ts), a deliberate speed/accuracy trade-off:
 * the histogram always spans the data's exact min and max, only where to clip is estimated from the subsample, and
 * small models (digits_cnn, digits_transformer) are binned exactly as before.
 */
import { QuantError, checkBits, histogramCalibrator, type HistogramObserver, type HistogramSide, type Range, type OptionKeys } from "../../src/index.ts";

/** Options of {@link mse}. */
export interface MseOptions {
  /** Model a symmetric quantizer (int8, zero point 0, step absmax/127) instead of asymmetric uint8 (default false). */
  symmetric?: boolean;
  /** Bit width of the activations (default 8). */
  bits?: number;
  /** Histogram bins (default 4096). */
  bins?: number;
}

/** The options this plugin takes: a config giving any other key is refused (E_CONFIG). */
export const optionKeys: OptionKeys<MseOptions> = { symmetric: true, bits: true, bins: true };

/** Moments of one side, in units of its bins, with positions local to the side (`y = |x|/width - start`). */
class Moments {
  readonly c: Float64Array;
  readonly start: number;
  readonly n: number;
  private readonly p0: Float64Array;
  private readonly p1: Float64Array;
  private readonly p2: Float64Array;
  constructor(side: HistogramSide) {
    const c = side.counts;
    const n = c.length;
    this.c = c;
    this.n = n;
    this.start = side.start;
    this.p0 = new Float64Array(n + 1);
    this.p1 = new Float64Array(n + 1);
    this.p2 = new Float64Array(n + 1);
    for (let j = 0; j < n; j++) {
      const v = c[j]!;
      this.p0[j + 1] = this.p0[j]! + v;
      this.p1[j + 1] = this.p1[j]! + v * (j + 0.5);
      this.p2[j + 1] = this.p2[j]! + v * (j * j + j + 1 / 3);
    }
  }
  // Count, Σy and Σy² of the values below the last position given to `load` (fields, so nothing is allocated).
  private m0 = 0;
  private m1 = 0;
  private m2 = 0;
  /** Moments of the values below local position `y` (uniform within bins) into m0, m1, m2. */
  private load(y: number): void {
    const n = this.n;
    if (y <= 0) {
      this.m0 = this.m1 = this.m2 = 0;
    } else if (y >= n) {
      this.m0 = this.p0[n]!;
      this.m1 = this.p1[n]!;
      this.m2 = this.p2[n]!;
    } else {
      const j = Math.floor(y);
      const f = y - j;
      const v = this.c[j]!;
      this.m0 = this.p0[j]! + v * f;
      this.m1 = this.p1[j]! + v * (j * f + (f * f) / 2);
      this.m2 = this.p2[j]! + v * (j * j * f + j * f * f + (f * f * f) / 3);
    }
  }
  /** Expected squared error of this side (bins², summed over values) with step `d` and clip magnitude `t` (bin units). */
  error(t: number, d: number): number {
    const n = this.n;
    if (n === 0) return 0;
    const s = this.start;
    const tl = t - s;
    const zl = Math.min(d / 2, t) - s;
    // values rounded to 0: Σ x² = Σ (y + s)²
    this.load(zl);
    const z0 = this.m0;
    const zero = this.m2 + 2 * s * this.m1 + s * s * z0;
    this.load(tl);
    const round = ((d * d) / 12) * Math.max(0, this.m0 - z0);
    const n0 = this.p0[n]! - this.m0;
    const n1 = this.p1[n]! - this.m1;
    const n2 = this.p2[n]! - this.m2;
    const clip = Math.max(0, n2 - 2 * tl * n1 + tl * tl * n0);
    return zero + round + clip;
  }
  /** Largest magnitude present (bin units, upper edge of the last bin). */
  get top(): number {
    return this.start + this.n;
  }
}

/** Range minimizing the expected quantization + clipping error of `h`. */
export function mseRange(h: HistogramObserver, opts: { symmetric?: boolean; bits?: number } = {}): Range {
  const { min, max } = h;
  if (!(min < max)) return { min, max };
  const bits = opts.bits ?? 8;
  const w = h.width;
  const clampRange = (a: number, b: number): Range => ({ min: Math.max(min, -a * w), max: Math.min(max, b * w) });
  if (opts.symmetric) {
    const levels = 2 ** (bits - 1) - 1;
    const m = new Moments(h.magnitude());
    const t = scan(m, Math.max(Math.abs(min), max) / w, (t) => m.error(t, t / levels));
    return clampRange(t, t);
  }
  const steps = 2 ** bits - 1;
  const pos = new Moments(h.positive());
  const neg = new Moments(h.negative());
  const bTop = Math.max(max, 0) / w;
  const aTop = Math.max(-min, 0) / w;
  if (neg.n === 0) return clampRange(0, scan(pos, bTop, (b) => pos.error(b, b / steps)));
  if (pos.n === 0 || bTop === 0) return clampRange(scan(neg, aTop, (a) => neg.error(a, a / steps)), 0);
  // Two-sided: error of the range [-a, b] under an ORT-style grid (zero point rounded, so the clip points move a little).
  const err = (a: number, b: number): number => {
    const d = (a + b) / steps;
    const zp = Math.min(steps, Math.max(0, Math.round(a / d)));
    return neg.error(zp * d, d) + pos.error((steps - zp) * d, d);
  };
  // 1) both ends scaled together by every ratio k/K, K = the larger end in bins;
  const K = Math.ceil(Math.max(aTop, bTop));
  let bestA = aTop;
  let bestB = bTop;
  let best = err(aTop, bTop);
  for (let k = 1; k < K; k++) {
    const a = (aTop * k) / K;
    const b = (bTop * k) / K;
    const e = err(a, b);
    if (e < best) {
      best = e;
      bestA = a;
      bestB = b;
    }
  }
  // 2) then each end over all its bin edges with the other fixed, until neither moves.
  for (let round = 0; round < 16; round++) {
    const b = scan(pos, bTop, (b) => err(bestA, b));
    const a = scan(neg, aTop, (a) => err(a, b));
    const e = err(a, b);
    if (!(e < best)) break;
    best = e;
    bestA = a;
    bestB = b;
  }
  return clampRange(bestA, bestB);
}

/** The candidate in {every bin edge of `m` below `top`, `top`} with the smallest `cost` (first one on ties). */
function scan(m: Moments, top: number, cost: (t: number) => number): number {
  let bestT = top;
  let best = cost(top);
  for (let u = Math.max(m.start + 1, 1); u < top; u++) {
    const e = cost(u);
    if (e < best) {
      best = e;
      bestT = u;
    }
  }
  return bestT;
}

/** `mse` calibrator factory: `["mse", { symmetric: true }]` in a config. */
export default function mse(opts: MseOptions = {}) {
  checkBits("mse", opts.bits);
  return histogramCalibrator("mse", opts, opts.bins ?? 4096, () => (h) => mseRange(h, opts));
}
