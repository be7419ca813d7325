/**
 * Reading and writing TensorProto payloads: raw_data (a view into the model file), typed fields
 * (float_data, int32_data, …) and external data (read lazily). All data is little-endian as ONNX stores it.
 */
import { QuantError } from "../errors/errors.ts";
import { DataType, bf16ToFloat, bitsPerElement, byteLength, dataTypeName, halfToFloat } from "../tensor/dtypes.ts";
import { elementCount, isExternal } from "./external.ts";
import type { Model } from "./model.ts";
import type { Int64, TensorProto } from "./types.ts";
import { num } from "./types.ts";

/** Tensor dims as numbers. */
export function tensorDims(t: TensorProto): number[] {
  return (t.dims ?? []).map((d) => num(d));
}

/** Number of elements of a tensor. */
export function tensorSize(t: TensorProto): number {
  return elementCount(t.dims);
}

function int64ToBytes(values: Int64[], out: DataView) {
  values.forEach((v, i) => {
    if (typeof v === "number") out.setBigInt64(i * 8, BigInt(v), true);
    else {
      out.setInt32(i * 8, v.low, true);
      out.setInt32(i * 8 + 4, v.high, true);
    }
  });
}

/**
 * The tensor's data as little-endian bytes in ONNX raw layout. A view (no copy) for raw_data; read from disk for
 * external data; encoded from the typed fields otherwise.
 */
export function tensorBytes(model: Model | undefined, t: TensorProto): Uint8Array {
  if (isExternal(t)) {
    if (!model?.external) throw new QuantError("E_LOAD_EXTERNAL_MISSING", `tensor "${t.name}" has external data but the model has no folder to read it from`, { target: t.name });
    return model.external.read(t);
  }
  if (t.raw_data) return t.raw_data;
  const type = t.data_type ?? 0;
  const n = tensorSize(t);
  const out = new Uint8Array(byteLength(type, n));
  const dv = new DataView(out.buffer);
  switch (type) {
    case DataType.FLOAT:
      (t.float_data ?? []).forEach((v, i) => dv.setFloat32(i * 4, v, true));
      break;
    case DataType.DOUBLE:
      (t.double_data ?? []).forEach((v, i) => dv.setFloat64(i * 8, v, true));
      break;
    case DataType.INT64:
      int64ToBytes(t.int64_data ?? [], dv);
      break;
    case DataType.UINT32:
    case DataType.UINT64:
      if (type === DataType.UINT64) int64ToBytes(t.uint64_data ?? [], dv);
      else (t.uint64_data ?? []).forEach((v, i) => dv.setUint32(i * 4, num(v), true));
      break;
    default: {
      // int32_data carries INT32, INT16/UINT16, INT8/UINT8, BOOL, FLOAT16/BFLOAT16 bits, FLOAT8 and packed 4-bit pairs.
      const src = t.int32_data ?? [];
      const bits = bitsPerElement(type);
      if (bits === 32) src.forEach((v, i) => dv.setInt32(i * 4, v, true));
      else if (bits === 16) src.forEach((v, i) => dv.setUint16(i * 2, v & 0xffff, true));
      else if (bits === 8) src.forEach((v, i) => dv.setUint8(i, v & 0xff));
      else if (bits === 4) src.forEach((v, i) => dv.setUint8(i, v & 0xff));
      else throw new QuantError("E_UNSUPPORTED_OP", `cannot read tensor "${t.name}" of type ${dataTypeName(type)}`, { target: t.name });
    }
  }
  return out;
}

/** The tensor's values as float32 (FLOAT as a view when aligned; FLOAT16, BFLOAT16, DOUBLE converted). */
export function tensorFloat32(model: Model | undefined, t: TensorProto): Float32Array {
  const type = t.data_type ?? 0;
  const n = tensorSize(t);
  if (type === DataType.FLOAT && !t.raw_data && !isExternal(t) && t.float_data) return Float32Array.from(t.float_data);
  const bytes = tensorBytes(model, t);
  switch (type) {
    case DataType.FLOAT: {
      if (bytes.byteLength < n * 4) throw short(t);
      if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, n);
      // Unaligned (raw_data inside the protobuf): copy. Not bytes.slice(): on a Buffer that is a view.
      const copy = new Uint8Array(n * 4);
      copy.set(bytes.subarray(0, n * 4));
      return new Float32Array(copy.buffer);
    }
    case DataType.FLOAT16:
    case DataType.BFLOAT16: {
      if (bytes.byteLength < n * 2) throw short(t);
      const out = new Float32Array(n);
      const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const conv = type === DataType.FLOAT16 ? halfToFloat : bf16ToFloat;
      for (let i = 0; i < n; i++) out[i] = conv(dv.getUint16(i * 2, true));
      return out;
    }
    case DataType.DOUBLE: {
      if (bytes.byteLength < n * 8) throw short(t);
      const out = new Float32Array(n);
      const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (let i = 0; i < n; i++) out[i] = dv.getFloat64(i * 8, true);
      return out;
    }
    default:
      throw new QuantError("E_UNSUPPORTED_OP", `tensor "${t.name}" is ${dataTypeName(type)}, not a float type`, { target: t.name });
  }
}

/** Integer tensor values (INT64/INT32/…) as numbers, e.g. shapes and axes. */
export function tensorInts(model: Model | undefined, t: TensorProto): number[] {
  const type = t.data_type ?? 0;
  const n = tensorSize(t);
  if (!t.raw_data && !isExternal(t)) {
    if (type === DataType.INT64) return (t.int64_data ?? []).map((v) => num(v));
    if (type === DataType.UINT64) return (t.uint64_data ?? []).map((v) => num(v));
    return (t.int32_data ?? []).slice(0, n);
  }
  const b = tensorBytes(model, t);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    switch (type) {
      case DataType.INT64: out[i] = Number(dv.getBigInt64(i * 8, true)); break;
      case DataType.UINT64: out[i] = Number(dv.getBigUint64(i * 8, true)); break;
      case DataType.INT32: out[i] = dv.getInt32(i * 4, true); break;
      case DataType.UINT32: out[i] = dv.getUint32(i * 4, true); break;
      case DataType.INT16: out[i] = dv.getInt16(i * 2, true); break;
      case DataType.UINT16: out[i] = dv.getUint16(i * 2, true); break;
      case DataType.INT8: out[i] = dv.getInt8(i); break;
      case DataType.UINT8: case DataType.BOOL: out[i] = dv.getUint8(i); break;
      default: throw new QuantError("E_UNSUPPORTED_OP", `tensor "${t.name}" is ${dataTypeName(type)}, not an integer type`, { target: t.name });
    }
  }
  return out;
}

function short(t: TensorProto) {
  return new QuantError("E_LOAD_PARSE", `tensor "${t.name}" holds fewer bytes than its dims need`, { target: t.name });
}

/** Set a tensor's payload as raw little-endian bytes (clears typed fields and external data). */
export function setTensorRaw(t: TensorProto, dataType: number, bytes: Uint8Array): void {
  for (const k of ["float_data", "int32_data", "int64_data", "double_data", "uint64_data", "string_data", "external_data", "data_location"] as const) delete t[k];
  t.data_type = dataType;
  t.raw_data = bytes;
}

/** Bytes view of any TypedArray (no copy). */
export function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Build a TensorProto with raw data. */
export function makeTensor(name: string, dataType: number, dims: readonly number[], data: ArrayBufferView): TensorProto {
  return { name, dims: [...dims], data_type: dataType, raw_data: bytesOf(data) };
}
