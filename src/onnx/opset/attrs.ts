/**
 * Small helpers to read, set and remove node attributes and to build the constant tensors adapters feed back in as
 * inputs. int64 attribute values may be `Long`s (Slice ends of INT64_MAX are common), so they go through BigInt.
 */
import type { AttributeProto, Int64, NodeProto, TensorProto } from "../types.ts";
import { AttributeType } from "../types.ts";
import { makeAttribute, type AttrValue } from "../builder.ts";
import { makeTensor } from "../tensor-data.ts";
import { DataType, floatToBf16, floatToHalf } from "../../tensor/dtypes.ts";

/** The attribute called `name`, if the node has it. */
export function getAttr(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute?.find((a) => a.name === name);
}

/** An INT attribute as a number (or `fallback`). */
export function intAttr(node: NodeProto, name: string, fallback: number): number;
export function intAttr(node: NodeProto, name: string): number | undefined;
export function intAttr(node: NodeProto, name: string, fallback?: number): number | undefined {
  const a = getAttr(node, name);
  if (a?.i === undefined || a.i === null) return fallback;
  return typeof a.i === "number" ? a.i : a.i.toNumber();
}

/** A FLOAT attribute (or `fallback`). */
export function floatAttr(node: NodeProto, name: string): number | undefined {
  const a = getAttr(node, name);
  return a?.f ?? undefined;
}

/** A STRING attribute decoded as UTF-8 (or `fallback`). */
export function stringAttr(node: NodeProto, name: string, fallback?: string): string | undefined {
  const a = getAttr(node, name);
  return a?.s ? new TextDecoder().decode(a.s) : fallback;
}

/** An INTS attribute, values kept exact (number or Long). */
export function intsAttr(node: NodeProto, name: string): Int64[] | undefined {
  const a = getAttr(node, name);
  if (!a) return undefined;
  return a.ints ?? [];
}

/** A FLOATS attribute. */
export function floatsAttr(node: NodeProto, name: string): number[] | undefined {
  const a = getAttr(node, name);
  if (!a) return undefined;
  return a.floats ?? [];
}

/** Remove an attribute; returns it (undefined if absent). */
export function removeAttr(node: NodeProto, name: string): AttributeProto | undefined {
  const i = node.attribute?.findIndex((a) => a.name === name) ?? -1;
  if (i < 0) return undefined;
  return node.attribute!.splice(i, 1)[0];
}

/** Set (replace or add) an attribute. */
export function setAttr(node: NodeProto, name: string, value: AttrValue): void {
  removeAttr(node, name);
  (node.attribute ??= []).push(makeAttribute(name, value));
}

/** Set an INT attribute explicitly typed INT (makeAttribute would pick FLOAT for non-integers). */
export function setIntAttr(node: NodeProto, name: string, value: number): void {
  removeAttr(node, name);
  (node.attribute ??= []).push({ name, type: AttributeType.INT, i: value });
}

/** Exact BigInt of an int64 value. */
export function toBigInt(v: Int64): bigint {
  return typeof v === "number" ? BigInt(v) : BigInt(v.toString());
}

/** An INT64 tensor from exact int64 values. `dims` defaults to 1-D. */
export function int64Tensor(name: string, values: readonly Int64[], dims: readonly number[] = [values.length]): TensorProto {
  const data = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) data[i] = toBigInt(values[i]!);
  return makeTensor(name, DataType.INT64, dims, data);
}

/** A FLOAT tensor. `dims` defaults to 1-D. */
export function floatTensor(name: string, values: readonly number[], dims: readonly number[] = [values.length]): TensorProto {
  return makeTensor(name, DataType.FLOAT, dims, Float32Array.from(values));
}

/** Data types {@link scalarTensor} can build. */
export const SCALAR_TYPES: ReadonlySet<number> = new Set<number>([
  DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.BFLOAT16,
  DataType.INT8, DataType.UINT8, DataType.INT16, DataType.UINT16, DataType.INT32, DataType.UINT32, DataType.INT64, DataType.UINT64,
]);

/** A rank-0 tensor of `dataType` holding `value` (converted the way a cast would: fp16/bf16 rounding, integers truncated). */
export function scalarTensor(name: string, dataType: number, value: number): TensorProto {
  let data: ArrayBufferView;
  switch (dataType) {
    case DataType.FLOAT: data = new Float32Array([value]); break;
    case DataType.DOUBLE: data = new Float64Array([value]); break;
    case DataType.FLOAT16: data = new Uint16Array([floatToHalf(value)]); break;
    case DataType.BFLOAT16: data = new Uint16Array([floatToBf16(value)]); break;
    case DataType.INT8: data = new Int8Array([value]); break;
    case DataType.UINT8: data = new Uint8Array([value]); break;
    case DataType.INT16: data = new Int16Array([value]); break;
    case DataType.UINT16: data = new Uint16Array([value]); break;
    case DataType.INT32: data = new Int32Array([value]); break;
    case DataType.UINT32: data = new Uint32Array([value]); break;
    case DataType.INT64: data = new BigInt64Array([BigInt(Math.trunc(value))]); break;
    case DataType.UINT64: data = new BigUint64Array([BigInt(Math.trunc(value))]); break;
    default: throw new Error(`no scalar of data type ${dataType}`);
  }
  return makeTensor(name, dataType, [], data);
}
