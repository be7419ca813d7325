/**
 * Clip search: per group (channel or block), pick the scale (and, asymmetric, the zero point) that minimizes the
 * reconstruction MSE instead of covering min/max. At 4 bits: +0.2–0.5 dB of weight SQNR for blocks of 32, +1–1.8 dB per
 * channel (larger groups have longer tails to clip); at 8 bits, a few hundredths of a dB.
 *
 * How: candidate steps scale the min/max step by ratios in [minRatio, maxRatio] (asymmetric: the min/max range shrinks
 * jointly, then each end on its own). Each candidate is scored after a least-squares refit of its step: for the codes u the
 * candidate picks, the best step is s* = Σxu/Σu², with error Σx² − (Σxu)²/Σu². Rounding again at s* can only lower that
 * error (each value then takes its nearest in-range code), so a score is an upper bound of what the final quantization gets.
 * A finer pair around the best ratio plus one Lloyd iteration (round at the refitted step, refit again) polish the winner;
 * finally its exact error, computed with the runtime's fp32 arithmetic, is compared with min/max and the better one is
 * kept: clip search is never worse than min/max for any group. Defaults (ratios 1.2..0.5 by 0.1, then ±0.05: 11 candidates
 * in 3 passes) are within 0.02 dB of an exhaustive 0.01-step search on digits_transformer and Gaussian weights.
 *
 * Speed: candidates are scored four per pass over the group (independent accumulators keep the FPU busy and the data is
 * read once), with no allocation per group or candidate. Non-contiguous groups are gathered into one scratch buffer.
 */
import type { GroupLayout } from "./kernels.ts";
import { idealScale, zeroPointForRange } from "./zero-point.ts";

/** Knobs of the search; the defaults are what `quantizeWeights` uses. */
export interface ClipSearchOptions {
  /** Smallest ratio of the min/max step (range, asymmetric) tried (default 0.5). */
  minRatio?: number;
  /** Largest ratio tried by the symmetric search (default 1.2): a coarser step can fit a small group's codes better. */
  maxRatio?: number;
  /** Step of the coarse ratio grid (default 0.1); asymmetric ends then move ±step, ±2·step on their own. */
  step?: number;
  /** Fine candidates on each side of the best coarse ratio (default 1), `fineStep` apart (default 0.05). */
  fine?: number;
  fineStep?: number;
}

const RNE = 6755399441055744; // v + RNE - RNE rounds half to even (see quantize.ts)
const MIN_SCALE = 2 ** -126;

// A batch of up to 4 candidates: 1/step, code bounds, zero point; results Σxu and Σu². Module-level: no allocation.
const bInv = new Float64Array(4);
const bLo = new Float64Array(4);
const bHi = new Float64Array(4);
const bZp = new Int32Array(4);
const bRatio = new Float64Array(4);
const bXU = new Float64Array(4);
const bUU = new Float64Array(4);
let batchSize = 0;

/** Σxu and Σu² of the batch's candidates over `x[off..off+n)`, one pass. Plain double arithmetic: this only ranks candidates. */
function scoreBatch(x: Float32Array, off: number, n: number): void {
  const i0 = bInv[0]!, i1 = bInv[1]!, i2 = bInv[2]!, i3 = bInv[3]!;
  const l0 = bLo[0]!, l1 = bLo[1]!, l2 = bLo[2]!, l3 = bLo[3]!;
  const h0 = bHi[0]!, h1 = bHi[1]!, h2 = bHi[2]!, h3 = bHi[3]!;
  let a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
  for (let j = off, end = off + n; j < end; j++) {
    const v = x[j]!;
    let u0 = v * i0, u1 = v * i1, u2 = v * i2, u3 = v * i3;
    u0 = u0 < l0 ? l0 : u0 > h0 ? h0 : u0;
    u1 = u1 < l1 ? l1 : u1 > h1 ? h1 : u1;
    u2 = u2 < l2 ? l2 : u2 > h2 ? h2 : u2;
    u3 = u3 < l3 ? l3 : u3 > h3 ? h3 : u3;
    u0 = u0 + RNE - RNE;
    u1 = u1 + RNE - RNE;
    u2 = u2 + RNE - RNE;
    u3 = u3 + RNE - RNE;
    a0 += v * u0; b0 += u0 * u0;
    a1 += v * u1; b1 += u1 * u1;
    a2 += v * u2; b2 += u2 * u2;
    a3 += v * u3; b3 += u3 * u3;
  }
  bXU[0] = a0; bXU[1] = a1; bXU[2] = a2; bXU[3] = a3;
  bUU[0] = b0; bUU[1] = b1; bUU[2] = b2; bUU[3] = b3;
}

/**
 * Exact squared errors of QuantizeLinear→DequantizeLinear with (float32 step, zero point) `(s1, z1)` and `(s2, z2)`, as the
 * runtime computes them (fp32 division, round half to even, saturation, fp32 product). Returns e1 − e2.
 */
export function exactErrorDiff(
  x: Float32Array, off: number, n: number, s1: number, z1: number, s2: number, z2: number, qmin: number, qmax: number,
): number {
  const lo1 = qmin - z1, hi1 = qmax - z1, lo2 = qmin - z2, hi2 = qmax - z2;
  const inv1 = 1 / s1; // fp32(x · (1/s)) is fp32(x / s) bit for bit (see quantizeLinear)
  const inv2 = 1 / s2;
  let e1 = 0;
  let e2 = 0;
  for (let j = off, end = off + n; j < end; j++) {
    const v = x[j]!;
    let u1 = Math.fround(v * inv1);
    let u2 = Math.fround(v * inv2);
    u1 = u1 < lo1 ? lo1 : u1 > hi1 ? hi1 : u1;
    u2 = u2 < lo2 ? lo2 : u2 > hi2 ? hi2 : u2;
    const d1 = v - Math.fround((u1 + RNE - RNE) * s1);
    const d2 = v - Math.fround((u2 + RNE - RNE) * s2);
    e1 += d1 * d1;
    e2 += d2 * d2;
  }
  return e1 - e2;
}

/** Per-call settings and the current group's best candidate. */
interface Search {
  qmin: number;
  qmax: number;
  symmetric: boolean;
  signed: boolean;
  minRatio: number;
  maxRatio: number;
  step: number;
  fine: number;
  fineStep: number;
  scale: Float32Array;
  zeroPoint: Int32Array;
  // current group
  x: Float32Array;
  off: number;
  n: number;
  /** Best score so far: −(Σxu)²/Σu², i.e. the refitted squared error minus the constant Σx². */
  bestScore: number;
  bestStep: number;
  bestZp: number;
  bestRatio: number;
}

/** Scores the queued candidates and keeps the best refitted one. Returns true if any improved the best. */
function flush(st: Search): boolean {
  const size = batchSize;
  if (size === 0) return false;
  batchSize = 0;
  for (let k = size; k < 4; k++) { // pad with copies of the first candidate
    bInv[k] = bInv[0]!; bLo[k] = bLo[0]!; bHi[k] = bHi[0]!;
  }
  scoreBatch(st.x, st.off, st.n);
  let improved = false;
  for (let k = 0; k < size; k++) {
    const sxu = bXU[k]!;
    const suu = bUU[k]!;
    if (!(suu > 0) || sxu === 0) continue;
    const score = -(sxu * sxu) / suu;
    const s = sxu / suu;
    if (score < st.bestScore && Math.abs(s) > MIN_SCALE) {
      st.bestScore = score;
      st.bestStep = s;
      st.bestZp = bZp[k]!;
      st.bestRatio = bRatio[k]!;
      improved = true;
    }
  }
  return improved;
}

/** Queues step `s` with zero point `z` (tagged with `ratio` for the fine pass); scores the batch when full. */
function push(st: Search, s: number, z: number, ratio: number): void {
  if (!(Math.abs(s) > MIN_SCALE)) return;
  bInv[batchSize] = 1 / s;
  bLo[batchSize] = st.qmin - z;
  bHi[batchSize] = st.qmax - z;
  bZp[batchSize] = z;
  bRatio[batchSize] = ratio;
  if (++batchSize === 4) flush(st);
}

/** Asymmetric candidate: the range `[lo, hi]` gets its own zero point and step. */
function pushRange(st: Search, lo: number, hi: number, ratio: number): void {
  const z = zeroPointForRange(lo, hi, st.qmin, st.qmax, false);
  push(st, idealScale(lo, hi, z, st.qmin, st.qmax), z, ratio);
}

/** Symmetric: steps `base·r` over the coarse grid, then the refit of the best (a Lloyd iteration) and a finer grid around it. */
function scanSymmetric(st: Search, base: number, z: number): void {
  const { minRatio, maxRatio, step, fineStep } = st;
  const before = st.bestScore;
  for (let r = maxRatio; r >= minRatio - 1e-9; r -= step) push(st, base * r, z, r);
  flush(st);
  if (!(st.bestScore < before) || Math.sign(st.bestStep) !== Math.sign(base)) return;
  const r0 = st.bestRatio;
  push(st, st.bestStep, z, r0);
  for (let k = 1; k <= st.fine; k++) {
    push(st, base * (r0 - k * fineStep), z, r0 - k * fineStep);
    push(st, base * (r0 + k * fineStep), z, r0 + k * fineStep);
  }
  flush(st);
}

/** Asymmetric: both ends shrink together, then each end on its own around the best (coordinate descent), then a refit. */
function scanAsymmetric(st: Search, a: number, b: number): void {
  const { minRatio, step, fineStep } = st;
  for (let r = 1; r >= minRatio - 1e-9; r -= step) pushRange(st, r * a, r * b, r);
  flush(st);
  const rj = st.bestRatio;
  let rLo = rj;
  let rHi = rj;
  if (a < 0 && b > 0) {
    for (let k = -2; k <= 2; k++) if (k !== 0 && rj + k * step <= 1 && rj + k * step > 0) pushRange(st, (rj + k * step) * a, rj * b, rj + k * step);
    if (flush(st)) rLo = st.bestRatio;
    for (let k = -2; k <= 2; k++) if (k !== 0 && rj + k * step <= 1 && rj + k * step > 0) pushRange(st, rLo * a, (rj + k * step) * b, rj + k * step);
    if (flush(st)) rHi = st.bestRatio;
  }
  push(st, st.bestStep, st.bestZp, rHi);
  for (let k = 1; k <= st.fine; k++) {
    const d = k * fineStep;
    pushRange(st, (rLo - d) * a, (rHi - d) * b, rHi - d);
    pushRange(st, (rLo + d) * a, (rHi + d) * b, rHi + d);
  }
  flush(st);
}

/** Searches one group `x[off..off+n)` with true range `[mn, mx]` and rewrites `scale[g]`/`zeroPoint[g]` if it found better. */
function searchGroup(st: Search, x: Float32Array, off: number, n: number, g: number, mn: number, mx: number): void {
  if (!(mn < mx)) return; // constant, all-zero or empty: the min/max parameters are already exact
  const s0 = st.scale[g]!;
  const z0 = st.zeroPoint[g]!;
  const { qmin, qmax } = st;
  st.x = x;
  st.off = off;
  st.n = n;
  st.bestScore = Infinity;
  st.bestStep = s0;
  st.bestZp = z0;
  st.bestRatio = 1;
  const a = Math.min(mn, 0);
  const b = Math.max(mx, 0);
  if (st.symmetric) {
    scanSymmetric(st, idealScale(a, b, z0, qmin, qmax), z0);
    if (st.signed) scanSymmetric(st, -idealScale(-b, -a, z0, qmin, qmax), z0); // mirrored grid (negative step)
  } else {
    scanAsymmetric(st, a, b);
  }
  const s = Math.fround(st.bestStep);
  if (st.bestScore === Infinity || (s === s0 && st.bestZp === z0)) return;
  // Keep the winner only if it beats min/max under the runtime's exact fp32 arithmetic.
  if (exactErrorDiff(x, off, n, s, st.bestZp, s0, z0, qmin, qmax) < 0) {
    st.scale[g] = s;
    st.zeroPoint[g] = st.bestZp;
  }
}

/**
 * Refines `scale`/`zeroPoint` (already holding the min/max parameters) group by group. `signed` (symmetric only) also tries
 * the mirrored grid (negative steps). Contiguous groups are read in place, others gathered into one scratch buffer.
 */
export function clipSearchParams(
  data: Float32Array, l: GroupLayout, min: Float32Array, max: Float32Array, qmin: number, qmax: number, symmetric: boolean,
  signed: boolean, scale: Float32Array, zeroPoint: Int32Array, options: ClipSearchOptions = {},
): void {
  const st: Search = {
    qmin, qmax, symmetric, signed, scale, zeroPoint,
    minRatio: options.minRatio ?? 0.5, maxRatio: options.maxRatio ?? 1.2, step: options.step ?? 0.1,
    fine: options.fine ?? 1, fineStep: options.fineStep ?? 0.05,
    x: data, off: 0, n: 0, bestScore: Infinity, bestStep: 1, bestZp: 0, bestRatio: 1,
  };
  batchSize = 0;
  const { outer, channels: C, inner, blockSize: B, blocks } = l;
  if (l.kind === "tensor") return searchGroup(st, data, 0, data.length, 0, min[0]!, max[0]!);
  if (l.kind === "channel") {
    if (outer === 1) {
      for (let c = 0; c < C; c++) searchGroup(st, data, c * inner, inner, c, min[c]!, max[c]!);
      return;
    }
    const scratch = new Float32Array(outer * inner);
    for (let c = 0; c < C; c++) {
      let k = 0;
      for (let o = 0; o < outer; o++) for (let j = (o * C + c) * inner, end = j + inner; j < end; j++) scratch[k++] = data[j]!;
      searchGroup(st, scratch, 0, k, c, min[c]!, max[c]!);
    }
    return;
  }
  if (inner === 1) {
    for (let o = 0, g = 0; o < outer; o++) {
      for (let b = 0; b < blocks; b++, g++) searchGroup(st, data, o * C + b * B, Math.min(B, C - b * B), g, min[g]!, max[g]!);
    }
    return;
  }
  const scratch = new Float32Array(B);
  for (let o = 0, g = 0; o < outer; o++) {
    for (let b = 0; b < blocks; b++) {
      const c0 = b * B;
      const n = Math.min(B, C - c0);
      for (let i = 0; i < inner; i++, g++) {
        for (let k = 0, j = (o * C + c0) * inner + i; k < n; k++, j += inner) scratch[k] = data[j]!;
        searchGroup(st, scratch, 0, n, g, min[g]!, max[g]!);
      }
    }
  }
}
