/**
 * Per-input values given directly rather than in a data file: library arrays (`Float32Array`, `{ dims, data }` as
 * onnxruntime tensors have, ndarray-like `{ shape, data }`), JS scalars (`16000`, `16000n`, `true`), number lists,
 * and the CLI's `--input name=VALUE` (a number, a comma list, true/false, or a .npy path). Each becomes a stored
 * array over its own bytes (no copy of typed arrays), so it fits and streams exactly like an array from a file.
 */
import { existsSync } from "node:fs";
import { extname } from "node:path";
import { QuantError } from "../errors/errors.ts";
import { DataType } from "../tensor/dtypes.ts";
import type { InputData } from "./convert.ts";
import { typeOfArray } from "./npy.ts";
import type { StoredArray } from "./rows.ts";
import { BufferSource } from "./source.ts";
import type { InputArray, InputValue } from "../kernel/dataset.ts";
export type { InputArray, InputValue };

/** onnxruntime / numpy dtype names that a Uint16Array or Uint8Array may stand for. */
const NAMED_TYPES: Record<string, number> = {
  float16: DataType.FLOAT16,
  bfloat16: DataType.BFLOAT16,
  bool: DataType.BOOL,
};

const isTyped = (v: unknown): v is InputData => ArrayBuffer.isView(v) && !(v instanceof DataView);

function stored(name: string, type: number, shape: readonly number[], data: InputData): StoredArray {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return { name, type, bigEndian: false, shape: [...shape], fortran: false, source: new BufferSource(name, bytes), offset: 0 };
}

function bad(name: string, msg: string): QuantError {
  return new QuantError("E_DATA_FORMAT", `input '${name}': ${msg}`, { target: name });
}

/** A C-contiguous ndarray stride for `shape` (ndarray's `{ shape, stride }` may describe views that are not). */
function contiguous(shape: readonly number[], stride: readonly number[]): boolean {
  let s = 1;
  for (let k = shape.length - 1; k >= 0; k--) {
    if (shape[k]! > 1 && stride[k] !== s) return false;
    s *= shape[k]!;
  }
  return true;
}

/**
 * A stored array for an in-memory value of input `name` (a string is a path, handled by the caller).
 * Integral numbers become int64 (so `16000` feeds an int64 and, converted exactly, a float input); others float64.
 */
export function valueArray(name: string, v: Exclude<InputValue, string>): StoredArray {
  if (typeof v === "bigint") return stored(name, DataType.INT64, [], BigInt64Array.of(v));
  if (typeof v === "boolean") return stored(name, DataType.BOOL, [], Uint8Array.of(v ? 1 : 0));
  if (typeof v === "number") {
    if (Number.isNaN(v)) throw bad(name, "value is NaN");
    return Number.isSafeInteger(v) ? stored(name, DataType.INT64, [], BigInt64Array.of(BigInt(v))) : stored(name, DataType.DOUBLE, [], Float64Array.of(v));
  }
  if (Array.isArray(v)) {
    const list = v as readonly unknown[];
    if (!list.every((x) => typeof x === "number")) throw bad(name, "a list value must be a flat list of numbers (give nested data as { dims, data })");
    const nums = list as number[];
    if (nums.every((x) => Number.isSafeInteger(x))) return stored(name, DataType.INT64, [nums.length], BigInt64Array.from(nums, (x) => BigInt(x)));
    return stored(name, DataType.DOUBLE, [nums.length], Float64Array.from(nums));
  }
  if (isTyped(v)) return stored(name, typeOfArray(v), [v.length], v);
  if (v && typeof v === "object" && isTyped((v as { data?: unknown }).data)) {
    const o = v as { dims?: readonly number[]; shape?: readonly number[]; data: InputData; type?: string; dtype?: string; stride?: readonly number[]; offset?: number };
    const dims = o.dims ?? o.shape;
    if (!Array.isArray(dims) || !dims.every((d) => Number.isSafeInteger(d) && d >= 0)) throw bad(name, "dims/shape must be a list of non-negative integers");
    if (o.stride && (!contiguous(dims, o.stride) || (o.offset ?? 0) !== 0)) throw bad(name, "a strided view is not C-contiguous: pass a contiguous copy");
    const n = dims.reduce((a, d) => a * d, 1);
    if (o.data.length !== n) throw bad(name, `data has ${o.data.length} elements, dims [${dims.join(", ")}] need ${n}`);
    const named = NAMED_TYPES[(o.type ?? o.dtype ?? "").toLowerCase()];
    const type = named !== undefined && (o.data instanceof Uint16Array || o.data instanceof Uint8Array) ? named : typeOfArray(o.data);
    return stored(name, type, dims, o.data);
  }
  throw bad(name, "expected a typed array, { dims, data }, { shape, data }, a number, a bigint, a boolean or a list of numbers");
}

/**
 * Parse a CLI `--input name=VALUE` list: a number (`16000`, `0.5`), a comma list (`1,2,3`: 1-D), `true`/`false`,
 * or a path to a `.npy`. Values are kept as JS values / paths; fitting to the input happens when the data opens.
 */
export function parseInputFlags(values: readonly string[]): Record<string, InputValue> | undefined {
  if (!values.length) return undefined;
  const out: Record<string, InputValue> = {};
  for (const v of values) {
    const eq = v.indexOf("=");
    if (eq <= 0) throw new QuantError("E_USAGE", `--input expects NAME=VALUE (a number, a comma list, true/false or a .npy path), got '${v}'`);
    const name = v.slice(0, eq);
    const text = v.slice(eq + 1).trim();
    if (name in out) throw new QuantError("E_USAGE", `--input ${name} given twice`);
    out[name] = parseInputValue(name, text);
  }
  return out;
}

function parseInputValue(name: string, text: string): InputValue {
  if (text === "true" || text === "false") return text === "true";
  const num = (t: string) => (t.trim() !== "" && Number.isFinite(Number(t)) ? Number(t) : undefined);
  if (num(text) !== undefined) {
    const n = num(text)!;
    // Integers beyond 2^53 keep their exact value as bigint.
    if (/^[+-]?\d+$/.test(text) && !Number.isSafeInteger(n)) return BigInt(text);
    return n;
  }
  if (text.includes(",")) {
    const parts = text.split(",").map(num);
    if (parts.every((p) => p !== undefined)) return parts as number[];
  }
  if (extname(text).toLowerCase() === ".npy" || existsSync(text)) return text;
  throw new QuantError("E_USAGE", `--input ${name}=${text}: not a number, a comma list of numbers, true/false, or an existing .npy file`);
}
