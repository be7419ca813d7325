/**
 * What the integer and contrib ops the quantizers and packers emit need from the model's opset imports, declared in
 * one place: the default-domain opset each ONNX op first appeared in, and the `com.microsoft` domain import for ONNX
 * Runtime's contrib ops (MatMulNBits, MatMulBnb4).
 */
import { num, type ModelProto } from "../onnx/types.ts";

/** The ONNX Runtime contrib-op domain. */
export const MS_DOMAIN = "com.microsoft";

/** Lowest default-domain opset of each integer op quant emits (DynamicQuantizeLinear since 11, the rest since 10). */
export const OP_MIN_OPSET = {
  DynamicQuantizeLinear: 11,
  MatMulInteger: 10,
  ConvInteger: 10,
  /** Contrib ops only need a default-domain opset their neighbours accept; 11 keeps DynamicQuantizeLinear legal too. */
  contrib: 1,
} as const;

/** Import `domain` at `version` unless the model imports it already (then the higher version wins). */
export function ensureOpsetImport(model: ModelProto, domain: string, version = 1): void {
  const imports = (model.opset_import ??= []);
  const have = imports.find((o) => (o.domain ?? "") === domain);
  if (!have) imports.push({ domain, version });
  else if (num(have.version ?? 0) < version) have.version = version;
}
