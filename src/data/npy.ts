/**
 * NumPy `.npy` files (format versions 1.0, 2.0 and 3.0): header parsing, a streaming row reader
 * (only the requested rows are read, see rows.ts), a whole-file reader and a writer for fixtures.
 * Spec: numpy/lib/format.py — magic `\x93NUMPY`, major, minor, header length (uint16 in v1, uint32 in
 * v2/v3), then a Python dict literal `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.
 */
import { basename } from "node:path";
import { QuantError, reason } from "../errors/errors.ts";
import { DataType, dataTypeName } from "../tensor/dtypes.ts";
import { allocInput, type InputData } from "./convert.ts";
import { parsePyLiteral } from "./pyliteral.ts";
import { itemSize, product, RowReader, type StoredArray, swapBytes } from "./rows.ts";
import { type ByteSource, FileSource } from "./source.ts";
import { writeChunksAtomic } from "./write.ts";

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** numpy type char + size → ONNX DataType. */
const DESCR_TYPES: Record<string, number> = {
  f2: DataType.FLOAT16,
  f4: DataType.FLOAT,
  f8: DataType.DOUBLE,
  i1: DataType.INT8,
  i2: DataType.INT16,
  i4: DataType.INT32,
  i8: DataType.INT64,
  u1: DataType.UINT8,
  u2: DataType.UINT16,
  u4: DataType.UINT32,
  u8: DataType.UINT64,
  b1: DataType.BOOL,
};
const TYPE_DESCR: Record<number, string> = Object.fromEntries(Object.entries(DESCR_TYPES).map(([k, v]) => [v, k]));

/** A parsed `.npy` header. */
export interface NpyHeader {
  version: [number, number];
  /** numpy dtype string, e.g. `<f4`. */
  descr: string;
  /** ONNX DataType code of the elements. */
  type: number;
  bigEndian: boolean;
  fortran: boolean;
  shape: number[];
  /** Byte offset of the data from the start of the .npy. */
  dataOffset: number;
}

/**
 * Parse the header at the start of `source` (reads only the header bytes) and check the data fits.
 * Throws E_DATA_FORMAT naming `file` for anything that is not a supported .npy.
 */
export function readNpyHeader(source: ByteSource, file = source.file): NpyHeader {
  const bad = (msg: string) => new QuantError("E_DATA_FORMAT", `${basename(file)}: ${msg}`, { file });
  if (source.size < 10) throw bad(`not a .npy file (${source.size} bytes)`);
  const pre = new Uint8Array(12);
  source.read(0, Math.min(12, source.size), pre);
  if (!MAGIC.every((b, i) => pre[i] === b)) throw bad("not a .npy file (bad magic)");
  const major = pre[6]!;
  const minor = pre[7]!;
  if (major < 1 || major > 3) throw bad(`unsupported .npy version ${major}.${minor}`);
  const dv = new DataView(pre.buffer);
  const headerLen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  if (start + headerLen > source.size) throw bad(`truncated header: needs ${start + headerLen} bytes, file has ${source.size}`);
  const hb = new Uint8Array(headerLen);
  source.read(start, headerLen, hb);
  // v1/v2 headers are latin1, v3 utf8; the keys and values we read are ASCII either way.
  const text = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(hb);
  let dict: unknown;
  try {
    dict = parsePyLiteral(text);
  } catch (e) {
    throw bad(`unreadable header (${reason(e)})`);
  }
  if (typeof dict !== "object" || dict === null || Array.isArray(dict)) throw bad("header is not a dict");
  const { descr, fortran_order: fortran, shape } = dict as Record<string, unknown>;
  if (typeof descr !== "string") throw bad(`unsupported dtype ${JSON.stringify(descr)} (structured arrays are not calibration data)`);
  if (typeof fortran !== "boolean") throw bad("header has no boolean 'fortran_order'");
  if (!Array.isArray(shape) || !shape.every((d) => typeof d === "number" && Number.isSafeInteger(d) && d >= 0)) {
    throw bad(`bad shape ${JSON.stringify(shape)}`);
  }
  const order = descr[0]!;
  const code = "<>|=".includes(order) ? descr.slice(1) : descr;
  const type = DESCR_TYPES[code === "?" ? "b1" : code];
  if (type === undefined) throw bad(`unsupported dtype '${descr}' (supported: f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1)`);
  const header: NpyHeader = { version: [major, minor], descr, type, bigEndian: order === ">" && itemSize(type) > 1, fortran, shape: shape as number[], dataOffset: start + headerLen };
  const need = header.dataOffset + product(header.shape) * itemSize(type);
  if (need > source.size) throw bad(`truncated: shape (${header.shape.join(", ")}) ${descr} needs ${need} bytes, file has ${source.size}`);
  return header;
}

/** The array stored in a .npy held by `source` (a file or an .npz member). */
export function npyArray(source: ByteSource, name: string): StoredArray & { header: NpyHeader } {
  const header = readNpyHeader(source);
  return { name, type: header.type, bigEndian: header.bigEndian, shape: header.shape, fortran: header.fortran, source, offset: header.dataOffset, header };
}

/** An open .npy file: header read, data read on demand. Call `close()`. */
export interface NpyFile {
  readonly array: StoredArray & { header: NpyHeader };
  close(): void;
}

/** Open a .npy for streaming reads (E_DATA_READ if unreadable, E_DATA_FORMAT if not a valid .npy). */
export function openNpy(path: string): NpyFile {
  const source = new FileSource(path);
  try {
    return { array: npyArray(source, basename(path).replace(/\.npy$/i, "")), close: () => source.close() };
  } catch (e) {
    source.close();
    throw e;
  }
}

/** Read a whole .npy in its stored type (fp16 as Uint16Array bits, bool as Uint8Array), dims in C order. */
export function readNpy(path: string): { data: InputData; dims: number[]; type: number } {
  const f = openNpy(path);
  try {
    const a = f.array;
    const rows = a.shape.length === 0 ? 1 : a.shape[0]!;
    const raw = new RowReader().read(a, 0, rows);
    const data = allocInput(a.type, product(a.shape));
    new Uint8Array(data.buffer, data.byteOffset, data.byteLength).set(raw);
    return { data, dims: [...a.shape], type: a.type };
  } finally {
    f.close();
  }
}

/** Options for writing a .npy. */
export interface NpyWriteOptions {
  /** Store in Fortran order (axis 0 fastest). `data` is always given in C order. */
  fortran?: boolean;
  /** Store big-endian (`>`). */
  bigEndian?: boolean;
  /** Format version; default 1.0 (2.0 when the header needs it). */
  version?: 1 | 2 | 3;
  /** ONNX type when the array class is ambiguous: FLOAT16 for Uint16Array bits, BOOL for Uint8Array. */
  type?: number;
}

/** ONNX type of a typed array (Uint16Array → UINT16, Uint8Array → UINT8 unless overridden). */
export function typeOfArray(data: InputData): number {
  if (data instanceof Float32Array) return DataType.FLOAT;
  if (data instanceof Float64Array) return DataType.DOUBLE;
  if (data instanceof Int8Array) return DataType.INT8;
  if (data instanceof Uint8Array) return DataType.UINT8;
  if (data instanceof Int16Array) return DataType.INT16;
  if (data instanceof Uint16Array) return DataType.UINT16;
  if (data instanceof Int32Array) return DataType.INT32;
  if (data instanceof Uint32Array) return DataType.UINT32;
  if (data instanceof BigInt64Array) return DataType.INT64;
  return DataType.UINT64;
}

/** The header bytes of a .npy holding `dims` of ONNX `type` (padded so the data starts 64-byte aligned, as numpy does). */
export function npyHeaderBytes(type: number, dims: readonly number[], opts: NpyWriteOptions = {}): Uint8Array {
  const descrCode = TYPE_DESCR[type];
  if (descrCode === undefined) throw new QuantError("E_DATA_FORMAT", `.npy cannot store ${dataTypeName(type)}`);
  const order = itemSize(type) === 1 ? "|" : opts.bigEndian ? ">" : "<";
  const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(", ")})`;
  const dict = `{'descr': '${order}${descrCode}', 'fortran_order': ${opts.fortran ? "True" : "False"}, 'shape': ${shape}, }`;
  const enc = new TextEncoder().encode(dict);
  let version = opts.version ?? 1;
  if (version === 1 && enc.length + 11 > 0xffff) version = 2;
  const pre = version === 1 ? 10 : 12;
  const total = Math.ceil((pre + enc.length + 1) / 64) * 64;
  const head = new Uint8Array(total).fill(0x20);
  head.set(MAGIC, 0);
  head[6] = version;
  head[7] = 0;
  const dv = new DataView(head.buffer);
  if (version === 1) dv.setUint16(8, total - pre, true);
  else dv.setUint32(8, total - pre, true);
  head.set(enc, pre);
  head[total - 1] = 0x0a;
  return head;
}

/** Encode a .npy as chunks (header, then data — a view of `data` when no reordering or swap is needed). */
export function encodeNpy(data: InputData, dims: readonly number[], opts: NpyWriteOptions = {}): Uint8Array[] {
  const type = opts.type ?? typeOfArray(data);
  const head = npyHeaderBytes(type, dims, opts);
  const isz = itemSize(type);
  if (data.byteLength !== product(dims) * isz) throw new RangeError(`data has ${data.byteLength} bytes, dims [${dims}] of ${dataTypeName(type)} need ${product(dims) * isz}`);
  let bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (opts.fortran && dims.length > 1) bytes = toFortran(bytes, dims, isz);
  if (opts.bigEndian && isz > 1) {
    if (bytes.buffer === data.buffer) bytes = bytes.slice();
    swapBytes(bytes, isz);
  }
  return [head, bytes];
}

/** Write a .npy atomically (temp file + rename). */
export function writeNpy(path: string, data: InputData, dims: readonly number[], opts: NpyWriteOptions = {}): void {
  writeChunksAtomic(path, encodeNpy(data, dims, opts));
}

/** Reorder C-order bytes to Fortran order (first axis fastest). Not a hot path: fixtures only. */
function toFortran(c: Uint8Array, dims: readonly number[], isz: number): Uint8Array {
  const out = new Uint8Array(c.length);
  const rank = dims.length;
  const fStride = new Array<number>(rank);
  for (let k = 0, s = 1; k < rank; k++) {
    fStride[k] = s;
    s *= dims[k]!;
  }
  const idx = new Array<number>(rank).fill(0);
  const n = product(dims);
  let f = 0;
  for (let i = 0; i < n; i++) {
    out.set(c.subarray(i * isz, i * isz + isz), f * isz);
    // C-order counter: last axis fastest.
    for (let a = rank - 1; a >= 0; a--) {
      idx[a]!++;
      f += fStride[a]!;
      if (idx[a]! < dims[a]!) break;
      f -= idx[a]! * fStride[a]!;
      idx[a] = 0;
    }
  }
  return out;
}
