/**
 * A streaming, mergeable histogram of float32 values whose content is a pure function of the multiset of values observed:
 * the same values in any order, in any batching, or split over shards and merged, give bit-identical counts, bins and
 * min/max — hence bit-identical ranges from every search run on it, and byte-identical quantized models.
 *
 * Why that holds (the canonical form):
 * - Bins sit on a global grid anchored at 0 (symmetric about 0, so |x| folds exactly): with bin width `w = 2^exp`,
 *   global bin `g` is `[g·w, (g+1)·w)` and a value `x` goes to `g = floor(x · 2^-exp)`. Scaling by a power of two is
 *   exact in floating point, so `g` is exact.
 * - The window holds `bins` consecutive global bins starting at `first = floor(min · 2^-exp)`.
 * - `exp` is the smallest integer (≥ {@link MIN_EXP}) for which the window covers the max: `floor(max·2^-exp) - first < bins`.
 *   Covering is monotone in `exp` (halving indices at most halves the span) and in the data (a wider [min, max] never
 *   fits at a smaller `exp`), so adding values or merging only ever raises `exp`.
 * - Raising `exp` by `d` maps global bin `g` to `floor(g / 2^d)`, which is exactly the bin every value of `g` falls in at
 *   the coarser width: counts are summed, never split or interpolated.
 * So after any sequence of observe/merge, `(exp, first)` is the function of (min, max) above and each count is the exact
 * number of values in its bin — the state one single pass over all values would give. Counts are integers in a
 * Float64Array (exact up to 2^53 values).
 *
 * Size: the data always spans more than `bins/2` bins (else a smaller `exp` would fit), so with the default 4096 bins the
 * active range has 2048–4096 bins: ≥ 8 bins per level of an 8-bit grid over the full range, fine enough that a
 * percentile lands within 1/2048 of the range and that searches can clip to ~1/16 of the range with ≥ 1 bin per level,
 * while a histogram is 32 KB (L1-resident in the hot loop) and an O(bins × levels) search stays in milliseconds.
 */
import { QuantError } from "../errors/errors.ts";

/** Default number of bins in the window. */
export const DEFAULT_BINS = 4096;
/** Smallest bin-width exponent: only reached by constant tensors (any non-constant float32 data needs exp ≥ -161). */
export const MIN_EXP = -200;
const MAX_EXP = 1000;
const F32_MAX = 3.4028234663852886e38;

/**
 * One side of a histogram as magnitudes: bin `j` counts values with `|x|` in `[(start+j)·width, (start+j+1)·width)`
 * (for the mirrored negative side the interval is `((start+j)·width, (start+j+1)·width]`; searches do not care).
 */
export interface HistogramSide {
  readonly counts: Float64Array;
  /** Global index of `counts[0]` (≥ 0). */
  readonly start: number;
  /** Bin width, a power of two. */
  readonly width: number;
}

/** Serialized histogram (`--stats-out`); `counts` covers the bins from the min's bin to the max's bin. */
export interface HistogramJSON {
  bins: number;
  total: number;
  exp?: number;
  first?: number;
  min?: number;
  max?: number;
  counts?: number[];
}

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0; // index of the high word (little-endian → 1)

/** Exactly 2^e for integer e in [-1022, 1023] (built from the bits: no dependence on the platform's `pow`). */
export function pow2(e: number): number {
  f64[0] = 0;
  u32[HI] = (e + 1023) << 20;
  return f64[0];
}

/** `bins` if it is a valid window size (an integer in [16, 2^24]), else an E_QUANT_OPTIONS error. */
export function checkBins(bins: number): number {
  if (!Number.isInteger(bins) || bins < 16 || bins > 1 << 24)
    throw new QuantError("E_QUANT_OPTIONS", `histogram bins must be an integer in [16, 16777216], got ${bins}`);
  return bins;
}

/** Smallest exp ≥ `from` at which `[lo, hi]` fits in `bins` bins (see the module comment). */
export function requiredExp(lo: number, hi: number, from: number, bins: number): number {
  let e = from;
  const span = hi - lo;
  // log2 only gives a start point at least two below the answer; the exact integer test below decides.
  if (span > 0) e = Math.max(e, Math.floor(Math.log2(span / bins)) - 1);
  while (Math.floor(hi * pow2(-e)) - Math.floor(lo * pow2(-e)) > bins - 1) e++;
  return e;
}

/** A mergeable, order- and batching-independent histogram of one tensor's values (see the module comment). */
export class HistogramObserver {
  /** Window size in bins. */
  readonly bins: number;
  /** Bin width is `2^exp`. */
  exp = MIN_EXP;
  /** Global index of `counts[0]`: `floor(min · 2^-exp)`. */
  first = 0;
  /** Counts of the window's bins. */
  counts: Float64Array;
  /** Exact min and max of everything observed (`Infinity`/`-Infinity` when empty). */
  min = Infinity;
  max = -Infinity;
  /** Number of values observed. */
  total = 0;
  private spare: Float64Array;

  constructor(bins: number = DEFAULT_BINS) {
    this.bins = checkBins(bins);
    this.counts = new Float64Array(bins);
    this.spare = new Float64Array(bins);
  }

  /** Bin width `2^exp`. */
  get width(): number {
    return pow2(this.exp);
  }

  /** Number of window bins in use: from the min's bin to the max's bin (0 when empty). */
  get used(): number {
    return this.total === 0 ? 0 : Math.floor(this.max * pow2(-this.exp)) - this.first + 1;
  }

  /**
   * Add a batch of values. `min`/`max` must be the batch's exact min and max when given (the runtime reduces them in the
   * graph); they are computed otherwise. `values` may be a subsample of the batch (the runtime exposes one for large
   * activations): it need not reach `min`/`max`, which still set the range, so the histogram covers the whole data's
   * range with counts of the subsample. One pass, no allocation (growing rebins into a spare buffer). NaN, Inf or
   * values outside the given min/max throw E_CALIB_NONFINITE (the histogram is then unusable: the run fails anyway).
   */
  observe(values: Float32Array, min?: number, max?: number): void {
    const n = values.length;
    if (n === 0) return;
    if (min === undefined || max === undefined) {
      let lo = Infinity;
      let hi = -Infinity;
      for (let i = 0; i < n; i++) {
        const x = values[i]!;
        if (x < lo) lo = x;
        if (x > hi) hi = x;
      }
      min = lo;
      max = hi;
    }
    if (!Number.isFinite(min) || !Number.isFinite(max) || min > max)
      throw new QuantError("E_CALIB_NONFINITE", `activation values are not finite (batch min ${min}, max ${max}); check the calibration data`);
    this.cover(min + 0, max + 0); // + 0 turns -0 into 0, which JSON keeps
    const c = this.counts;
    const s = pow2(-this.exp);
    const f = this.first;
    const before = this.total;
    // Hot loops: no bounds test (an out-of-window index is a no-op store on a typed array; the sum below catches it).
    let nan = 0;
    if (Math.max(-this.min, this.max) * s < 2147483647) {
      // floor(y) as trunc(y) - (trunc(y) > y): exact in int32 range, and unlike Math.floor it has no -0 check, whose
      // unpredictable branch costs 4x on ReLU outputs (half exact zeros in random order). NaN would truncate to 0.
      for (let i = 0; i < n; i++) {
        const y = values[i]! * s;
        const t = y | 0;
        nan |= +(y !== y);
        c[t - +(t > y) - f]++;
      }
    } else {
      for (let i = 0; i < n; i++) c[Math.floor(values[i]! * s) - f]++; // NaN index: a no-op store
    }
    this.total = before + n;
    let sum = 0;
    for (let k = 0, u = this.used; k < u; k++) sum += c[k]!;
    if (nan !== 0 || sum !== this.total)
      throw new QuantError("E_CALIB_NONFINITE", `activation values are NaN or outside the batch's reported [${min}, ${max}]; check the calibration data`);
  }

  /** Fold `other` (same `bins`) into this histogram: the result equals one histogram of both value multisets. */
  merge(other: HistogramObserver): void {
    if (other.bins !== this.bins)
      throw new QuantError("E_CALIB_STATS", `cannot merge histograms of ${other.bins} and ${this.bins} bins; calibrate both shards with the same bins`);
    if (other.total === 0) return;
    const exp = Math.max(this.exp, other.exp);
    this.cover(other.min, other.max, exp);
    const c = this.counts;
    const scale = pow2(other.exp - this.exp);
    const oc = other.counts;
    for (let k = 0, u = other.used; k < u; k++) {
      const v = oc[k]!;
      if (v !== 0) c[Math.floor((other.first + k) * scale) - this.first] += v;
    }
    this.total += other.total;
  }

  /** Grow (exp, first) to the canonical window of the current data plus `[lo, hi]`; rebin exactly if it changes. */
  private cover(lo: number, hi: number, atLeast: number = this.exp): void {
    const empty = this.total === 0;
    const nlo = empty ? lo : Math.min(this.min, lo);
    const nhi = empty ? hi : Math.max(this.max, hi);
    const exp = requiredExp(nlo, nhi, empty ? Math.max(MIN_EXP, atLeast) : atLeast, this.bins);
    if (exp > MAX_EXP) throw new QuantError("E_CALIB_NONFINITE", `activation range [${nlo}, ${nhi}] is too wide to bin`);
    const first = Math.floor(nlo * pow2(-exp));
    if (!empty && (exp !== this.exp || first !== this.first)) {
      const from = this.counts;
      const to = this.spare;
      const scale = pow2(this.exp - exp);
      for (let k = 0, u = this.used; k < u; k++) {
        const v = from[k]!;
        if (v !== 0) to[Math.floor((this.first + k) * scale) - first] += v;
      }
      from.fill(0);
      this.counts = to;
      this.spare = from;
    }
    this.exp = exp;
    this.first = first;
    this.min = nlo;
    this.max = nhi;
  }

  /** Values ≥ 0 as a side (a view, no copy). Empty when there are none. */
  positive(): HistogramSide {
    const u = this.used;
    const from = Math.max(0, -this.first);
    return { counts: this.counts.subarray(Math.min(from, u), u), start: Math.max(this.first, 0), width: this.width };
  }

  /** Values < 0 as magnitudes: global bin `g < 0` becomes magnitude bin `-g-1` (`[-(m+1)w, -mw)` ↦ `(mw, (m+1)w]`). */
  negative(): HistogramSide {
    const u = this.used;
    const last = Math.min(u, -this.first); // window bins [0, last) are the negative ones
    const out = new Float64Array(Math.max(last, 0));
    for (let k = 0; k < last; k++) out[last - 1 - k] = this.counts[k]!;
    return { counts: out, start: last > 0 ? -(this.first + last) : 0, width: this.width };
  }

  /** Histogram of `|x|` (both sides folded; exact because the grid is symmetric about 0). */
  magnitude(): HistogramSide {
    const p = this.positive();
    const n = this.negative();
    if (n.counts.length === 0) return p;
    if (p.counts.length === 0) return n;
    const start = Math.min(p.start, n.start);
    const out = new Float64Array(Math.max(p.start + p.counts.length, n.start + n.counts.length) - start);
    for (let j = 0; j < p.counts.length; j++) out[p.start - start + j] += p.counts[j]!;
    for (let j = 0; j < n.counts.length; j++) out[n.start - start + j] += n.counts[j]!;
    return { counts: out, start, width: p.width };
  }

  /** A deep copy. */
  clone(): HistogramObserver {
    const h = new HistogramObserver(this.bins);
    h.merge(this);
    return h;
  }

  /** JSON form (canonical, so equal states serialize to equal text). */
  toJSON(): HistogramJSON {
    if (this.total === 0) return { bins: this.bins, total: 0 };
    return { bins: this.bins, total: this.total, exp: this.exp, first: this.first, min: this.min, max: this.max, counts: Array.from(this.counts.subarray(0, this.used)) };
  }

  /** Rebuild from {@link toJSON}; refuses anything that is not a canonical histogram (so merges stay exact). */
  static fromJSON(json: unknown, where = "histogram"): HistogramObserver {
    const bad = (why: string): never => {
      throw new QuantError("E_CALIB_STATS", `${where}: ${why}; the stats file is damaged or from another version (re-run calibration with --stats-out)`);
    };
    if (typeof json !== "object" || json === null) return bad("not an object");
    const j = json as HistogramJSON;
    if (!Number.isInteger(j.bins) || j.bins < 16 || j.bins > 1 << 24) return bad(`bad bins ${j.bins}`);
    const h = new HistogramObserver(j.bins);
    if (j.total === 0) return h;
    const { exp, first, min, max, counts } = j;
    if (!Number.isSafeInteger(j.total) || j.total < 0) return bad(`bad total ${j.total}`);
    if (typeof min !== "number" || typeof max !== "number" || !(Math.abs(min) <= F32_MAX) || !(Math.abs(max) <= F32_MAX) || min > max)
      return bad(`bad min/max ${min}, ${max}`);
    if (!Number.isInteger(exp) || exp! !== requiredExp(min, max, MIN_EXP, j.bins)) return bad(`bin exponent ${exp} does not match [${min}, ${max}]`);
    if (first !== Math.floor(min * pow2(-exp!))) return bad(`first bin ${first} does not match min ${min}`);
    h.exp = exp!;
    h.first = first;
    h.min = min;
    h.max = max;
    h.total = j.total;
    const u = h.used;
    if (!Array.isArray(counts) || counts.length !== u) return bad(`expected ${u} counts`);
    let sum = 0;
    for (let k = 0; k < u; k++) {
      const v = counts[k];
      if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) return bad(`count ${k} is not a non-negative integer`);
      h.counts[k] = v;
      sum += v;
    }
    // The min/max bins may be empty: min and max are the exact ones of the whole tensors while the counts may be of a
    // subsample (observe.ts's subsample of large activations).
    if (sum !== j.total) return bad("counts do not add up to the total");
    return h;
  }
}

/** Serialized {@link HistogramSet}. */
/** Check a search calibrator's `bits` option (integer in [2, 16]). */
export function checkBits(calibrator: string, bits: number | undefined): void {
  if (bits !== undefined && !(Number.isInteger(bits) && bits >= 2 && bits <= 16))
    throw new QuantError("E_QUANT_OPTIONS", `${calibrator} bits must be an integer in [2, 16], got ${bits}`);
}
