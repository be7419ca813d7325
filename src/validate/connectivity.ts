/**
 * Structural validation of an output model (the `connectivity` validator plugin and `quant validate` use it): checks that ONNX Runtime either rejects at load time with
 * an obscure message or, worse, accepts and computes garbage with.
 * - every node input and graph output resolves (graph inputs, initializers, node outputs, outer-scope values of
 *   enclosing graphs for If/Loop/Scan bodies at any depth);
 * - graph inputs/outputs are those of the original model (names, element types, fixed dims);
 * - QuantizeLinear/DequantizeLinear rules: scale finite and > 0, zero-point type equals the quantized type, scale and
 *   zero-point shapes agree, `axis` in range, per-axis scale length equals the dim, `block_size` consistent, 4-bit
 *   storage in range, opset high enough for what is used; constant quantized weights are flagged as warnings.
 */
import { DataType, dataTypeName, isFloatWeightType } from "../tensor/dtypes.ts";
import { GraphIndex, isOnnxOp, opsetVersion, type Dim, type Scope } from "../onnx/graph.ts";
import type { Diagnostic } from "../kernel/types.ts";
import { isExternal } from "../onnx/external.ts";
import { num, type GraphProto, type NodeProto, type ValueInfoProto } from "../onnx/types.ts";
import { tensorBytes, tensorDims, tensorFloat32, tensorSize } from "../onnx/tensor-data.ts";
import { unpackInt4, unpackUint4 } from "../tensor/int4.ts";
import type { Model } from "../onnx/model.ts";

const err = (code: string, target: string | undefined, message: string): Diagnostic => ({ level: "error", code, target, message });
const warn = (code: string, target: string | undefined, message: string): Diagnostic => ({ level: "warning", code, target, message });

/** Integer types QuantizeLinear may produce / DequantizeLinear may read (INT32 is DQ-only: biases). */
const QUANT_TYPES = new Set<number>([
  DataType.INT8, DataType.UINT8, DataType.INT16, DataType.UINT16, DataType.INT4, DataType.UINT4,
  DataType.FLOAT8E4M3FN, DataType.FLOAT8E4M3FNUZ, DataType.FLOAT8E5M2, DataType.FLOAT8E5M2FNUZ,
]);

const nodeLabel = (n: NodeProto) => n.name || `${n.op_type}(${n.output?.[0] ?? "?"})`;
const where = (s: Scope) => (s.site.path === "main" ? "" : ` in ${s.site.path}`);

function intAttr(n: NodeProto, name: string): number | undefined {
  const a = n.attribute?.find((x) => x.name === name);
  return a && a.i !== undefined && a.i !== null ? num(a.i) : undefined;
}

/** Every node input and graph output resolves; producers come before readers (ORT re-sorts, so order is a warning). */
export function checkResolution(index: GraphIndex): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const scope of index.scopes) {
    const nodes = scope.graph.node ?? [];
    const position = new Map<NodeProto, number>();
    nodes.forEach((n, i) => position.set(n, i));
    // Out-of-order reads are one warning per graph (the first one named), not one per node.
    let early = 0;
    let first: { node: NodeProto; x: string; producer: NodeProto } | undefined;
    nodes.forEach((node, i) => {
      for (const x of node.input ?? []) {
        if (!x) continue; // an omitted optional input
        const p = scope.producers.get(x);
        if (p) {
          if (p.kind === "node" && position.get(p.node)! > i) {
            early++;
            first ??= { node, x, producer: p.node };
          }
          continue;
        }
        if (!index.definingScope(x, scope.graph))
          out.push(err("dangling-input", nodeLabel(node), `${node.op_type} reads "${x}", which no graph input, initializer or node output defines${where(scope)}`));
      }
    });
    if (first)
      out.push(warn("node-order", nodeLabel(first.node), `nodes are not in topological order${where(scope)}: ${early} read(s) of values produced later (first: "${nodeLabel(first.node)}" reads "${first.x}" before "${nodeLabel(first.producer)}" produces it)`));
    for (const o of scope.graph.output ?? [])
      if (o.name && !index.definingScope(o.name, scope.graph)) out.push(err("dangling-output", o.name, `graph output "${o.name}" is not produced by any node, input or initializer${where(scope)}`));
  }
  return out;
}

function shapeOf(v: ValueInfoProto): Dim[] | undefined {
  const s = v.type?.tensor_type?.shape;
  if (!s) return undefined;
  return (s.dim ?? []).map((d): Dim => (d.dim_param ? d.dim_param : d.dim_value !== undefined && d.dim_value !== null ? num(d.dim_value) : null));
}

const shapeText = (s: Dim[]) => `[${s.map((d) => d ?? "?").join(",")}]`;

/** Graph inputs (callers must feed them: initializers excluded) and outputs of the main graph are those of the original. */
export function checkInterface(original: Model, model: Model): Diagnostic[] {
  const out: Diagnostic[] = [];
  const sides = (g: GraphProto | undefined) => {
    const inits = new Set((g?.initializer ?? []).map((t) => t.name));
    return { input: (g?.input ?? []).filter((v) => !inits.has(v.name)), output: g?.output ?? [] };
  };
  const a = sides(original.proto.graph);
  const b = sides(model.proto.graph);
  for (const kind of ["input", "output"] as const) {
    const now = new Map(b[kind].map((v) => [v.name ?? "", v]));
    const before = new Set(a[kind].map((v) => v.name ?? ""));
    for (const v of a[kind]) {
      const name = v.name ?? "";
      const w = now.get(name);
      if (!w) {
        out.push(err("io-changed", name, `graph ${kind} "${name}" of the original model is missing`));
        continue;
      }
      const ta = v.type?.tensor_type?.elem_type ?? 0;
      const tb = w.type?.tensor_type?.elem_type ?? 0;
      if (ta !== tb) out.push(err("io-changed", name, `graph ${kind} "${name}" changed type: ${dataTypeName(ta)} → ${dataTypeName(tb)}`));
      const sa = shapeOf(v);
      const sb = shapeOf(w);
      // Symbolic names may differ (exporters rename them); rank and fixed sizes may not.
      if (sa && sb && (sa.length !== sb.length || sa.some((d, i) => typeof d === "number" && typeof sb[i] === "number" && d !== sb[i])))
        out.push(err("io-changed", name, `graph ${kind} "${name}" changed shape: ${shapeText(sa)} → ${shapeText(sb)}`));
    }
    for (const v of b[kind]) if (!before.has(v.name ?? "")) out.push(err("io-changed", v.name, `graph ${kind} "${v.name}" is not in the original model`));
    const order = (list: ValueInfoProto[]) => list.map((v) => v.name).filter((n) => before.has(n ?? "") && now.has(n ?? "")).join("\0");
    if (order(a[kind]) !== order(b[kind])) out.push(warn("io-order", undefined, `graph ${kind}s are in a different order than in the original (positional callers will break)`));
  }
  return out;
}

/** Element type of a value, also through QuantizeLinear (whose output type is its zero point's type). */
function elemType(index: GraphIndex, name: string, graph: GraphProto): number | undefined {
  const p = index.producer(name, graph);
  if (p?.kind === "node" && isOnnxOp(p.node, "QuantizeLinear") && p.output === 0) return quantizeOutputType(index, p.node, graph);
  return index.elemTypeOf(name, graph);
}

function quantizeOutputType(index: GraphIndex, q: NodeProto, graph: GraphProto): number | undefined {
  const attr = intAttr(q, "output_dtype");
  if (attr) return attr;
  const zp = q.input?.[2];
  return zp ? index.elemTypeOf(zp, graph) : DataType.UINT8;
}

/** Shape of a value, also through QuantizeLinear (same shape as its input). */
function shape(index: GraphIndex, name: string, graph: GraphProto): Dim[] | undefined {
  const s = index.shapeOf(name, graph);
  if (s) return s;
  const p = index.producer(name, graph);
  if (p?.kind === "node" && isOnnxOp(p.node, "QuantizeLinear")) return index.shapeOf(p.node.input?.[0] ?? "", graph);
  return undefined;
}

/** 4-bit storage holds exactly ceil(n/2) packed bytes (int32_data: one byte value per entry). */
function check4bit(model: Model, name: string, t: Parameters<typeof tensorBytes>[1], target: string, out: Diagnostic[]): void {
  const n = tensorSize(t);
  const need = Math.ceil(n / 2);
  if (!t.raw_data && !isExternal(t)) {
    const bad = (t.int32_data ?? []).findIndex((v) => v < 0 || v > 255);
    if (bad >= 0) out.push(err("int4-range", target, `4-bit tensor "${name}" holds ${t.int32_data![bad]} at int32_data[${bad}], not a packed byte (two 4-bit values)`));
  }
  const have = isExternal(t) ? need : tensorBytes(model, t).byteLength;
  if (have !== need) out.push(err("int4-range", target, `4-bit tensor "${name}" has ${have} bytes of data; ${n} values need ${need}`));
}

/** The repeated element of a tensor whose elements are all equal (4-bit values unpacked), or undefined. */
function repeatedElement(model: Model, t: Parameters<typeof tensorBytes>[1]): number[] | undefined {
  const n = tensorSize(t);
  const type = t.data_type ?? 0;
  const bytes = tensorBytes(model, t);
  if (type === DataType.INT4 || type === DataType.UINT4) {
    if (bytes.byteLength < Math.ceil(n / 2)) return undefined; // reported by check4bit
    const v = type === DataType.INT4 ? unpackInt4(bytes, n) : unpackUint4(bytes, n);
    for (let i = 1; i < n; i++) if (v[i] !== v[0]) return undefined;
    return [v[0]!];
  }
  const size = bytes.byteLength / n;
  if (!Number.isInteger(size) || size < 1) return undefined;
  for (let i = size; i < bytes.byteLength; i++) if (bytes[i] !== bytes[i % size]) return undefined;
  return Array.from(bytes.subarray(0, size));
}

/** A DequantizeLinear data input that is a constant made of one repeated value is a weight that carries no information. */
function checkConstantWeight(model: Model, index: GraphIndex, node: NodeProto, graph: GraphProto, out: Diagnostic[], wasConstant?: ConstantTwin): void {
  const x = node.input?.[0] ?? "";
  const t = index.constantOf(x, graph);
  if (!t || isExternal(t) || tensorSize(t) < 2) return;
  const value = repeatedElement(model, t);
  if (!value || wasConstant?.(index, node, graph)) return; // faithful to an already-constant float tensor (e.g. zero biases)
  // Dequantizes to zeros when every zero point equals the repeated value (0 without a zero point).
  const zp = node.input?.[2];
  const zpT = zp ? index.constantOf(zp, graph) : undefined;
  const zpValue = !zp ? value.map(() => 0) : zpT && !isExternal(zpT) && tensorSize(zpT) >= 1 ? repeatedElement(model, zpT) : undefined;
  const zero = zpValue !== undefined && zpValue.length === value.length && zpValue.every((b, i) => b === value[i]);
  const n = tensorSize(t);
  out.push(warn("dq-constant-weight", nodeLabel(node), zero
    ? `quantized weight "${x}" dequantizes to all zeros (${n} values equal the zero point)`
    : `quantized weight "${x}" holds one repeated value (${n} elements): a constant weight`));
}

/** True when every reader of a DQ's output read a constant made of one repeated value in the original model. */
type ConstantTwin = (index: GraphIndex, dq: NodeProto, graph: GraphProto) => boolean;

function constantTwin(original: Model): ConstantTwin {
  const oi = new GraphIndex(original);
  const byName = new Map<string, { node: NodeProto; graph: GraphProto }>();
  for (const s of oi.scopes) for (const n of s.graph.node ?? []) if (n.name) byName.set(n.name, { node: n, graph: s.graph });
  return (index, dq, graph) => {
    const readers = dq.output?.[0] ? index.readers(dq.output[0], graph) : [];
    return readers.length > 0 && readers.every((c) => {
      const twin = c.node.name ? byName.get(c.node.name) : undefined;
      let name = twin?.node.input?.[c.input];
      // Exporters feed shared tensors through Identity nodes.
      for (let hops = 0; name && hops < 8; hops++) {
        const p = oi.producer(name, twin!.graph);
        if (p?.kind !== "node" || !isOnnxOp(p.node, "Identity")) break;
        name = p.node.input?.[0];
      }
      const t = name ? oi.constantOf(name, twin!.graph) : undefined;
      return t !== undefined && !isExternal(t) && repeatedElement(original, t) !== undefined;
    });
  };
}

/** The Q/DQ rules for one node. */
function checkQdqNode(model: Model, index: GraphIndex, node: NodeProto, graph: GraphProto, opset: number, out: Diagnostic[], wasConstant?: ConstantTwin): void {
  const isQ = node.op_type === "QuantizeLinear";
  const label = nodeLabel(node);
  const [x = "", s = "", zp = ""] = node.input ?? [];
  if (!x || !s) {
    out.push(err("dq-inputs", label, `${node.op_type} needs its data and scale inputs`));
    return;
  }
  // Scale: a float tensor, finite and > 0 (a 0 scale divides by zero in Q, NaN/Inf poison DQ). One exception: a DQ of
  // a constant weight may have negative scales — a mirrored grid (ORT's MatMulNBits quantizer does it for symmetric
  // 4-bit), valid since DQ is (q − zp)·scale; an activation's Q/DQ pair may not.
  const scaleT = index.constantOf(s, graph);
  const scaleType = scaleT?.data_type ?? index.elemTypeOf(s, graph);
  if (scaleType !== undefined && !isFloatWeightType(scaleType)) out.push(err("dq-scale", label, `scale "${s}" is ${dataTypeName(scaleType)}, not a float type`));
  else if (scaleT) {
    const mirrored = !isQ && index.constantOf(x, graph) !== undefined;
    const v = tensorFloat32(model, scaleT);
    let bad = -1;
    let count = 0;
    for (let i = 0; i < v.length; i++) {
      const f = v[i]!;
      const ok = mirrored ? f !== 0 && Number.isFinite(f) : f > 0 && f !== Infinity;
      if (!ok) (count++, bad < 0 && (bad = i));
    }
    if (count) out.push(err("dq-scale", label, `scale "${s}" has ${count} value(s) that are not finite and ${mirrored ? "non-zero" : "> 0"} (first: [${bad}] = ${v[bad]})`));
  }
  // Quantized type: DQ reads it as x; Q produces it, typed by its zero point (or output_dtype, else uint8).
  const zpT = zp ? index.constantOf(zp, graph) : undefined;
  const zpType = zp ? (zpT?.data_type ?? index.elemTypeOf(zp, graph)) : undefined;
  const xType = elemType(index, x, graph);
  const qType = isQ ? quantizeOutputType(index, node, graph) : xType;
  if (isQ) {
    if (xType !== undefined && !isFloatWeightType(xType)) out.push(err("dq-type", label, `QuantizeLinear input "${x}" is ${dataTypeName(xType)}, not a float type`));
    const dtype = intAttr(node, "output_dtype");
    if (dtype && zpType !== undefined && dtype !== zpType) out.push(err("dq-zero-point", label, `zero point "${zp}" is ${dataTypeName(zpType)} but output_dtype is ${dataTypeName(dtype)}`));
    const declared = index.valueInfo(node.output?.[0] ?? "", graph)?.type?.tensor_type?.elem_type;
    if (declared && qType !== undefined && declared !== qType)
      out.push(err("dq-zero-point", label, `output "${node.output![0]}" is declared ${dataTypeName(declared)} but the zero point makes it ${dataTypeName(qType)}`));
  } else if (zpType !== undefined && xType !== undefined && zpType !== xType) {
    out.push(err("dq-zero-point", label, `zero point "${zp}" is ${dataTypeName(zpType)} but the quantized input "${x}" is ${dataTypeName(xType)}`));
  }
  if (qType !== undefined && !QUANT_TYPES.has(qType) && !(qType === DataType.INT32 && !isQ))
    out.push(err("dq-type", label, `${isQ ? "output" : "input"} type ${dataTypeName(qType)} is not a quantized type`));
  // Opset support for types.
  if ((qType === DataType.INT4 || qType === DataType.UINT4 || qType === DataType.INT16 || qType === DataType.UINT16) && opset < 21)
    out.push(err("dq-opset", label, `${dataTypeName(qType)} Q/DQ needs opset 21 (model imports ${opset})`));
  if ((qType === DataType.INT4 || qType === DataType.UINT4) && num(model.proto.ir_version) < 10)
    out.push(err("dq-opset", label, `${dataTypeName(qType)} tensors need IR version 10 (model has ${num(model.proto.ir_version)})`));

  // Shapes: scale and zero point agree; granularity is per-tensor, per-axis or blocked.
  const scaleDims: Dim[] | undefined = scaleT ? tensorDims(scaleT) : index.shapeOf(s, graph);
  const zpDims: Dim[] | undefined = zpT ? tensorDims(zpT) : zp ? index.shapeOf(zp, graph) : undefined;
  if (scaleDims && zpDims && (scaleDims.length !== zpDims.length || scaleDims.some((d, i) => typeof d === "number" && typeof zpDims[i] === "number" && d !== zpDims[i])))
    out.push(err("dq-shape", label, `scale "${s}" ${shapeText(scaleDims)} and zero point "${zp}" ${shapeText(zpDims)} have different shapes`));
  const xDims = shape(index, x, graph);
  const rank = xDims?.length;
  const block = intAttr(node, "block_size") ?? 0;
  const axisAttr = intAttr(node, "axis");
  const axis = axisAttr ?? 1;
  const inRange = rank === undefined || (axis >= -rank && axis < rank);
  const ax = rank !== undefined && axis < 0 ? axis + rank : axis;
  if (block < 0) out.push(err("dq-block", label, `block_size ${block} is negative`));
  if (block > 0) {
    if (opset < 21) out.push(err("dq-opset", label, `block_size needs opset 21 (model imports ${opset})`));
    if (!inRange) out.push(err("dq-axis", label, `axis ${axis} is out of range for input "${x}" of rank ${rank}`));
    else if (scaleDims && rank !== undefined) {
      if (scaleDims.length !== rank) out.push(err("dq-block", label, `blocked scale "${s}" has rank ${scaleDims.length}; input "${x}" has rank ${rank}`));
      else
        for (let d = 0; d < rank; d++) {
          const D = xDims![d]!;
          const S = scaleDims[d]!;
          if (typeof D !== "number" || typeof S !== "number") continue;
          const want = d === ax ? Math.ceil(D / block) : D;
          if (S !== want) {
            out.push(err("dq-block", label, d === ax
              ? `scale "${s}" has ${S} blocks along axis ${ax}; dim ${D} with block_size ${block} needs ceil(${D}/${block}) = ${want}`
              : `scale "${s}" dim ${d} is ${S}; input "${x}" dim ${d} is ${D} (only the block axis may differ)`));
            break;
          }
        }
    }
  } else if (scaleDims && scaleDims.length === 1 && scaleDims[0] !== 1) {
    // Per-axis: the axis must exist and the scale must have one entry per slice along it.
    if (opset < 13 && axisAttr === undefined) out.push(err("dq-opset", label, `per-axis scale "${s}" needs opset 13 (model imports ${opset})`));
    if (!inRange) out.push(err("dq-axis", label, `axis ${axis} is out of range for input "${x}" of rank ${rank}`));
    else if (xDims && typeof xDims[ax] === "number" && typeof scaleDims[0] === "number" && xDims[ax] !== scaleDims[0])
      out.push(err("dq-axis", label, `scale "${s}" has ${scaleDims[0]} values; input "${x}" has ${xDims[ax]} along axis ${ax}`));
  } else if (scaleDims && scaleDims.length > 1) {
    out.push(err("dq-block", label, `scale "${s}" has rank ${scaleDims.length} but no block_size attribute`));
  }
  if (axisAttr !== undefined && opset < 13) out.push(err("dq-opset", label, `the axis attribute needs opset 13 (model imports ${opset})`));

  // Stored integer data.
  for (const name of isQ ? [zp] : [x, zp]) {
    const t = name ? index.constantOf(name, graph) : undefined;
    if (t && (t.data_type === DataType.INT4 || t.data_type === DataType.UINT4)) check4bit(model, name, t, label, out);
  }
  if (!isQ) checkConstantWeight(model, index, node, graph, out, wasConstant);
}

/**
 * All Q/DQ rules over every graph of the model. With `original`, a constant quantized weight whose float tensor was
 * already constant (zero biases of untrained models) is not flagged.
 */
export function checkQdq(model: Model, index: GraphIndex = new GraphIndex(model), original?: Model): Diagnostic[] {
  const out: Diagnostic[] = [];
  const opset = opsetVersion(model.proto) ?? 0;
  const wasConstant = original ? constantTwin(original) : undefined;
  for (const scope of index.scopes)
    for (const node of scope.graph.node ?? [])
      if (isOnnxOp(node, "QuantizeLinear") || isOnnxOp(node, "DequantizeLinear")) checkQdqNode(model, index, node, scope.graph, opset, out, wasConstant);
  return out;
}

/**
 * Every structural check on `model`, with `original` for interface preservation.
 * @example const diags = checkConnectivity(quantized, original).filter((d) => d.level === "error");
 */
export function checkConnectivity(model: Model, original?: Model): Diagnostic[] {
  const index = new GraphIndex(model);
  return [...checkResolution(index), ...(original ? checkInterface(original, model) : []), ...checkQdq(model, index, original)];
}
