/**
 * safetensors files: an 8-byte little-endian header length N, N bytes of JSON
 * (`{"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, "__metadata__": {...}}`),
 * then the data buffer. `data_offsets` are relative to the first byte after the header and are used as
 * written (tensors may appear in any order, the header may be padded with spaces). Tensors are read
 * lazily, one at a time, straight from the file.
 */
import { basename } from "node:path";
import { QuantError, reason } from "../errors/errors.ts";
import { DataType, dataTypeName } from "../tensor/dtypes.ts";
import { allocInput, type InputData } from "./convert.ts";
import { typeOfArray } from "./npy.ts";
import { itemSize, product, RowReader, type StoredArray } from "./rows.ts";
import { FileSource } from "./source.ts";
import { writeChunksAtomic } from "./write.ts";

/** safetensors dtype → ONNX DataType (all are little-endian). */
const ST_TYPES: Record<string, number> = {
  F64: DataType.DOUBLE,
  F32: DataType.FLOAT,
  F16: DataType.FLOAT16,
  BF16: DataType.BFLOAT16,
  I64: DataType.INT64,
  I32: DataType.INT32,
  I16: DataType.INT16,
  I8: DataType.INT8,
  U64: DataType.UINT64,
  U32: DataType.UINT32,
  U16: DataType.UINT16,
  U8: DataType.UINT8,
  BOOL: DataType.BOOL,
};
const TYPE_ST: Record<number, string> = Object.fromEntries(Object.entries(ST_TYPES).map(([k, v]) => [v, k]));
/** Known to the format but not readable here (8-bit floats etc.): named in the error instead of "unknown". */
const KNOWN_UNSUPPORTED = new Set(["F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64"]);
/** The reference implementation refuses headers over 100 MB; so do we (a corrupt length would allocate GBs). */
const MAX_HEADER = 100_000_000;

/** One tensor's header entry. */
export interface SafetensorsEntry {
  readonly name: string;
  /** dtype string as written, e.g. `BF16`. */
  readonly dtype: string;
  /** ONNX DataType, or undefined for dtypes quant cannot read (F8_*). */
  readonly type: number | undefined;
  readonly shape: readonly number[];
  /** `[begin, end)` relative to the data buffer. */
  readonly dataOffsets: readonly [number, number];
}

/** An open safetensors file. Call `close()`. */
export interface SafetensorsFile {
  readonly file: string;
  /** Tensor names in header order. */
  readonly names: readonly string[];
  /** `__metadata__`, if any (string → string). */
  readonly metadata: Readonly<Record<string, string>> | undefined;
  /** Header entry of `name` (E_DATA_FORMAT if absent). */
  entry(name: string): SafetensorsEntry;
  /** `name` as a stored array for row-slice reads (E_DATA_FORMAT for unsupported dtypes). */
  array(name: string): StoredArray;
  /** Read one whole tensor (fp16/bf16 as Uint16Array bits, BOOL as Uint8Array). */
  read(name: string): { data: InputData; dims: number[]; type: number };
  close(): void;
}

/** Open a safetensors file and validate its header (E_DATA_READ / E_DATA_FORMAT naming the file). */
export function openSafetensors(path: string): SafetensorsFile {
  const src = new FileSource(path);
  const bad = (msg: string) => new QuantError("E_DATA_FORMAT", `${basename(path)}: ${msg}`, { file: path });
  try {
    if (src.size < 8) throw bad(`not a safetensors file (${src.size} bytes)`);
    const lenBytes = new Uint8Array(8);
    src.read(0, 8, lenBytes);
    const n = new DataView(lenBytes.buffer).getBigUint64(0, true);
    if (n > BigInt(MAX_HEADER)) throw bad(`header length ${n} is over the 100 MB limit (not a safetensors file?)`);
    if (8n + n > BigInt(src.size)) throw bad(`truncated: header needs ${8n + n} bytes, file has ${src.size}`);
    const headerLen = Number(n);
    const hb = new Uint8Array(headerLen);
    src.read(8, headerLen, hb);
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(hb));
    } catch (e) {
      throw bad(`header is not valid JSON (${reason(e)})`);
    }
    if (typeof json !== "object" || json === null || Array.isArray(json)) throw bad("header is not a JSON object");
    const base = 8 + headerLen;
    const dataSize = src.size - base;
    const entries = new Map<string, SafetensorsEntry>();
    let metadata: Record<string, string> | undefined;
    for (const [name, v] of Object.entries(json as Record<string, unknown>)) {
      if (name === "__metadata__") {
        metadata = v as Record<string, string>;
        continue;
      }
      entries.set(name, parseEntry(name, v, dataSize, bad));
    }
    const reader = new RowReader();
    const entry = (name: string): SafetensorsEntry => {
      const e = entries.get(name);
      if (!e) throw bad(`has no tensor '${name}' (tensors: ${[...entries.keys()].join(", ") || "none"})`);
      return e;
    };
    const array = (name: string): StoredArray => {
      const e = entry(name);
      if (e.type === undefined) throw bad(`tensor '${name}' has dtype ${e.dtype}, which quant cannot read`);
      return { name, type: e.type, bigEndian: false, shape: e.shape, fortran: false, source: src, offset: base + e.dataOffsets[0] };
    };
    return {
      file: path,
      names: [...entries.keys()],
      metadata,
      entry,
      array,
      read(name) {
        const a = array(name);
        const rows = a.shape.length === 0 ? 1 : a.shape[0]!;
        const data = allocInput(a.type, product(a.shape));
        if (data.length > 0) new Uint8Array(data.buffer, data.byteOffset, data.byteLength).set(reader.read(a, 0, rows));
        return { data, dims: [...a.shape], type: a.type };
      },
      close: () => src.close(),
    };
  } catch (e) {
    src.close();
    throw e;
  }
}

function parseEntry(name: string, v: unknown, dataSize: number, bad: (m: string) => QuantError): SafetensorsEntry {
  const o = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  if (typeof o !== "object" || o === null) throw bad(`tensor '${name}' has no header object`);
  const { dtype, shape, data_offsets: off } = o;
  if (typeof dtype !== "string") throw bad(`tensor '${name}' has no dtype`);
  const type = ST_TYPES[dtype];
  if (type === undefined && !KNOWN_UNSUPPORTED.has(dtype)) throw bad(`tensor '${name}' has unknown dtype '${dtype}'`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw bad(`tensor '${name}' has a bad shape ${JSON.stringify(shape)}`);
  if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && d >= 0) || off[1] < off[0]) {
    throw bad(`tensor '${name}' has bad data_offsets ${JSON.stringify(off)}`);
  }
  const [begin, end] = off as [number, number];
  if (end > dataSize) throw bad(`truncated: tensor '${name}' ends at data byte ${end}, data buffer has ${dataSize} bytes`);
  // Unsupported dtypes still get the size check when their width is known (F8: 1 byte).
  const isz = type !== undefined ? itemSize(type) : dtype.startsWith("F8") ? 1 : dtype === "C64" ? 8 : 0;
  const want = product(shape) * isz;
  if (isz > 0 && end - begin !== want) throw bad(`tensor '${name}' has ${end - begin} bytes, shape [${shape.join(", ")}] of ${dtype} needs ${want}`);
  return { name, dtype, type, shape, dataOffsets: [begin, end] };
}

/** A tensor to write: `type` is an ONNX DataType (default: from the array class; FLOAT16/BFLOAT16 take Uint16Array bits). */
export interface SafetensorsInput {
  data: InputData;
  dims: readonly number[];
  type?: number;
}

/**
 * Encode tensors as safetensors chunks: header (JSON padded with spaces to 8 bytes, as the reference
 * writer does, so data stays aligned) then views of each tensor's bytes — no copies (host is little-endian).
 * Tensors are laid out in the order given.
 */
export function encodeSafetensors(tensors: Record<string, SafetensorsInput>, metadata?: Record<string, string>): Uint8Array[] {
  // Null prototype: a tensor may be called anything, even `__proto__`.
  const header: Record<string, unknown> = Object.create(null);
  if (metadata) header.__metadata__ = metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    if (name === "__metadata__") throw new QuantError("E_DATA_FORMAT", "a tensor cannot be called __metadata__");
    const type = t.type ?? typeOfArray(t.data);
    const dtype = TYPE_ST[type];
    if (dtype === undefined) throw new QuantError("E_DATA_FORMAT", `safetensors cannot store ${dataTypeName(type)} (tensor '${name}')`);
    const want = product(t.dims) * itemSize(type);
    if (t.data.byteLength !== want) throw new RangeError(`tensor '${name}': data has ${t.data.byteLength} bytes, dims [${t.dims}] of ${dtype} need ${want}`);
    header[name] = { dtype, shape: [...t.dims], data_offsets: [offset, offset + want] };
    chunks.push(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    offset += want;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const head = new Uint8Array(8 + padded).fill(0x20);
  new DataView(head.buffer).setBigUint64(0, BigInt(padded), true);
  head.set(json, 8);
  return [head, ...chunks];
}

/** Write a safetensors file atomically (temp file + rename). */
export function writeSafetensors(path: string, tensors: Record<string, SafetensorsInput>, metadata?: Record<string, string>): void {
  writeChunksAtomic(path, encodeSafetensors(tensors, metadata));
}
