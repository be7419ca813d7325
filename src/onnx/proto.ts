/**
 * protobufjs binding of onnx.proto: decode/encode ModelProto and TensorProto.
 * Decoded `bytes` fields are views into the source buffer (protobufjs uses subarray), so weights are never copied on load.
 */
import protobuf from "protobufjs";
import Long from "long";
import protoText from "./onnx.proto" with { type: "text" };
import type { ModelProto, TensorProto } from "./types.ts";

protobuf.util.Long = Long;
protobuf.configure();

let root: protobuf.Root | undefined;

/**
 * protobufjs puts every field's default on the message prototype (`raw_data` reads `[]`, `dim_value` reads Long 0,
 * `t` reads null even when absent). Remove them so an absent field reads `undefined`, as types.ts promises
 * (`if (t.raw_data)` must mean "has raw_data"). Encoding checks own properties, so nothing else changes.
 */
function dropPrototypeDefaults(ns: protobuf.NamespaceBase): void {
  for (const obj of ns.nestedArray) {
    if (obj instanceof protobuf.Type) {
      const proto = obj.ctor.prototype as Record<string, unknown>;
      for (const f of obj.fieldsArray) delete proto[f.name];
    }
    if (obj instanceof protobuf.Namespace) dropPrototypeDefaults(obj);
  }
}

function types() {
  if (!root) {
    root = protobuf.parse(protoText, { keepCase: true }).root;
    dropPrototypeDefaults(root);
  }
  return {
    Model: root.lookupType("onnx.ModelProto"),
    Tensor: root.lookupType("onnx.TensorProto"),
  };
}

/** Replace protobufjs Long values by numbers where they fit in 2^53; keep the Long otherwise (lossless). */
function normalizeLongs(value: unknown, depth = 0): unknown {
  if (depth > 512) return value; // deeper nesting is rejected by the loader anyway
  if (Array.isArray(value)) {
    if (value.length === 0 || typeof value[0] !== "object") return value;
    for (let i = 0; i < value.length; i++) value[i] = normalizeLongs(value[i], depth + 1);
    return value;
  }
  if (value === null || typeof value !== "object" || ArrayBuffer.isView(value)) return value;
  if (Long.isLong(value)) {
    const l = value as Long;
    const lim = Number.MAX_SAFE_INTEGER;
    return l.lessThanOrEqual(lim) && l.greaterThanOrEqual(l.unsigned ? 0 : -lim) ? l.toNumber() : l;
  }
  const obj = value as Record<string, unknown>;
  for (const k of Object.keys(obj)) {
    const v = obj[k];
    if (v !== null && typeof v === "object") obj[k] = normalizeLongs(v, depth + 1);
  }
  return obj;
}

/** The reflected protobufjs type of an ONNX message (e.g. `ModelProto`), for encoders that work field by field. */
export function messageType(name: string): protobuf.Type {
  types();
  return root!.lookupType(`onnx.${name}`);
}

/** Decode ModelProto bytes. Throws whatever protobufjs throws on malformed input. */
export function decodeModelProto(bytes: Uint8Array): ModelProto {
  const msg = types().Model.decode(bytes);
  return normalizeLongs(msg) as ModelProto;
}

/** Encode a ModelProto to bytes. */
export function encodeModelProto(model: ModelProto): Uint8Array {
  return types().Model.encode(model as protobuf.Message).finish();
}

/** Encode a lone TensorProto. */
export function encodeTensorProto(t: TensorProto): Uint8Array {
  return types().Tensor.encode(t as protobuf.Message).finish();
}
