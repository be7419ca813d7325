/**
 * `quant info`: what a model is (IR, opsets, producer, ops, inputs/outputs) and where its weights live,
 * and whether it is already quantized. `modelInfo` gives the data (also the `--format json` output);
 * `formatInfo` renders it for humans.
 */
import { dataTypeName } from "../tensor/dtypes.ts";
import { GraphIndex, type Dim } from "./graph.ts";
import type { Model } from "./model.ts";
import type { ModelProto, TypeProto, ValueInfoProto } from "./types.ts";
import { num } from "./types.ts";
import { findWeights } from "./weights.ts";
import { isQuantized, type QuantizationState } from "./quantized.ts";
import { allGraphs } from "./walk.ts";

/** A graph input or output. */
export interface IoInfo {
  name: string;
  /** Element type name (`FLOAT`), or the kind for non-tensor types (`sequence`, `map`, `optional`, …). */
  type: string;
  /** Dimensions (numbers, symbolic names, null when unknown); null when the rank is unknown. */
  shape: Dim[] | null;
}

/** Count and bytes of a group of weights. */
export interface Tally {
  count: number;
  bytes: number;
}

/** Where weights are stored, as reported by `quant info`. */
export type WeightPlace = "initializer" | "constant" | "subgraph" | "external";

/** Everything `quant info` shows. */
export interface ModelInfo {
  file?: string;
  irVersion: number;
  opsets: { domain: string; version: number }[];
  producer: { name: string; version: string };
  graphs: { count: number; subgraphs: number; functions: string[] };
  nodes: { total: number; byOp: Record<string, number> };
  inputs: IoInfo[];
  outputs: IoInfo[];
  /** Initializers that are also graph inputs: overridable defaults (not inputs a caller must feed). */
  overridableInitializers: string[];
  weights: {
    count: number;
    bytes: number;
    byType: Record<string, Tally>;
    byPlace: Record<WeightPlace, Tally>;
    /** Float initializers shadowed by a graph input (excluded from quantization). */
    shadowed: Tally;
  };
  /** Quantization state, as every command decides it ({@link isQuantized}). */
  quantized: QuantizationState;
}

function typeName(tp: TypeProto | undefined): string {
  if (!tp) return "unknown";
  if (tp.tensor_type) return dataTypeName(tp.tensor_type.elem_type ?? 0);
  if (tp.sparse_tensor_type) return `sparse ${dataTypeName(tp.sparse_tensor_type.elem_type ?? 0)}`;
  if (tp.sequence_type) return `sequence<${typeName(tp.sequence_type.elem_type)}>`;
  if (tp.map_type) return `map<${dataTypeName(tp.map_type.key_type ?? 0)}, ${typeName(tp.map_type.value_type)}>`;
  if (tp.optional_type) return `optional<${typeName(tp.optional_type.elem_type)}>`;
  if (tp.opaque_type) return `opaque ${tp.opaque_type.domain ?? ""}.${tp.opaque_type.name ?? ""}`;
  return "unknown";
}

function io(v: ValueInfoProto): IoInfo {
  const t = v.type?.tensor_type ?? v.type?.sparse_tensor_type;
  const shape = t?.shape ? (t.shape.dim ?? []).map((d): Dim => (d.dim_param ? d.dim_param : d.dim_value !== undefined && d.dim_value !== null ? num(d.dim_value) : null)) : null;
  return { name: v.name ?? "", type: typeName(v.type), shape };
}

const tally = (): Tally => ({ count: 0, bytes: 0 });
const add = (t: Tally, bytes: number) => ((t.count += 1), (t.bytes += bytes));

/** Gather the facts `quant info` shows. */
export function modelInfo(model: Model | ModelProto): ModelInfo {
  const proto = "proto" in model ? model.proto : model;
  const index = new GraphIndex(proto);
  const g = proto.graph ?? {};
  const graphs = allGraphs(proto);
  const byOp: Record<string, number> = {};
  let total = 0;
  const countNodes = (nodes: typeof g.node) => {
    for (const n of nodes ?? []) {
      const op = n.domain && n.domain !== "ai.onnx" ? `${n.domain}.${n.op_type}` : (n.op_type ?? "");
      byOp[op] = (byOp[op] ?? 0) + 1;
      total++;
    }
  };
  for (const site of graphs) countNodes(site.graph.node);
  for (const f of proto.functions ?? []) countNodes(f.node);

  const initNames = new Set((g.initializer ?? []).map((t) => t.name ?? ""));
  const weights = { count: 0, bytes: 0, byType: {} as Record<string, Tally>, byPlace: { initializer: tally(), constant: tally(), subgraph: tally(), external: tally() }, shadowed: tally() };
  for (const w of findWeights(proto, index)) {
    if (w.shadowed) {
      add(weights.shadowed, w.bytes);
      continue;
    }
    weights.count++;
    weights.bytes += w.bytes;
    add((weights.byType[dataTypeName(w.dataType)] ??= tally()), w.bytes);
    add(weights.byPlace[w.external ? "external" : w.location], w.bytes);
  }

  return {
    file: "proto" in model ? model.path : undefined,
    irVersion: num(proto.ir_version),
    opsets: (proto.opset_import ?? []).map((o) => ({ domain: o.domain || "ai.onnx", version: num(o.version) })),
    producer: { name: proto.producer_name ?? "", version: proto.producer_version ?? "" },
    graphs: { count: graphs.length, subgraphs: graphs.filter((s) => s.parent).length, functions: (proto.functions ?? []).map((f) => `${f.domain ? `${f.domain}.` : ""}${f.name ?? ""}`) },
    nodes: { total, byOp },
    inputs: (g.input ?? []).filter((v) => !initNames.has(v.name ?? "")).map(io),
    outputs: (g.output ?? []).map(io),
    overridableInitializers: (g.input ?? []).filter((v) => initNames.has(v.name ?? "")).map((v) => v.name ?? ""),
    weights,
    quantized: isQuantized(proto, index),
  };
}

/** Human-readable byte size (1024-based). */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = -1;
  do {
    v /= 1024;
    u++;
  } while (v >= 1024 && u < units.length - 1);
  return `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[u]}`;
}

const shapeText = (s: Dim[] | null) => (s ? `[${s.map((d) => (d === null ? "?" : d)).join(", ")}]` : "[?]");

/** Render {@link ModelInfo} as aligned text for a terminal. */
export function formatInfo(info: ModelInfo): string {
  const lines: string[] = [];
  const kv = (k: string, v: string) => lines.push(`${k.padEnd(12)} ${v}`);
  if (info.file) kv("file", info.file);
  kv("ir_version", String(info.irVersion));
  kv("opsets", info.opsets.map((o) => `${o.domain} ${o.version}`).join(", ") || "none");
  kv("producer", `${info.producer.name} ${info.producer.version}`.trim() || "unknown");
  const extra = [info.graphs.subgraphs && `${info.graphs.subgraphs} subgraph(s)`, info.graphs.functions.length && `functions: ${info.graphs.functions.join(", ")}`].filter(Boolean);
  kv("nodes", `${info.nodes.total}${extra.length ? ` (${extra.join("; ")})` : ""}`);
  const ops = Object.entries(info.nodes.byOp).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  for (let i = 0; i < ops.length; i += 4) lines.push(`${"".padEnd(13)}${ops.slice(i, i + 4).map(([op, n]) => `${op} ${n}`.padEnd(24)).join("").trimEnd()}`);
  const ioLines = (label: string, list: IoInfo[]) => {
    if (!list.length) kv(label, "none");
    list.forEach((v, i) => kv(i ? "" : label, `${v.name}  ${v.type} ${shapeText(v.shape)}`));
  };
  ioLines("inputs", info.inputs);
  ioLines("outputs", info.outputs);
  if (info.overridableInitializers.length) kv("overridable", `${info.overridableInitializers.length} initializer(s) are also graph inputs (not quantized)`);
  const w = info.weights;
  kv("weights", `${w.count} tensors, ${formatBytes(w.bytes)}`);
  const types = Object.entries(w.byType).map(([t, v]) => `${t} ${v.count} (${formatBytes(v.bytes)})`);
  if (types.length) kv("  by type", types.join(", "));
  const places = Object.entries(w.byPlace).filter(([, v]) => v.count).map(([p, v]) => `${p} ${v.count} (${formatBytes(v.bytes)})`);
  if (places.length) kv("  by place", places.join(", "));
  if (w.shadowed.count) kv("  shadowed", `${w.shadowed.count} (${formatBytes(w.shadowed.bytes)}) overridable by a graph input`);
  const q = info.quantized;
  const qops = Object.entries(q.ops).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([op, n]) => `${op} ${n}`);
  if (q.integerWeights.count) qops.push(`${q.integerWeights.count} integer weight(s) (${formatBytes(q.integerWeights.bytes)})`);
  const left = `${q.floatWeights.count} float weight(s) (${formatBytes(q.floatWeights.bytes)}) left to quantize`;
  kv("quantized", q.state === "none" ? "no" : q.state === "full" ? `yes, fully: ${qops.join(", ")}` : `partly: ${qops.join(", ")}; ${left}`);
  return lines.join("\n");
}
