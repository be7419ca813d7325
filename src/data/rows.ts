/**
 * A stored array (from .npy, .npz or safetensors) and the one operation calibration needs from it:
 * read rows `[start, start+count)` along axis 0 as C-order little-endian bytes, touching only those rows
 * for C-order data. Fortran-order data stores axis 0 fastest, so a row is scattered over the whole file:
 * it is gathered by reading column runs in chunks (I/O ≈ the file per batch, memory ≈ one chunk + the batch).
 */
import { bitsPerElement, dataTypeName } from "../tensor/dtypes.ts";
import type { ByteSource } from "./source.ts";
import { Scratch } from "./source.ts";

/** An array laid out in a byte source. */
export interface StoredArray {
  /** Array name (npz member, safetensors key, or the file name). */
  readonly name: string;
  /** ONNX DataType code of the stored elements. */
  readonly type: number;
  /** Stored big-endian (numpy `>`): bytes are swapped after reading. */
  readonly bigEndian: boolean;
  readonly shape: readonly number[];
  /** numpy `fortran_order`: axis 0 varies fastest. */
  readonly fortran: boolean;
  readonly source: ByteSource;
  /** Byte offset of element 0 in `source`. */
  readonly offset: number;
}

/** Bytes per element of a stored type (all supported stored types are whole bytes). */
export function itemSize(type: number): number {
  const bits = bitsPerElement(type);
  if (bits === 0 || bits % 8 !== 0) throw new Error(`no fixed byte size for ${dataTypeName(type)}`);
  return bits / 8;
}

/** Product of dims (1 for a scalar). */
export function product(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/** Byte length of the whole array. */
export function storedBytes(arr: StoredArray): number {
  return product(arr.shape) * itemSize(arr.type);
}

/** Fortran gathers read about this many bytes per `read` call. */
const CHUNK = 4 << 20;

/** Reads row slices of stored arrays with reusable buffers (one reader per dataset input). */
export class RowReader {
  private readonly out = new Scratch();
  private readonly chunk = new Scratch();

  /** `chunkBytes`: bytes per read when gathering Fortran-order rows (small values exercise the chunking in tests). */
  constructor(private readonly chunkBytes = CHUNK) {}

  /**
   * Rows `[start, start+count)` of `arr` as C-order, little-endian bytes. The returned view is
   * overwritten by the next call: convert it before reading again. A rank-0 array is one row.
   */
  read(arr: StoredArray, start: number, count: number): Uint8Array {
    const isz = itemSize(arr.type);
    const rows = arr.shape.length === 0 ? 1 : arr.shape[0]!;
    if (start < 0 || count < 0 || start + count > rows) throw new RangeError(`rows [${start}, ${start + count}) outside [0, ${rows})`);
    const rowElems = arr.shape.length === 0 ? 1 : product(arr.shape.slice(1));
    const bytes = count * rowElems * isz;
    const out = this.out.get(bytes);
    if (!arr.fortran || arr.shape.length <= 1 || rowElems === 1) {
      // Contiguous: in C order rows are contiguous; a 1-D or single-column array is the same in both orders.
      if (bytes > 0) arr.source.read(arr.offset + start * rowElems * isz, bytes, out);
    } else {
      this.gatherFortran(arr, start, count, rowElems, isz, out);
    }
    if (arr.bigEndian && isz > 1) swapBytes(out, isz);
    return out;
  }

  /**
   * Samples `[start, start+count)` along `axis` of `arr` as C-order, little-endian bytes of the sub-array (the other
   * dims kept). Axis 0 is {@link RowReader.read}; other axes read one run per index of the dims before the axis.
   * Fortran-order data is the C-order array of the reversed shape: read there, then reverse the axes.
   */
  readAxis(arr: StoredArray, axis: number, start: number, count: number): Uint8Array {
    if (axis === 0 || arr.shape.length === 0) return this.read(arr, start, count);
    const isz = itemSize(arr.type);
    const r = arr.shape.length;
    const n = arr.shape[axis]!;
    if (start < 0 || count < 0 || start + count > n) throw new RangeError(`[${start}, ${start + count}) outside [0, ${n}) on axis ${axis}`);
    const dims = arr.shape.slice();
    dims[axis] = count;
    const bytes = product(dims) * isz;
    if (!arr.fortran) {
      const out = this.out.get(bytes);
      readRuns(arr, arr.shape, axis, start, count, isz, out);
      if (arr.bigEndian && isz > 1) swapBytes(out, isz);
      return out;
    }
    const rev = arr.shape.slice().reverse();
    const tmp = this.chunk.get(bytes);
    readRuns(arr, rev, r - 1 - axis, start, count, isz, tmp);
    const out = this.out.get(bytes);
    reverseAxes(tmp, dims.slice().reverse(), isz, out);
    if (arr.bigEndian && isz > 1) swapBytes(out, isz);
    return out;
  }

  private gatherFortran(arr: StoredArray, start: number, count: number, rowElems: number, isz: number, out: Uint8Array): void {
    const n = arr.shape[0]!;
    const rest = arr.shape.slice(1);
    // C strides of the row dims, and a Fortran-order counter over them: column jF (Fortran rank of the
    // row index) lands at C position jC inside each output row.
    const cStride = new Array<number>(rest.length);
    for (let k = rest.length - 1, s = 1; k >= 0; k--) {
      cStride[k] = s;
      s *= rest[k]!;
    }
    const idx = new Array<number>(rest.length).fill(0);
    const colsPerRead = Math.max(1, Math.floor(this.chunkBytes / (n * isz)));
    const words = isz === 8 ? 2 : 1;
    const unit = isz === 8 ? 4 : isz;
    const dst = view(out, unit);
    let jC = 0;
    for (let j0 = 0; j0 < rowElems; j0 += colsPerRead) {
      const k = Math.min(colsPerRead, rowElems - j0);
      const len = ((k - 1) * n + count) * isz;
      const buf = this.chunk.get(len);
      arr.source.read(arr.offset + (j0 * n + start) * isz, len, buf);
      const src = view(buf, unit);
      for (let c = 0; c < k; c++) {
        // Elements of column c for rows start.. are contiguous at c*n in the chunk.
        let s = c * n * words;
        let d = jC * words;
        const step = rowElems * words;
        if (words === 1) {
          for (let r = 0; r < count; r++, s++, d += step) dst[d] = src[s]!;
        } else {
          for (let r = 0; r < count; r++, s += 2, d += step) {
            dst[d] = src[s]!;
            dst[d + 1] = src[s + 1]!;
          }
        }
        // Advance the Fortran counter (first row dim fastest) and keep jC in step.
        for (let a = 0; a < rest.length; a++) {
          idx[a]!++;
          jC += cStride[a]!;
          if (idx[a]! < rest[a]!) break;
          jC -= idx[a]! * cStride[a]!;
          idx[a] = 0;
        }
      }
    }
  }
}

/** C-order sub-array along `axis` of an array of C-order `shape`: one contiguous run per index of the outer dims. */
function readRuns(arr: StoredArray, shape: readonly number[], axis: number, start: number, count: number, isz: number, out: Uint8Array): void {
  const outer = product(shape.slice(0, axis));
  const n = shape[axis]!;
  const inner = product(shape.slice(axis + 1)) * isz;
  const run = count * inner;
  if (run === 0) return;
  for (let o = 0; o < outer; o++) arr.source.read(arr.offset + (o * n + start) * inner, run, out, o * run);
}

/** Transpose a C-order array of `dims` into the C-order array of the reversed dims (a Fortran ↔ C reinterpretation). */
export function reverseAxes(src: Uint8Array, dims: readonly number[], isz: number, dst: Uint8Array): void {
  const r = dims.length;
  const total = product(dims);
  // Source strides (C order over dims); destination walks the reversed dims in C order, i.e. dims in Fortran order.
  const stride = new Array<number>(r);
  for (let k = r - 1, s = 1; k >= 0; k--) {
    stride[k] = s;
    s *= dims[k]!;
  }
  const idx = new Array<number>(r).fill(0);
  let from = 0;
  for (let i = 0; i < total; i++) {
    const d = i * isz;
    const f = from * isz;
    for (let b = 0; b < isz; b++) dst[d + b] = src[f + b]!;
    // Advance the Fortran-order counter: dim 0 fastest.
    for (let k = 0; k < r; k++) {
      idx[k]!++;
      from += stride[k]!;
      if (idx[k]! < dims[k]!) break;
      from -= idx[k]! * stride[k]!;
      idx[k] = 0;
    }
  }
}

function view(b: Uint8Array, unit: number): Uint8Array | Uint16Array | Uint32Array {
  if (unit === 1) return b;
  if (unit === 2) return new Uint16Array(b.buffer, b.byteOffset, b.length >> 1);
  return new Uint32Array(b.buffer, b.byteOffset, b.length >> 2);
}

/** Reverse the bytes of every `isz`-byte element in place (big-endian → little-endian). */
export function swapBytes(b: Uint8Array, isz: number): void {
  const n = b.length - (b.length % isz);
  const half = isz >> 1;
  for (let i = 0; i < n; i += isz) {
    for (let a = 0, z = isz - 1; a < half; a++, z--) {
      const t = b[i + a]!;
      b[i + a] = b[i + z]!;
      b[i + z] = t;
    }
  }
}
