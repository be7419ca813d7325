/**
 * Zero point and unrounded scale for a range: the arithmetic both the quantizer (quantize.ts) and the clipping search
 * (clip-search.ts) start from, in a file of its own so neither imports the other for it.
 */

/** Zero point of symmetric quantization: the middle code of the range (0 for signed types). */
export function symmetricZeroPoint(qmin: number, qmax: number): number {
  return qmin < 0 ? 0 : (qmax + 1) / 2;
}

/**
 * Zero point for the range `[min, max]` (already widened to include 0). Asymmetric: the integer that lets the smallest scale
 * cover both ends (each end may land up to half a step past its code: it still reconstructs within scale/2).
 */
export function zeroPointForRange(min: number, max: number, qmin: number, qmax: number, symmetric: boolean): number {
  if (symmetric) return symmetricZeroPoint(qmin, qmax);
  const a = -min;
  const b = max;
  if (a + b === 0) return qmin < 0 ? 0 : qmin;
  // s(zp) = max(a / (zp - qmin + 0.5), b / (qmax - zp + 0.5)) is minimal where both terms meet; try the integers around it.
  const real = (a * (qmax + 0.5) + b * (qmin - 0.5)) / (a + b);
  const lo = Math.min(qmax, Math.max(qmin, Math.floor(real)));
  const hi = Math.min(qmax, Math.max(qmin, lo + 1));
  return idealScale(min, max, hi, qmin, qmax) < idealScale(min, max, lo, qmin, qmax) ? hi : lo;
}

/** {@link scaleForRange} before fp32 rounding: `max(max / (qmax - zp + 0.5), min / (qmin - zp - 0.5))`. For searches. */
export function idealScale(min: number, max: number, zp: number, qmin: number, qmax: number): number {
  const up = max > 0 ? max / (qmax - zp + 0.5) : 0;
  const down = min < 0 ? min / (qmin - zp - 0.5) : 0;
  return up > down ? up : down;
}
