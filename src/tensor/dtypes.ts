/** ONNX `TensorProto.DataType` values (IR version 11). */
export const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  COMPLEX128: 15,
  BFLOAT16: 16,
  FLOAT8E4M3FN: 17,
  FLOAT8E4M3FNUZ: 18,
  FLOAT8E5M2: 19,
  FLOAT8E5M2FNUZ: 20,
  UINT4: 21,
  INT4: 22,
  FLOAT4E2M1: 23,
  FLOAT8E8M0: 24,
} as const;
/** Name of an ONNX data type (`"FLOAT"`, `"INT8"`, …). */
export type DataTypeName = keyof typeof DataType;
/** Numeric code of an ONNX data type (`TensorProto.data_type`). */
export type DataTypeCode = (typeof DataType)[DataTypeName];

const NAMES: Record<number, DataTypeName> = Object.fromEntries(Object.entries(DataType).map(([k, v]) => [v, k as DataTypeName]));

/** Name of a data type code (`1` → `FLOAT`), or `UNKNOWN(n)`. */
export function dataTypeName(code: number): string {
  return NAMES[code] ?? `UNKNOWN(${code})`;
}

/** Storage bits per element, or 0 for variable-size types (STRING). */
export function bitsPerElement(code: number): number {
  switch (code) {
    case DataType.UINT4:
    case DataType.INT4:
    case DataType.FLOAT4E2M1:
      return 4;
    case DataType.UINT8:
    case DataType.INT8:
    case DataType.BOOL:
    case DataType.FLOAT8E4M3FN:
    case DataType.FLOAT8E4M3FNUZ:
    case DataType.FLOAT8E5M2:
    case DataType.FLOAT8E5M2FNUZ:
    case DataType.FLOAT8E8M0:
      return 8;
    case DataType.UINT16:
    case DataType.INT16:
    case DataType.FLOAT16:
    case DataType.BFLOAT16:
      return 16;
    case DataType.FLOAT:
    case DataType.INT32:
    case DataType.UINT32:
      return 32;
    case DataType.INT64:
    case DataType.UINT64:
    case DataType.DOUBLE:
    case DataType.COMPLEX64:
      return 64;
    case DataType.COMPLEX128:
      return 128;
    default:
      return 0;
  }
}

/** Bytes needed to store `count` elements of `code` in raw_data (4-bit types pack two per byte). */
export function byteLength(code: number, count: number): number {
  const bits = bitsPerElement(code);
  return Math.ceil((bits * count) / 8);
}

/** True for the float types a weight can have (fp32, fp16, bf16, fp64). */
export function isFloatWeightType(code: number): boolean {
  return code === DataType.FLOAT || code === DataType.FLOAT16 || code === DataType.BFLOAT16 || code === DataType.DOUBLE;
}

/** Convert an IEEE half (as uint16 bits) to a float32 value. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Convert a float to IEEE half bits, round to nearest even. */
export function floatToHalf(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    if (rem > half || (rem === half && r & 1)) r++;
    return sign | r;
  }
  let r = mant >> 13;
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && r & 1)) {
    r++;
    if (r === 0x400) {
      r = 0;
      e++;
      if (e >= 31) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | r;
}

/** Convert bfloat16 bits to a float32 value. */
export function bf16ToFloat(b: number): number {
  u32[0] = (b & 0xffff) << 16;
  return f32[0]!;
}

/** Convert a float to bfloat16 bits, round to nearest even (NaN stays NaN). */
export function floatToBf16(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Largest finite float16 value. */
export const FLOAT16_MAX = 65504;

/**
 * Convert float32 values to float16 bits (round to nearest even). Finite values beyond ±65504 are clamped to
 * ±65504 rather than becoming ±Inf, and counted in `clamped`; Inf and NaN stay as they are.
 */
export function floatsToHalf(src: ArrayLike<number>, out: Uint16Array = new Uint16Array(src.length)): { half: Uint16Array; clamped: number } {
  let clamped = 0;
  for (let i = 0; i < src.length; i++) {
    let v = src[i]!;
    if (v > FLOAT16_MAX && v !== Infinity) (v = FLOAT16_MAX), clamped++;
    else if (v < -FLOAT16_MAX && v !== -Infinity) (v = -FLOAT16_MAX), clamped++;
    out[i] = floatToHalf(v);
  }
  return { half: out, clamped };
}
