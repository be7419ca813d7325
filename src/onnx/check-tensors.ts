/**
 * Load-time checks of every stored tensor (initializers, sparse parts, Constant/attribute tensors, function bodies):
 * dims are non-negative integers, the data type is known, and the data holds exactly what dims × type need —
 * raw_data bytes, the typed field's entry count, or an explicit external `length`. ONNX Runtime refuses such
 * tensors at session creation ("raw_data size does not match"); refusing them at load names the tensor before any
 * work is done, and keeps quantizers from reading past (or silently ignoring) the data.
 */
import { QuantError } from "../errors/errors.ts";
import { DataType, bitsPerElement, byteLength, dataTypeName } from "../tensor/dtypes.ts";
import { externalRef, isExternal } from "./external.ts";
import type { ModelProto, SparseTensorProto, TensorProto } from "./types.ts";
import { allGraphs, allTensors, type TensorSite } from "./walk.ts";

/** Which typed field carries a type's values, and how many entries n elements take. */
function typedField(type: number, n: number): { field: keyof TensorProto; entries: number } | undefined {
  switch (type) {
    case DataType.FLOAT: return { field: "float_data", entries: n };
    case DataType.COMPLEX64: return { field: "float_data", entries: 2 * n };
    case DataType.DOUBLE: return { field: "double_data", entries: n };
    case DataType.COMPLEX128: return { field: "double_data", entries: 2 * n };
    case DataType.INT64: return { field: "int64_data", entries: n };
    case DataType.UINT32: case DataType.UINT64: return { field: "uint64_data", entries: n };
    case DataType.STRING: return { field: "string_data", entries: n };
  }
  // Everything else narrower than 64 bits rides in int32_data: one entry per element, 4-bit types one per byte.
  const bits = bitsPerElement(type);
  if (bits === 4) return { field: "int32_data", entries: Math.ceil(n / 2) };
  if (bits > 0 && bits <= 32) return { field: "int32_data", entries: n };
  return undefined;
}

const TYPED_FIELDS = ["float_data", "int32_data", "int64_data", "double_data", "uint64_data", "string_data"] as const;

function describe(site: TensorSite): string {
  const t = site.tensor;
  const where = site.kind === "attribute" ? ` (attribute of node "${site.node?.name || site.node?.op_type}")` : site.kind === "initializer" ? "" : ` (${site.kind.replace("_", " ")})`;
  return `tensor "${t.name ?? ""}"${where}`;
}

/** Throw E_LOAD_TENSOR for the first stored tensor whose dims, type or data length are inconsistent. */
export function checkTensors(model: ModelProto, file?: string): void {
  for (const site of allTensors(model)) checkTensor(site, file);
  for (const { graph } of allGraphs(model)) for (const sp of graph.sparse_initializer ?? []) checkSparse(sp, file);
}

/**
 * A sparse tensor holds at least one value per {@link MAX_SPARSITY} dense elements. Pruned weights are far denser;
 * a few values declaring a huge dense shape is a bomb: ONNX Runtime densifies sparse initializers when it loads a
 * model (12 bytes of values over dims [3, 32, 32, 32, 2, 32, 3, 3, 4] took 900 MB).
 */
export const MAX_SPARSITY = 10_000;

function checkSparse(sp: SparseTensorProto, file?: string): void {
  const name = sp.values?.name ?? "";
  const bad = (msg: string) => new QuantError("E_LOAD_TENSOR", `sparse initializer "${name}" ${msg}`, { file, target: name || undefined });
  if (!sp.values || !sp.indices) throw bad("lacks its values or its indices");
  const dims = (sp.dims ?? []).map((d) => (typeof d === "number" ? d : Number(d.toString())));
  if (!dims.every((d) => Number.isSafeInteger(d) && d >= 0)) throw bad(`has dims [${dims.join(", ")}]: every dim must be a non-negative integer`);
  const dense = dims.reduce((a, b) => a * b, 1);
  const nnz = (sp.values.dims ?? []).map(Number).reduce((a, b) => a * b, 1);
  if (!Number.isSafeInteger(dense)) throw bad(`has dims [${dims.join(", ")}]: ${dense} elements is not a countable size`);
  if (dense > 65536 && dense > MAX_SPARSITY * Math.max(nnz, 1)) {
    throw bad(`declares ${dense} dense elements (dims [${dims.join(", ")}]) for ${nnz} values: over 1 in ${MAX_SPARSITY} sparse, refused (ONNX Runtime would densify it)`);
  }
  const idims = (sp.indices.dims ?? []).map(Number);
  if (!(idims.length === 1 && idims[0] === nnz) && !(idims.length === 2 && idims[0] === nnz && idims[1] === dims.length)) {
    throw bad(`has indices of shape [${idims.join(", ")}] for ${nnz} values of rank ${dims.length} (want [${nnz}] or [${nnz}, ${dims.length}])`);
  }
}

function checkTensor(site: TensorSite, file?: string): void {
  const t = site.tensor;
  const bad = (msg: string) => new QuantError("E_LOAD_TENSOR", `${describe(site)} ${msg}`, { file, target: t.name || undefined });
  const dims = (t.dims ?? []).map((d) => (typeof d === "number" ? d : Number(d.toString())));
  const shown = `[${dims.join(", ")}]`;
  if (!dims.every((d) => Number.isSafeInteger(d) && d >= 0)) throw bad(`has dims ${shown}: every dim must be a non-negative integer`);
  let n = 1;
  for (const d of dims) n *= d;
  if (!Number.isSafeInteger(n)) throw bad(`has dims ${shown}: ${n} elements is not a countable size`);
  const type = t.data_type ?? 0;
  const name = dataTypeName(type);
  if (t.segment) throw bad("is segmented (TensorProto.segment), which ONNX Runtime and quant do not read");
  const raw = t.raw_data;
  if (isExternal(t)) {
    if (raw?.length || TYPED_FIELDS.some((f) => (t[f] as unknown[] | undefined)?.length)) throw bad("has external data and inline data at once");
    if (type === DataType.STRING || bitsPerElement(type) === 0) throw bad(`has external data of type ${name}, which has no fixed size`);
    const { length } = externalRef(t);
    const want = byteLength(type, n);
    if (length !== want) throw bad(`has external data of ${length} bytes, dims ${shown} of ${name} need ${want}`);
    return;
  }
  // As ONNX's checker: one value field at most (a reader would pick one and silently drop the other).
  const filled = [...(raw?.length ? ["raw_data"] : []), ...TYPED_FIELDS.filter((f) => (t[f] as unknown[] | undefined)?.length)];
  if (filled.length > 1) throw bad(`stores data in both ${filled.join(" and ")} (ONNX allows one value field)`);
  const field = typedField(type, n);
  if (!field) {
    // UNDEFINED or an unknown code: nothing can read it; empty and unused is harmless, data is not.
    if (raw?.length || TYPED_FIELDS.some((f) => (t[f] as unknown[] | undefined)?.length) || n > 0) throw bad(`has data type ${name}, which has no defined storage`);
    return;
  }
  if (raw !== undefined && (raw.length > 0 || !(t[field.field] as unknown[] | undefined)?.length)) {
    if (type === DataType.STRING) throw bad("is a STRING tensor with raw_data (strings live in string_data)");
    const want = byteLength(type, n);
    if (raw.length !== want) throw bad(`has ${raw.length} bytes of raw_data, dims ${shown} of ${name} need ${want}`);
    return;
  }
  const have = (t[field.field] as unknown[] | undefined)?.length ?? 0;
  if (have !== field.entries) {
    const what = have === 0 ? "holds no data" : `has ${have} ${field.field} entries`;
    throw bad(`${what}, dims ${shown} of ${name} need ${field.entries}${have === 0 ? ` ${field.field} entries or raw_data` : ""}`);
  }
}
