/**
 * Weight quantization math: range → (scale, zero point) per group, and the bulk quantize / dequantize kernels.
 *
 * Semantics are ONNX QuantizeLinear / DequantizeLinear (opset 21 for blocks), bit for bit as ONNX Runtime computes them:
 * `q = saturate(round_half_to_even(fp32(x / scale)) + zero_point)`, `y = fp32((q - zero_point) * scale)`.
 *
 * A tensor of `dims` is seen as `[outer, C, inner]` around the quantization axis; a group is one scale/zero point:
 * per-tensor → one group; per-channel → group `c`; block → group `(o * blocks + floor(c / blockSize)) * inner + i`,
 * which is the row-major index into the scale tensor ONNX wants. All loops stride over that view: no transposes, no copies.
 */
import { QuantError } from "../errors/errors.ts";
import { clipSearchParams } from "./clip-search.ts";
import { idealScale, symmetricZeroPoint, zeroPointForRange } from "./zero-point.ts";

export { idealScale, symmetricZeroPoint, zeroPointForRange } from "./zero-point.ts";
import type { Granularity, QuantType } from "./granularity.ts";
export { granularityLabel, type Granularity, type QuantType } from "./granularity.ts";
import { RNE, allocValues, dequantizeLinear, groupLayout, groupMinMax, quantizeLinear, quantizeLinearMeasured, reconstructionError, type GroupLayout } from "./kernels.ts";

export { allocValues, dequantizeLinear, groupLayout, groupMinMax, quantizeLinear, quantizeLinearMeasured, reconstructionError, type GroupLayout } from "./kernels.ts";

/** How to quantize one weight. `clipSearch` picks each group's range by reconstruction MSE instead of min/max. */
export interface QuantSpec {
  type: QuantType;
  symmetric: boolean;
  granularity: Granularity;
  clipSearch?: boolean;
  /** Also measure the reconstruction SQNR (`QuantizedWeights.sqnrDb`) during the quantize pass (on a sample of pieces above 262,144 elements). */
  measure?: boolean;
  /**
   * Symmetric only: let a group's scale be negative, which mirrors the grid so the longer half of `[-8, 7]` (or
   * `[-128, 127]`) faces the side with the larger magnitude, as ONNX Runtime's MatMulNBits quantizer does (scale =
   * signed max-abs / −8). Valid ONNX (DequantizeLinear is `(q − zp) · scale`) and worth ~0.5 dB of weight SQNR at 4 bits
   * (nothing at 8), but off by default: some backends (WebNN) and integer kernels assume positive scales, and on
   * digits_transformer's logits it did not pay off (INT4 block 32: 26.9 vs 27.4 dB plain, 27.5 vs 27.8 dB with clip search,
   * although each layer's own output error is lower with it: the end-to-end figure swings ±0.5 dB with error cancellations).
   */
  signedScale?: boolean;
}

/** A quantized weight: integer values (4-bit types unpacked, one per element) and its DequantizeLinear parameters. */
export interface QuantizedWeights {
  values: Int8Array | Uint8Array | Int16Array | Uint16Array;
  /** One finite non-zero scale per group; positive unless {@link QuantSpec.signedScale} chose a mirrored grid. */
  scale: Float32Array;
  /** Same length as `scale`; always inside the type's range. */
  zeroPoint: Int32Array;
  /** Dims of the scale/zero-point tensors: `[]` per-tensor, `[C]` per-channel, input dims with `dims[axis] = ceil(D / blockSize)` for blocks. */
  paramDims: number[];
  /** Normalized (non-negative) axis, for per-channel and block. */
  axis?: number;
  blockSize?: number;
  type: QuantType;
  /** Reconstruction SQNR in dB, when the spec asked to `measure` it. */
  sqnrDb?: number;
}


const RANGES: Record<QuantType, { qmin: number; qmax: number }> = {
  int8: { qmin: -128, qmax: 127 },
  uint8: { qmin: 0, qmax: 255 },
  int4: { qmin: -8, qmax: 7 },
  uint4: { qmin: 0, qmax: 15 },
  int16: { qmin: -32768, qmax: 32767 },
  uint16: { qmin: 0, qmax: 65535 },
};

/** Smallest scale we emit: the smallest normal float32 (a zero or subnormal scale would make x / scale Inf or NaN). */
const MIN_SCALE = 2 ** -126;
/** Largest finite float32: an end code's value (q − zp)·scale must stay below it. */
const FLT_MAX = 3.4028234663852886e38;

/**
 * Integer range of `type`. Symmetric quantization uses the full range too (`[-128, 127]` for int8, `[-8, 7]` for int4):
 * "balanced" here means the zero point is the middle code (0 for signed types, 2^(bits-1) for unsigned ones, as ONNX Runtime
 * does for symmetric uint8), not that the range is narrowed. The scale then maps each side to its own end of the grid, with
 * half a step of slack (see {@link scaleForRange}); narrowing int8 to [-127, 127] or int4 to [-7, 7] only coarsens the step.
 */
export function qrange(type: QuantType, symmetric: boolean): { qmin: number; qmax: number } {
  void symmetric;
  const r = RANGES[type];
  if (!r) throw new QuantError("E_QUANT_OPTIONS", `unknown quantization type "${String(type)}"; use int8, uint8, int4, uint4, int16 or uint16`);
  return { qmin: r.qmin, qmax: r.qmax };
}

/**
 * Smallest float32 scale such that, with zero point `zp`, `min` and `max` land no more than half a step outside
 * `[qmin, qmax]`, i.e. every value in `[min, max]` reconstructs within scale/2 (the end value saturates onto the last code,
 * exactly half a step away). This is one step finer than mapping the ends onto the codes themselves
 * (e.g. absmax/127.5 instead of absmax/127 for int8, absmax/7.5 or /8.5 instead of /7 for int4) at the same worst-case error.
 */
export function scaleForRange(min: number, max: number, zp: number, qmin: number, qmax: number): number {
  let s = Math.fround(Math.max(idealScale(min, max, zp, qmin, qmax), MIN_SCALE));
  // fp32 rounding of s (and of x / s at run time) must not push an end past the half step.
  while ((max > 0 && Math.fround(max / s) > qmax - zp + 0.5) || (min < 0 && Math.fround(min / s) < qmin - zp - 0.5)) s = nextUp(s);
  // Within a step of ±FLT_MAX the end code's value would overflow to Inf: cap the scale (the end values then lose a
  // little more than half a step; weights that large are not real).
  const hiEnd = max > 0 ? qmax - zp : 0;
  const loEnd = min < 0 ? zp - qmin : 0;
  const end = Math.max(hiEnd, loEnd);
  if (!Number.isFinite(Math.fround(end * s))) {
    s = Math.fround(FLT_MAX / end);
    while (!Number.isFinite(Math.fround(end * s))) s = nextDown(s);
  }
  return s;
}

/**
 * Scale and zero point for values in `[min, max]`. The range is widened to include 0, so 0.0 is always exact.
 * All-zero → scale 1; a constant `c` → a scale that maps `c` onto a code exactly (reconstructs `c` bit for bit when fp32 allows).
 */
export function computeScaleZeroPoint(
  min: number, max: number, type: QuantType, symmetric: boolean, signedScale = false,
): { scale: number; zeroPoint: number } {
  const { qmin, qmax } = qrange(type, symmetric);
  if (!Number.isFinite(min) || !Number.isFinite(max)) throw new QuantError("E_QUANT_NONFINITE", `range [${min}, ${max}] is not finite`);
  const zeroPoint = groupZeroPoint(min, max, qmin, qmax, symmetric);
  return { scale: groupScale(min, max, zeroPoint, qmin, qmax, symmetric && signedScale), zeroPoint };
}

/** Zero point of one group given its true min/max (an empty group has min > max). */
function groupZeroPoint(min: number, max: number, qmin: number, qmax: number, symmetric: boolean): number {
  if (symmetric) return symmetricZeroPoint(qmin, qmax);
  if (!(min <= max) || (min === 0 && max === 0)) return 0; // empty or all zero: any code works, 0 is one for every type
  if (min === max) return min > 0 ? qmin : qmax; // constant: 0 takes the near end of the grid, the constant the far one
  return zeroPointForRange(Math.min(min, 0), Math.max(max, 0), qmin, qmax, false);
}

/** Scale of one group given its true min/max and zero point; `signed` lets it be negative (mirrored grid) when that is finer. */
function groupScale(min: number, max: number, zp: number, qmin: number, qmax: number, signed: boolean): number {
  if (!(min <= max) || (min === 0 && max === 0)) return 1;
  if (min === max) return exactScale(min, min > 0 ? qmax - zp : qmin - zp);
  const a = Math.min(min, 0);
  const b = Math.max(max, 0);
  const s = scaleForRange(a, b, zp, qmin, qmax);
  if (!signed) return s;
  // Scale −t on x is scale t on −x (fp32 division is sign-symmetric), so the mirrored grid is the plain one on [−b, −a].
  const t = scaleForRange(-b, -a, zp, qmin, qmax);
  return t < s ? -t : s;
}

const bits32 = new Float32Array(1);
const bitsU32 = new Uint32Array(bits32.buffer);
/** Next float32 above a positive float32. */
function nextUp(s: number): number {
  bits32[0] = s;
  bitsU32[0] += 1;
  return bits32[0]!;
}
/** Next float32 below a positive float32. */
function nextDown(s: number): number {
  bits32[0] = s;
  bitsU32[0] -= 1;
  return bits32[0]!;
}

/** A float32 scale `s` with `fp32(c / s)` rounding to code `u` and `fp32(u * s) === c`, if fp32 has one; else the nearest. */
function exactScale(c: number, u: number): number {
  const s = Math.fround(c / u);
  for (let k = 0; k < 5; k++) {
    bits32[0] = s;
    bitsU32[0] += ((k + 1) >> 1) * (k & 1 ? 1 : -1); // s, one ulp up, one down, two up, two down
    const t = bits32[0]!;
    if (Math.fround(u * t) === c && roundHalfEven(Math.fround(c / t)) === u) return Math.max(t, MIN_SCALE);
  }
  return Math.max(s, MIN_SCALE);
}

/** Round half to even, as ONNX QuantizeLinear rounds. Exact for |v| < 2^51. */
export function roundHalfEven(v: number): number {
  return v + RNE - RNE;
}

/**
 * Quantizes a float32 weight of shape `dims`: one min/max pass, per-group parameters (optionally refined by clip search),
 * one quantize pass. Throws E_QUANT_NONFINITE (naming `name`) on NaN/Inf, E_QUANT_OPTIONS on a bad axis, block or shape.
 */
export function quantizeWeights(data: Float32Array, dims: readonly number[], spec: QuantSpec, name?: string): QuantizedWeights {
  const { qmin, qmax } = qrange(spec.type, spec.symmetric);
  const l = groupLayout(dims, spec.granularity, name);
  if (l.outer * l.channels * l.inner !== data.length) {
    throw new QuantError("E_QUANT_OPTIONS", `dims [${dims.join(",")}] do not match ${data.length} elements`, { target: name });
  }
  const { min, max } = groupMinMax(data, l, name);
  const scale = new Float32Array(l.groups);
  const zeroPoint = new Int32Array(l.groups);
  const signed = spec.symmetric && spec.signedScale === true;
  for (let g = 0; g < l.groups; g++) {
    const zp = groupZeroPoint(min[g]!, max[g]!, qmin, qmax, spec.symmetric);
    zeroPoint[g] = zp;
    scale[g] = groupScale(min[g]!, max[g]!, zp, qmin, qmax, signed);
  }
  if (spec.clipSearch) clipSearchParams(data, l, min, max, qmin, qmax, spec.symmetric, signed, scale, zeroPoint);
  const values = allocValues(spec.type, data.length);
  const q: QuantizedWeights = { values, scale, zeroPoint, paramDims: l.paramDims, type: spec.type };
  if (spec.measure) {
    const { signal, noise } = quantizeLinearMeasured(data, l, scale, zeroPoint, qmin, qmax, values, min, max);
    q.sqnrDb = noise === 0 ? Infinity : 10 * Math.log10(signal / noise);
  } else quantizeLinear(data, l, scale, zeroPoint, qmin, qmax, values, min, max);
  if (l.kind !== "tensor") q.axis = l.axis;
  if (l.kind === "block") q.blockSize = l.blockSize;
  return q;
}

/** Layout of a quantized weight, recovered from its parameters. */
export function layoutOf(q: QuantizedWeights, dims: readonly number[]): GroupLayout {
  if (q.blockSize !== undefined) return groupLayout(dims, { kind: "block", axis: q.axis ?? 0, blockSize: q.blockSize });
  if (q.axis !== undefined) return groupLayout(dims, { kind: "channel", axis: q.axis });
  return groupLayout(dims, { kind: "tensor" });
}

/** Float32 reconstruction of a quantized weight, exactly as DequantizeLinear computes it. */
export function dequantizeWeights(q: QuantizedWeights, dims: readonly number[]): Float32Array {
  const out = new Float32Array(q.values.length);
  dequantizeLinear(q.values, layoutOf(q, dims), q.scale, q.zeroPoint, out);
  return out;
}

/** Signal-to-quantization-noise ratio in dB: `10·log10(Σx² / Σ(x−y)²)`; Infinity when `test` equals `reference`. */
export function sqnrDb(reference: Float32Array, test: Float32Array): number {
  if (reference.length !== test.length) {
    throw new QuantError("E_QUANT_OPTIONS", `SQNR of arrays of different lengths (${reference.length} vs ${test.length})`);
  }
  let signal = 0;
  let noise = 0;
  for (let i = 0; i < reference.length; i++) {
    const x = reference[i]!;
    const d = x - test[i]!;
    signal += x * x;
    noise += d * d;
  }
  if (noise === 0) return Infinity;
  return 10 * Math.log10(signal / noise);
}


/** SQNR (dB) of a quantized weight against its float data, computed in one pass without materializing x̂. */
export function quantizedSqnrDb(data: Float32Array, q: QuantizedWeights, dims: readonly number[]): number {
  const { signal, noise } = reconstructionError(data, q.values, layoutOf(q, dims), q.scale, q.zeroPoint);
  if (noise === 0) return Infinity;
  return 10 * Math.log10(signal / noise);
}
