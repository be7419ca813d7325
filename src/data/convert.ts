/**
 * Convert raw stored elements to the typed array a model input takes, checking as it goes
 * (no extra pass): NaN/Inf in float data, integer range, and the dtype policy:
 * int/bool → float is allowed (exact up to 2^53), float → int is refused (silent truncation of
 * e.g. token ids saved as floats would calibrate on wrong data), int → narrower int is range-checked.
 */
import { QuantError } from "../errors/errors.ts";
import { DataType, dataTypeName, floatToBf16, floatToHalf, halfToFloat } from "../tensor/dtypes.ts";
import type { InputData } from "../kernel/dataset.ts";
export type { InputData };

/** What the conversion is for, so an error can name the input, the sample and the file. */
export interface ConvertSite {
  input: string;
  file?: string;
  /** Sample index of the first element (errors report the sample). */
  firstSample: number;
  /** Elements per sample. */
  sampleElems: number;
}

const FLOAT_TYPES: ReadonlySet<number> = new Set([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.BFLOAT16]);
/** [min, max] of the integer input types held in number-typed arrays. */
const INT_RANGE: Record<number, [number, number]> = {
  [DataType.INT8]: [-128, 127],
  [DataType.UINT8]: [0, 255],
  [DataType.INT16]: [-32768, 32767],
  [DataType.UINT16]: [0, 65535],
  [DataType.INT32]: [-2147483648, 2147483647],
  [DataType.UINT32]: [0, 4294967295],
  [DataType.BOOL]: [0, 1],
  [DataType.INT64]: [-(2 ** 63), 2 ** 63],
  [DataType.UINT64]: [0, 2 ** 64],
};

/** True for stored/input types this module handles. */
export function isSupportedType(t: number): boolean {
  return FLOAT_TYPES.has(t) || t in INT_RANGE;
}

type InputArrayClass = new (n: number) => InputData;
const INPUT_CLASS: Record<number, InputArrayClass> = {
  [DataType.FLOAT]: Float32Array,
  [DataType.DOUBLE]: Float64Array,
  [DataType.FLOAT16]: Uint16Array,
  [DataType.BFLOAT16]: Uint16Array,
  [DataType.UINT16]: Uint16Array,
  [DataType.INT8]: Int8Array,
  [DataType.UINT8]: Uint8Array,
  [DataType.BOOL]: Uint8Array,
  [DataType.INT16]: Int16Array,
  [DataType.INT32]: Int32Array,
  [DataType.UINT32]: Uint32Array,
  [DataType.INT64]: BigInt64Array,
  [DataType.UINT64]: BigUint64Array,
};

/** The typed array for `count` elements of input type `t` (fp16/bf16 as Uint16Array bits, bool as Uint8Array). */
export function allocInput(t: number, count: number): InputData {
  const C = INPUT_CLASS[t];
  if (!C) throw new Error(`no typed array for ${dataTypeName(t)}`);
  return new C(count);
}

/** A typed view of little-endian raw bytes of stored type `t` (fp16/bf16 as their uint16 bits). */
export function viewRaw(t: number, raw: Uint8Array): InputData {
  const { buffer: b, byteOffset: o, length: n } = raw;
  switch (t) {
    case DataType.FLOAT: return new Float32Array(b, o, n >> 2);
    case DataType.DOUBLE: return new Float64Array(b, o, n >> 3);
    case DataType.FLOAT16: case DataType.BFLOAT16: case DataType.UINT16: return new Uint16Array(b, o, n >> 1);
    case DataType.INT8: return new Int8Array(b, o, n);
    case DataType.UINT8: case DataType.BOOL: return new Uint8Array(b, o, n);
    case DataType.INT16: return new Int16Array(b, o, n >> 1);
    case DataType.INT32: return new Int32Array(b, o, n >> 2);
    case DataType.UINT32: return new Uint32Array(b, o, n >> 2);
    case DataType.INT64: return new BigInt64Array(b, o, n >> 3);
    case DataType.UINT64: return new BigUint64Array(b, o, n >> 3);
    default: throw new Error(`no typed view for ${dataTypeName(t)}`);
  }
}

let halfLut: Float32Array | undefined;
/** fp16 bits → float32, by table: the conversion runs once per element of every fp16 batch. */
function halfTable(): Float32Array {
  if (!halfLut) {
    halfLut = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfLut[h] = halfToFloat(h);
  }
  return halfLut;
}

/** Widen fp16/bf16 bits to float32 (other types are returned as is). */
function widenHalf(t: number, v: InputData): InputData {
  if (t === DataType.FLOAT16) {
    const lut = halfTable();
    const bits = v as Uint16Array;
    const out = new Float32Array(bits.length);
    for (let i = 0; i < bits.length; i++) out[i] = lut[bits[i]!]!;
    return out;
  }
  if (t === DataType.BFLOAT16) {
    const bits = v as Uint16Array;
    const out = new Uint32Array(bits.length);
    for (let i = 0; i < bits.length; i++) out[i] = bits[i]! << 16;
    return new Float32Array(out.buffer);
  }
  return v;
}

/**
 * Convert raw little-endian bytes of stored type `from` to a typed array for input type `to` — `into` when it
 * is the right kind and length (a recycled batch array), else a new one.
 * Throws E_CALIB_DTYPE (refused or out-of-range conversion) or E_CALIB_NONFINITE (NaN/Inf in float data).
 */
export function convertRaw(from: number, to: number, raw: Uint8Array, site: ConvertSite, into?: InputData): InputData {
  if (!isSupportedType(to)) throw dtypeError(site, `model input type ${dataTypeName(to)} cannot be fed from calibration data`);
  if (!isSupportedType(from)) throw dtypeError(site, `stored type ${dataTypeName(from)} is not supported`);
  const srcFloat = FLOAT_TYPES.has(from);
  if (srcFloat && !FLOAT_TYPES.has(to)) {
    throw dtypeError(site, `float data (${dataTypeName(from)}) for integer input of type ${dataTypeName(to)}: save it as an integer array`);
  }
  const raw16 = viewRaw(from, raw);
  const n = raw16.length;
  const out = into && into.length === n && into.constructor === INPUT_CLASS[to] ? into : allocInput(to, n);
  // Same 16-bit float type: copy the bits, checking the exponent for Inf/NaN.
  if ((to === DataType.FLOAT16 || to === DataType.BFLOAT16) && from === to) {
    const mask = to === DataType.FLOAT16 ? 0x7c00 : 0x7f80;
    const src = raw16 as Uint16Array;
    const dst = out as Uint16Array;
    for (let i = 0; i < n; i++) {
      const h = src[i]!;
      if ((h & mask) === mask) throw nonFinite(site, i, from === DataType.FLOAT16 ? halfToFloat(h) : NaN);
      dst[i] = h;
    }
    return out;
  }
  const src = widenHalf(from, raw16);
  if (FLOAT_TYPES.has(to)) {
    if (src instanceof BigInt64Array || src instanceof BigUint64Array) {
      const dst = out;
      for (let i = 0; i < n; i++) storeFloat(to, dst, i, Number(src[i]!), site, srcFloat);
      return out;
    }
    const s = src as Float64Array;
    if (to === DataType.FLOAT || to === DataType.DOUBLE) {
      const dst = out as Float64Array;
      if (!srcFloat) {
        dst.set(s);
        return out;
      }
      for (let i = 0; i < n; i++) {
        const v = s[i]!;
        // v - v is NaN exactly for NaN and ±Inf: one compare per element, no extra pass.
        if (v - v !== 0) throw nonFinite(site, i, v);
        dst[i] = v;
      }
      if (from === DataType.DOUBLE && to === DataType.FLOAT) {
        // Finite doubles beyond float32's range became ±Inf; only this pair can overflow.
        for (let i = 0; i < n; i++) if (dst[i]! - dst[i]! !== 0) throw overflow(site, i, s[i]!, to);
      }
      return out;
    }
    for (let i = 0; i < n; i++) storeFloat(to, out, i, s[i]!, site, srcFloat);
    return out;
  }
  return convertInt(to, src, out, site);
}

function storeFloat(to: number, dst: InputData, i: number, v: number, site: ConvertSite, srcFloat: boolean): void {
  if (srcFloat && v - v !== 0) throw nonFinite(site, i, v);
  if (to === DataType.FLOAT16 || to === DataType.BFLOAT16) {
    const h = to === DataType.FLOAT16 ? floatToHalf(v) : floatToBf16(v);
    const mask = to === DataType.FLOAT16 ? 0x7c00 : 0x7f80;
    if ((h & mask) === mask) throw overflow(site, i, v, to);
    (dst as Uint16Array)[i] = h;
  } else {
    (dst as Float64Array)[i] = v;
    if (to === DataType.FLOAT && (dst as Float64Array)[i]! - (dst as Float64Array)[i]! !== 0) throw overflow(site, i, v, to);
  }
}

/** Integer source → integer/bool input with a range check per element. */
function convertInt(to: number, src: InputData, out: InputData, site: ConvertSite): InputData {
  const n = src.length;
  const [lo, hi] = INT_RANGE[to]!;
  if (src instanceof BigInt64Array || src instanceof BigUint64Array) {
    if (out instanceof BigInt64Array || out instanceof BigUint64Array) {
      const big = out instanceof BigInt64Array ? [-(1n << 63n), (1n << 63n) - 1n] : [0n, (1n << 64n) - 1n];
      for (let i = 0; i < n; i++) {
        const v = src[i]!;
        if (v < big[0]! || v > big[1]!) throw range(site, i, v, to);
        out[i] = v;
      }
      return out;
    }
    const dst = out as Int32Array;
    const blo = BigInt(lo);
    const bhi = BigInt(hi);
    for (let i = 0; i < n; i++) {
      const v = src[i]!;
      // Compare as bigint: Number() of a huge value could round into range.
      if (v < blo || v > bhi) throw range(site, i, v, to);
      dst[i] = Number(v);
    }
    return out;
  }
  const s = src as Int32Array;
  if (out instanceof BigInt64Array || out instanceof BigUint64Array) {
    // Write the two 32-bit halves: avoids a BigInt allocation per element (sources are ≤ 32-bit here).
    const words = new Uint32Array(out.buffer, out.byteOffset, n * 2);
    const unsigned = out instanceof BigUint64Array;
    for (let i = 0; i < n; i++) {
      const v = s[i]!;
      if (unsigned && v < 0) throw range(site, i, v, to);
      words[2 * i] = v >>> 0;
      words[2 * i + 1] = v < 0 ? 0xffffffff : 0;
    }
    return out;
  }
  const dst = out as Int32Array;
  for (let i = 0; i < n; i++) {
    const v = s[i]!;
    if (v < lo || v > hi) throw range(site, i, v, to);
    dst[i] = v;
  }
  return out;
}

function where(site: ConvertSite, i: number): string {
  return `input '${site.input}' sample ${site.firstSample + Math.floor(i / Math.max(1, site.sampleElems))}`;
}

function dtypeError(site: ConvertSite, msg: string): QuantError {
  return new QuantError("E_CALIB_DTYPE", `input '${site.input}': ${msg}`, { file: site.file, target: site.input });
}

function nonFinite(site: ConvertSite, i: number, v: number): QuantError {
  return new QuantError("E_CALIB_NONFINITE", `${where(site, i)} contains ${v} (element ${i % Math.max(1, site.sampleElems)}); calibration data must be finite`, {
    file: site.file,
    target: site.input,
  });
}

function overflow(site: ConvertSite, i: number, v: number, to: number): QuantError {
  return new QuantError("E_CALIB_DTYPE", `${where(site, i)}: value ${v} overflows the input type ${dataTypeName(to)}`, { file: site.file, target: site.input });
}

function range(site: ConvertSite, i: number, v: number | bigint, to: number): QuantError {
  return new QuantError("E_CALIB_DTYPE", `${where(site, i)}: value ${v} is out of range for the input type ${dataTypeName(to)}`, {
    file: site.file,
    target: site.input,
  });
}
