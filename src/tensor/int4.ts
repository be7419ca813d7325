/**
 * INT4 / UINT4 packing in ONNX order (TensorProto raw_data, opset 21): element 2k goes to the low nibble of byte k,
 * element 2k+1 to the high nibble; an odd count leaves the last high nibble 0.
 */
import { QuantError } from "../errors/errors.ts";

/** Bytes needed for `count` 4-bit values. */
export function int4ByteLength(count: number): number {
  return (count + 1) >>> 1;
}

/**
 * Packs 4-bit values two per byte. An `Int8Array` is INT4 (each value in [-8, 7]), a `Uint8Array` is UINT4 ([0, 15]).
 * Throws E_QUANT_OPTIONS naming the first out-of-range element rather than silently wrapping it.
 */
export function packInt4(values: Int8Array | Uint8Array, out: Uint8Array = new Uint8Array(int4ByteLength(values.length))): Uint8Array {
  const n = values.length;
  if (out.length < int4ByteLength(n)) {
    throw new QuantError("E_QUANT_OPTIONS", `int4 output buffer holds ${out.length} bytes, ${int4ByteLength(n)} needed`);
  }
  // Signed values are offset by 8 for the range check only: any bit above the low 4 means out of range.
  const bias = values instanceof Int8Array ? 8 : 0;
  let bad = 0;
  const pairs = n >>> 1;
  for (let k = 0, j = 0; k < pairs; k++, j += 2) {
    const lo = values[j]!;
    const hi = values[j + 1]!;
    bad |= ((lo + bias) | (hi + bias)) & ~15;
    out[k] = (lo & 15) | ((hi & 15) << 4);
  }
  if (n & 1) {
    const lo = values[n - 1]!;
    bad |= (lo + bias) & ~15;
    out[pairs] = lo & 15;
  }
  if (bad !== 0) {
    let i = 0;
    while (i < n && ((values[i]! + bias) & ~15) === 0) i++;
    const range = bias ? "[-8, 7]" : "[0, 15]";
    throw new QuantError("E_QUANT_OPTIONS", `value ${values[i]} at element ${i} does not fit 4 bits ${range}`);
  }
  return out;
}

/** Unpacks `count` INT4 values (sign-extended) from ONNX nibble order. */
export function unpackInt4(packed: Uint8Array, count: number, out: Int8Array = new Int8Array(count)): Int8Array {
  checkPacked(packed, count);
  const pairs = count >>> 1;
  for (let k = 0, j = 0; k < pairs; k++, j += 2) {
    const byte = packed[k]!;
    out[j] = ((byte & 15) ^ 8) - 8;
    out[j + 1] = (byte >> 4) - ((byte & 128) >> 3); // high nibble with its sign: (b >> 4) − 16 when bit 7 is set
  }
  if (count & 1) out[count - 1] = ((packed[pairs]! & 15) ^ 8) - 8;
  return out;
}

/** Unpacks `count` UINT4 values from ONNX nibble order. */
export function unpackUint4(packed: Uint8Array, count: number, out: Uint8Array = new Uint8Array(count)): Uint8Array {
  checkPacked(packed, count);
  const pairs = count >>> 1;
  for (let k = 0, j = 0; k < pairs; k++, j += 2) {
    const byte = packed[k]!;
    out[j] = byte & 15;
    out[j + 1] = byte >> 4;
  }
  if (count & 1) out[count - 1] = packed[pairs]! & 15;
  return out;
}

function checkPacked(packed: Uint8Array, count: number): void {
  if (!Number.isInteger(count) || count < 0 || packed.length < int4ByteLength(count)) {
    throw new QuantError("E_QUANT_OPTIONS", `${packed.length} packed bytes cannot hold ${count} 4-bit values`);
  }
}
