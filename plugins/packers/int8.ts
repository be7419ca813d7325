/**
 * Packer for byte-or-wider storage: INT8/UINT8, INT16/UINT16, INT32 (biases), and INT4/UINT4 widened to one value
 * per byte (INT8/UINT8 storage, loadable by any runtime since opset 10).
 */
import { DataType, bytesOf, definePacker, setTensorRaw, type IntType, type PendingTensor } from "../../src/index.ts";

const STORAGE: Record<IntType, number> = {
  int4: DataType.INT8,
  uint4: DataType.UINT8,
  int8: DataType.INT8,
  uint8: DataType.UINT8,
  int16: DataType.INT16,
  uint16: DataType.UINT16,
  int32: DataType.INT32,
};

const ARRAY: Record<number, new (n: number) => Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array> = {
  [DataType.INT8]: Int8Array,
  [DataType.UINT8]: Uint8Array,
  [DataType.INT16]: Int16Array,
  [DataType.UINT16]: Uint16Array,
  [DataType.INT32]: Int32Array,
};

/** Encode values into the typed array of the storage type (a view when it already is one). */
function asStorage(t: PendingTensor, dataType: number): ArrayBufferView {
  const Ctor = ARRAY[dataType]!;
  if (t.values instanceof Ctor) return t.values;
  const out = new Ctor(t.values.length);
  out.set(t.values);
  return out;
}

/** This plugin takes no options: a config giving any is refused (E_CONFIG). */
export const optionKeys = {};

/** `int8` packer factory. */
export default function int8(_opts: Record<string, unknown> = {}) {
  return definePacker({
    name: "int8",
    accepts: (t) => t.type in STORAGE,
    // Declared up front: INT16/UINT16 Q/DQ need opset 21; the rest is stored the way opset 10 reads it.
    minOpset: (type) => (!(type in STORAGE) ? undefined : type === "int16" || type === "uint16" ? 21 : 0),
    pack(t) {
      const dataType = STORAGE[t.type];
      setTensorRaw(t.tensor, dataType, bytesOf(asStorage(t, dataType)));
      // INT16/UINT16 in (De)QuantizeLinear need opset 21; 8-bit and int32 bias work from 10.
      return { minOpset: t.role !== "bias" && (t.type === "int16" || t.type === "uint16") ? 21 : 0 };
    },
  });
}
