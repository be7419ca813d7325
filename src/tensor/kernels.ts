/**
 * The group kernels behind weight quantization: a tensor seen as [outer, channels, inner] around the quantization axis,
 * one driver that walks it in long contiguous runs whatever the axis, and kernels for min/max, quantize, dequantize and
 * reconstruction error. Classes rather than closures so the hot loops only touch locals.
 */
import { QuantError } from "../errors/errors.ts";
import type { Granularity, QuantType } from "./granularity.ts";
import { wasmErrorKernel, wasmGroupMinMax, wasmQuantizeLinear } from "./wasm-kernels.ts";

/** Adding and subtracting 1.5·2^52 rounds a double to an integer, half to even (IEEE default), without a branch. */
export const RNE = 6755399441055744;

/** A tensor seen as `[outer, channels, inner]` around the quantization axis, plus how elements map to groups. */
export interface GroupLayout {
  kind: Granularity["kind"];
  outer: number;
  channels: number;
  inner: number;
  /** Channels per block (block kind); `channels` otherwise. */
  blockSize: number;
  /** Blocks along the axis (block kind); 1 otherwise. */
  blocks: number;
  /** Number of scale/zero-point pairs. */
  groups: number;
  /** Normalized axis (-1 for per-tensor). */
  axis: number;
  paramDims: number[];
}

/** Splits `dims` around the quantization axis and sizes the parameter tensors. Throws E_QUANT_OPTIONS on a bad axis/block. */
export function groupLayout(dims: readonly number[], granularity: Granularity, name?: string): GroupLayout {
  const rank = dims.length;
  if (granularity.kind === "tensor") {
    const n = dims.reduce((a, b) => a * b, 1);
    return { kind: "tensor", outer: 1, channels: 1, inner: n, blockSize: 1, blocks: 1, groups: 1, axis: -1, paramDims: [] };
  }
  const axis = granularity.axis < 0 ? granularity.axis + rank : granularity.axis;
  if (!Number.isInteger(axis) || axis < 0 || axis >= rank) {
    throw new QuantError("E_QUANT_OPTIONS", `axis ${granularity.axis} is out of range for a rank-${rank} tensor`, { target: name });
  }
  const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const channels = dims[axis]!;
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  if (granularity.kind === "channel") {
    return { kind: "channel", outer, channels, inner, blockSize: channels, blocks: 1, groups: channels, axis, paramDims: [channels] };
  }
  const b = granularity.blockSize;
  if (!Number.isInteger(b) || b < 1) throw new QuantError("E_QUANT_OPTIONS", `block size must be a positive integer, got ${b}`, { target: name });
  const blocks = Math.ceil(channels / b);
  const paramDims = dims.slice();
  paramDims[axis] = blocks;
  return { kind: "block", outer, channels, inner, blockSize: b, blocks, groups: outer * blocks * inner, axis, paramDims };
}

/**
 * A pass over the tensor as blocks of `rows × cols` contiguous elements from `start`. `rows`: row r is all in group
 * `g + r·gRow`. `cols`: column i is in group `g + i` (every row). Classes, not closures, so hot loops use locals only.
 */
interface RunKernel {
  rows(g: number, gRow: number, start: number, rows: number, cols: number): void;
  cols(g: number, start: number, rows: number, cols: number): void;
}

/** Up to this many columns, `cols` runs go column by column (strided, in cache) rather than row by row. */
const NARROW = 64;

/** Drives a kernel over the layout with few, long calls whatever the axis (per-channel on the last axis: one call). */
function forEachRun(l: GroupLayout, k: RunKernel): void {
  const { outer, channels: C, inner, blockSize: B, blocks } = l;
  if (l.kind === "tensor") return k.rows(0, 0, 0, 1, inner);
  if (l.kind === "channel") {
    if (inner === 1) return k.cols(0, 0, outer, C);
    for (let o = 0; o < outer; o++) k.rows(0, 1, o * C * inner, C, inner);
    return;
  }
  const full = Math.floor(C / B); // whole blocks per row of the axis; then maybe one partial block
  for (let o = 0; o < outer; o++) {
    if (inner === 1) {
      if (full > 0) k.rows(o * blocks, 1, o * C, full, B);
      if (full < blocks) k.rows(o * blocks + full, 0, o * C + full * B, 1, C - full * B);
      continue;
    }
    for (let b = 0; b < blocks; b++) k.cols((o * blocks + b) * inner, (o * C + b * B) * inner, Math.min(B, C - b * B), inner);
  }
}

class MinMaxKernel implements RunKernel {
  readonly min: Float32Array;
  readonly max: Float32Array;
  /** Σ v·0 over everything: NaN iff some value is NaN or ±Inf (a sum is cheaper than a branch per element). */
  nan = 0;
  constructor(readonly data: Float32Array, groups: number) {
    this.min = new Float32Array(groups).fill(Infinity);
    this.max = new Float32Array(groups).fill(-Infinity);
  }
  rows(g: number, gRow: number, start: number, rows: number, cols: number): void {
    const { data: d, min, max } = this;
    let nan = 0;
    for (let r = 0, j = start; r < rows; r++, g += gRow) {
      let mn = min[g]!;
      let mx = max[g]!;
      for (const end = j + cols; j < end; j++) {
        const v = d[j]!;
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
        nan += v * 0;
      }
      min[g] = mn;
      max[g] = mx;
    }
    this.nan += nan;
  }
  cols(g: number, start: number, rows: number, cols: number): void {
    const { data: d, min, max } = this;
    let nan = 0;
    if (cols <= NARROW) {
      // Narrow block (e.g. a conv's 3×3 taps): column by column with local accumulators; the block sits in L1.
      for (let i = 0; i < cols; i++) {
        let mn = min[g + i]!;
        let mx = max[g + i]!;
        for (let r = 0, j = start + i; r < rows; r++, j += cols) {
          const v = d[j]!;
          mn = v < mn ? v : mn;
          mx = v > mx ? v : mx;
          nan += v * 0;
        }
        min[g + i] = mn;
        max[g + i] = mx;
      }
    } else {
      for (let r = 0, j = start; r < rows; r++) {
        for (let k = g, end = j + cols; j < end; j++, k++) {
          const v = d[j]!;
          if (v < min[k]!) min[k] = v;
          if (v > max[k]!) max[k] = v;
          nan += v * 0;
        }
      }
    }
    this.nan += nan;
  }
}

/** True min and max of every group in one pass (empty groups keep min=+Inf, max=-Inf). Throws E_QUANT_NONFINITE on NaN/Inf. */
export function groupMinMax(data: Float32Array, l: GroupLayout, name?: string): { min: Float32Array; max: Float32Array } {
  const k = wasmGroupMinMax(data, l) ?? new MinMaxKernel(data, l.groups);
  if (k instanceof MinMaxKernel) forEachRun(l, k);
  if (k.nan !== 0) {
    throw new QuantError("E_QUANT_NONFINITE", `weight ${name ? `"${name}" ` : ""}contains NaN or Inf; fix the model or exclude this tensor`, { target: name });
  }
  return { min: k.min, max: k.max };
}

/** Storage array for `n` values of `type` (4-bit types unpacked, one per byte). */
export function allocValues(type: QuantType, n: number): Int8Array | Uint8Array | Int16Array | Uint16Array {
  switch (type) {
    case "int8": case "int4": return new Int8Array(n);
    case "uint8": case "uint4": return new Uint8Array(n);
    case "int16": return new Int16Array(n);
    case "uint16": return new Uint16Array(n);
  }
  throw new QuantError("E_QUANT_OPTIONS", `unknown quantization type "${String(type)}"`);
}

class QuantizeKernel implements RunKernel {
  readonly inv: Float64Array;
  /** True when |x / s| < 2^30 for every x of every group: codes can be rounded and `| 0`-converted first, then clamped as integers (faster). */
  readonly small: boolean;
  /** Every group has the same zero point (symmetric quantization). */
  readonly sameZp: boolean;
  constructor(
    readonly data: Float32Array, readonly scale: Float32Array, readonly zeroPoint: Int32Array,
    readonly qmin: number, readonly qmax: number, readonly out: Int8Array | Uint8Array | Int16Array | Uint16Array,
    min?: Float32Array, max?: Float32Array,
  ) {
    this.inv = new Float64Array(scale.length);
    let small = min !== undefined && max !== undefined;
    for (let g = 0; g < scale.length; g++) {
      this.inv[g] = 1 / scale[g]!;
      if (small && min![g]! <= max![g]!) small = Math.max(-min![g]!, max![g]!) * Math.abs(this.inv[g]!) < 2 ** 30;
    }
    this.small = small;
    this.sameZp = zeroPoint.every((z) => z === zeroPoint[0]);
  }
  rows(g: number, gRow: number, start: number, rows: number, cols: number): void {
    const { data: d, out, inv: invs, zeroPoint, qmin, qmax, small } = this;
    for (let r = 0, j = start; r < rows; r++, g += gRow) {
      const inv = invs[g]!;
      const z = zeroPoint[g]!;
      const lo = qmin - z;
      const hi = qmax - z;
      const end = j + cols;
      if (small) {
        for (; j < end; j++) {
          let i = (Math.fround(d[j]! * inv) + RNE - RNE) | 0;
          i = i < lo ? lo : i;
          out[j] = (i > hi ? hi : i) + z;
        }
      } else {
        for (; j < end; j++) {
          let v = Math.fround(d[j]! * inv);
          v = v < lo ? lo : v; // clamping before rounding, as MLAS does: same result, safe for any magnitude
          v = v > hi ? hi : v;
          out[j] = ((v + RNE - RNE) | 0) + z;
        }
      }
    }
  }
  cols(g: number, start: number, rows: number, cols: number): void {
    if (cols <= NARROW) {
      for (let i = 0; i < cols; i++) this.rowsStrided(g + i, start + i, rows, cols);
      return;
    }
    const { data: d, out, inv, zeroPoint, qmin, qmax } = this;
    if (this.small && this.sameZp) {
      // Symmetric per-channel on the last axis (MatMul weights): one zero point, integer clamp.
      const z = zeroPoint[0]!;
      const lo = qmin - z;
      const hi = qmax - z;
      for (let r = 0, j = start; r < rows; r++) {
        for (let k = g, end = j + cols; j < end; j++, k++) {
          let i = (Math.fround(d[j]! * inv[k]!) + RNE - RNE) | 0;
          i = i < lo ? lo : i;
          out[j] = (i > hi ? hi : i) + z;
        }
      }
      return;
    }
    for (let r = 0, j = start; r < rows; r++) {
      for (let k = g, end = j + cols; j < end; j++, k++) {
        const z = zeroPoint[k]!;
        let v = Math.fround(d[j]! * inv[k]!);
        v = v < qmin - z ? qmin - z : v;
        v = v > qmax - z ? qmax - z : v;
        out[j] = ((v + RNE - RNE) | 0) + z;
      }
    }
  }
  /** `count` elements of group `g`, `stride` apart from `start`. */
  private rowsStrided(g: number, start: number, count: number, stride: number): void {
    const { data: d, out } = this;
    const inv = this.inv[g]!;
    const z = this.zeroPoint[g]!;
    const lo = this.qmin - z;
    const hi = this.qmax - z;
    const end = start + count * stride;
    if (this.small) {
      for (let j = start; j < end; j += stride) {
        let i = (Math.fround(d[j]! * inv) + RNE - RNE) | 0;
        i = i < lo ? lo : i;
        out[j] = (i > hi ? hi : i) + z;
      }
    } else {
      for (let j = start; j < end; j += stride) {
        let v = Math.fround(d[j]! * inv);
        v = v < lo ? lo : v;
        v = v > hi ? hi : v;
        out[j] = ((v + RNE - RNE) | 0) + z;
      }
    }
  }
}

/**
 * QuantizeLinear over a whole tensor with per-group parameters: `out[j] = saturate(round_half_even(fp32(x / scale)) + zp)`.
 * `x · (1/s)` in double, rounded to fp32, equals the fp32 division `x / s` for float32 x and s (the double product is within
 * 2^-52 of the quotient, which is never within 2^-49 of an fp32 rounding boundary: that would take a 25-bit odd
 * significand), so a reciprocal is used, bit for bit. Pass the groups' `min`/`max` when known: it enables a faster clamp.
 */
export function quantizeLinear(
  data: Float32Array, l: GroupLayout, scale: Float32Array, zeroPoint: Int32Array, qmin: number, qmax: number,
  out: Int8Array | Uint8Array | Int16Array | Uint16Array, min?: Float32Array, max?: Float32Array,
): void {
  if (wasmQuantizeLinear(data, l, scale, zeroPoint, qmin, qmax, out)) return;
  forEachRun(l, new QuantizeKernel(data, scale, zeroPoint, qmin, qmax, out, min, max));
}

/**
 * {@link quantizeLinear} that also returns Σx² and Σ(x − x̂)². Runs are cut into cache-sized pieces, measured right
 * after they are quantized, while still in cache. Tensors over 32 pieces (262,144 elements) are measured on an even
 * sample of 32+ pieces: the sums are then an unbiased estimate (their ratio, the SQNR, is what callers use).
 */
export function quantizeLinearMeasured(
  data: Float32Array, l: GroupLayout, scale: Float32Array, zeroPoint: Int32Array, qmin: number, qmax: number,
  out: Int8Array | Uint8Array | Int16Array | Uint16Array, min?: Float32Array, max?: Float32Array,
): { signal: number; noise: number } {
  // With the WASM kernels the codes are made first, then measured on the very same pieces (same sums, bit for bit).
  const q = wasmQuantizeLinear(data, l, scale, zeroPoint, qmin, qmax, out) ? NO_RUN : new QuantizeKernel(data, scale, zeroPoint, qmin, qmax, out, min, max);
  const e = (q === NO_RUN ? wasmErrorKernel(data, out, scale, zeroPoint) : undefined) ?? new ErrorKernel(data, out, scale, zeroPoint);
  forEachRun(l, new PiecewiseKernel(q, e, Math.max(1, Math.floor(data.length / (PIECE * 32)))));
  return { signal: e.signal, noise: e.noise };
}

/** A kernel that does nothing (the codes are already made). */
const NO_RUN: RunKernel = { rows() {}, cols() {} };

/** Elements per piece for {@link PiecewiseKernel}: 32 KB of float32, well inside L2. */
const PIECE = 8192;

/** Runs `a` over every range, piece by piece, and `b` over every `every`-th piece right after `a` touched it. */
class PiecewiseKernel implements RunKernel {
  private piece = 0;
  constructor(readonly a: RunKernel, readonly b: RunKernel, readonly every = 1) {}
  rows(g: number, gRow: number, start: number, rows: number, cols: number): void {
    const step = Math.max(1, Math.floor(PIECE / cols));
    for (let r = 0; r < rows; r += step) {
      const n = Math.min(step, rows - r);
      this.a.rows(g + r * gRow, gRow, start + r * cols, n, cols);
      if (this.piece++ % this.every === 0) this.b.rows(g + r * gRow, gRow, start + r * cols, n, cols);
    }
  }
  cols(g: number, start: number, rows: number, cols: number): void {
    const step = Math.max(1, Math.floor(PIECE / cols));
    for (let r = 0; r < rows; r += step) {
      const n = Math.min(step, rows - r);
      this.a.cols(g, start + r * cols, n, cols);
      if (this.piece++ % this.every === 0) this.b.cols(g, start + r * cols, n, cols);
    }
  }
}

class DequantizeKernel implements RunKernel {
  constructor(readonly values: ArrayLike<number>, readonly scale: Float32Array, readonly zeroPoint: Int32Array, readonly out: Float32Array) {}
  rows(g: number, gRow: number, start: number, rows: number, cols: number): void {
    const { values, out, scale, zeroPoint } = this;
    for (let r = 0, j = start; r < rows; r++, g += gRow) {
      const s = scale[g]!;
      const z = zeroPoint[g]!;
      for (const end = j + cols; j < end; j++) out[j] = (values[j]! - z) * s; // exact in double, one fp32 rounding like the runtime
    }
  }
  cols(g: number, start: number, rows: number, cols: number): void {
    const { values, out, scale, zeroPoint } = this;
    for (let r = 0, j = start; r < rows; r++) {
      for (let k = g, end = j + cols; j < end; j++, k++) out[j] = (values[j]! - zeroPoint[k]!) * scale[k]!;
    }
  }
}

/** DequantizeLinear over a whole tensor: `out[j] = fp32((q - zp) * scale)`. */
export function dequantizeLinear(values: ArrayLike<number>, l: GroupLayout, scale: Float32Array, zeroPoint: Int32Array, out: Float32Array): void {
  forEachRun(l, new DequantizeKernel(values, scale, zeroPoint, out));
}


class ErrorKernel implements RunKernel {
  signal = 0;
  noise = 0;
  constructor(readonly data: Float32Array, readonly values: ArrayLike<number>, readonly scale: Float32Array, readonly zeroPoint: Int32Array) {}
  rows(g: number, gRow: number, start: number, rows: number, cols: number): void {
    const { data, values, scale, zeroPoint } = this;
    let sig = 0;
    let noi = 0;
    for (let r = 0, j = start; r < rows; r++, g += gRow) {
      const s = scale[g]!;
      const z = zeroPoint[g]!;
      for (const end = j + cols; j < end; j++) {
        const x = data[j]!;
        const e = Math.fround((values[j]! - z) * s) - x;
        sig += x * x;
        noi += e * e;
      }
    }
    this.signal += sig;
    this.noise += noi;
  }
  cols(g: number, start: number, rows: number, cols: number): void {
    const { data, values, scale, zeroPoint } = this;
    let sig = 0;
    let noi = 0;
    for (let r = 0, j = start; r < rows; r++) {
      for (let k = g, end = j + cols; j < end; j++, k++) {
        const x = data[j]!;
        const e = Math.fround((values[j]! - zeroPoint[k]!) * scale[k]!) - x;
        sig += x * x;
        noi += e * e;
      }
    }
    this.signal += sig;
    this.noise += noi;
  }
}

/** Σx² and Σ(x − x̂)² of a quantized tensor against its float data, x̂ as DequantizeLinear computes it; no allocation. */
export function reconstructionError(data: Float32Array, values: ArrayLike<number>, l: GroupLayout, scale: Float32Array, zeroPoint: Int32Array): { signal: number; noise: number } {
  const k = new ErrorKernel(data, values, scale, zeroPoint);
  forEachRun(l, k);
  return { signal: k.signal, noise: k.noise };
}
