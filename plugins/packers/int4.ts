/**
 * Packer for native opset-21 INT4/UINT4 storage: two values per byte, element 2i in the low nibble of byte i,
 * element 2i+1 in the high nibble (the ONNX layout). Needs opset 21 (and IR version 10).
 */
import { DataType, definePacker, packInt4, setTensorRaw } from "../../src/index.ts";

/** This plugin takes no options: a config giving any is refused (E_CONFIG). */
export const optionKeys = {};

/** `int4` packer factory. */
export default function int4(_opts: Record<string, unknown> = {}) {
  return definePacker({
    name: "int4",
    accepts: (t) => t.type === "int4" || t.type === "uint4",
    minOpset: (type) => (type === "int4" || type === "uint4" ? 21 : undefined),
    pack(t) {
      const values = t.values as Int8Array | Uint8Array;
      setTensorRaw(t.tensor, t.type === "int4" ? DataType.INT4 : DataType.UINT4, packInt4(values));
      return { minOpset: 21 };
    },
  });
}
