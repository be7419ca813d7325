/**
 * Structure-aware mutations of ONNX models for the long fuzz mode: a case decodes a seed model, applies a few
 * mutations to the fields of ModelProto / GraphProto / NodeProto / TensorProto / AttributeProto / ValueInfoProto
 * (names empty or duplicated, dims negative or huge, data types unknown, raw_data of the wrong length, external-data
 * entries pointing anywhere, attribute subgraphs grafted in), and encodes it again. Every case is a pure function
 * of (seed, index), so a parent process can regenerate the case a hung child was running.
 */
import { decodeModelProto, encodeModelProto } from "../../src/onnx/proto.ts";
import type { AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto } from "../../src/onnx/types.ts";
import { nodeSubgraphs } from "../../src/onnx/walk.ts";
import { DataType } from "../../src/tensor/dtypes.ts";

/** What a case runs after loading. */
export type CaseMode = "int8" | "int4" | "opset21" | "external" | "static";

/** One fuzz case: model bytes, files beside it (external data), and the pipeline to run. */
export interface FuzzCase {
  seed: string;
  mode: CaseMode;
  model: Uint8Array;
  /** Files written beside the model (relative names). */
  files: Record<string, Uint8Array>;
  /** Mutations applied, for the reproducer's description. */
  mutations: string[];
}

/** Deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;
const int = (r: Rand, n: number) => Math.floor(r() * n);
const pick = <T>(r: Rand, a: readonly T[]): T => a[int(r, a.length)]!;

const OPS = [
  "Conv", "MatMul", "Gemm", "Add", "Mul", "Relu", "Identity", "Constant", "Reshape", "Transpose", "Gather", "Slice",
  "Split", "Concat", "LSTM", "GRU", "If", "Loop", "Scan", "ConvTranspose", "QuantizeLinear", "DequantizeLinear",
  "MatMulInteger", "ConvInteger", "BatchNormalization", "Softmax", "LayerNormalization", "Flatten", "Cast", "Clip",
  "Pad", "Resize", "Dropout", "Squeeze", "Unsqueeze", "ReduceMean", "Einsum", "NoSuchOp", "",
];
const DOMAINS = ["", "ai.onnx", "com.microsoft", "ai.onnx.ml", "local", "bogus"];
const DTYPES = [0, 1, 2, 3, 5, 6, 7, 9, 10, 11, 12, 13, 16, 17, 19, 21, 22, 23, 25, 99, -1];
const DIMS = [0, 1, 2, 3, 4, 32, -1, -7, 2 ** 31, 2 ** 40, 2 ** 53 - 1, 1e6];
const LENGTHS = [0, 1, 3, 4, 7, 64, 1 << 20];
const LOCATIONS = ["w.data", "w.data", "missing.data", "../w.data", "/etc/hostname", "", ".", "sub/../w.data", "w.data\0x", "a/b/c.data"];
const NUMS = ["0", "4", "16", "-4", "1e3", "abc", "", "99999999999", "18446744073709551616", "4096"];

/** Every graph of the model with a label (main graph, node attribute subgraphs, function bodies are not graphs). */
function graphs(m: ModelProto): GraphProto[] {
  const out: GraphProto[] = [];
  const walk = (g: GraphProto | undefined, depth: number) => {
    if (!g || depth > 8) return;
    out.push(g);
    for (const n of g.node ?? []) for (const s of nodeSubgraphs(n)) walk(s.graph, depth + 1);
  };
  walk(m.graph, 0);
  return out;
}

/** Names of every value in a graph (for renames that collide). */
function valueNames(g: GraphProto): string[] {
  const s = new Set<string>();
  for (const v of [...(g.input ?? []), ...(g.output ?? []), ...(g.value_info ?? [])]) if (v.name) s.add(v.name);
  for (const t of g.initializer ?? []) if (t.name) s.add(t.name);
  for (const n of g.node ?? []) for (const x of [...(n.input ?? []), ...(n.output ?? [])]) if (x) s.add(x);
  return [...s];
}

function someName(r: Rand, g: GraphProto): string {
  const names = valueNames(g);
  const c = int(r, 6);
  if (c === 0) return "";
  if (c === 1 || !names.length) return `fuzz_${int(r, 1000)}`;
  return pick(r, names);
}

function randomBytes(r: Rand, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = int(r, 256);
  // Sprinkle float specials: NaN, Inf, denormals as float32 words.
  if (n >= 4 && r() < 0.3) new DataView(b.buffer).setUint32(4 * int(r, n >> 2), pick(r, [0x7fc00000, 0x7f800000, 0xff800000, 1]), true);
  return b;
}

function mutateDims(r: Rand, dims: number[] | undefined): number[] {
  const d = [...(dims ?? [])].map(Number);
  switch (int(r, 5)) {
    case 0: if (d.length) d[int(r, d.length)] = pick(r, DIMS); else d.push(pick(r, DIMS)); break;
    case 1: d.push(pick(r, DIMS)); break;
    case 2: d.pop(); break;
    case 3: return [];
    default: return Array.from({ length: 1 + int(r, 9) }, () => pick(r, [1, 2, 3, 4, 32]));
  }
  return d;
}

/** Element types a tensor can be rewritten to with matching data, and their byte widths (4-bit: packed). */
const CONSISTENT_TYPES: [number, number][] = [[1, 4], [10, 2], [16, 2], [11, 8], [3, 1], [2, 1], [6, 4], [7, 8], [9, 1], [22, 0.5], [21, 0.5], [17, 1]];

/** Rewrite a tensor so that dims, type and data agree again (so the case gets past the load checks, into quantizers). */
function consistentTensor(r: Rand, t: TensorProto, log: string[]): void {
  const dims = r() < 0.5 ? (t.dims ?? []).map(Number) : Array.from({ length: int(r, 5) }, () => pick(r, [0, 1, 1, 2, 3, 5, 8, 16, 31, 33, 64]));
  const [type, width] = r() < 0.6 ? [1, 4] : pick(r, CONSISTENT_TYPES);
  const n = dims.reduce((a, b) => a * b, 1);
  if (n > 1 << 20) return;
  const bytes = Math.ceil(n * width);
  t.dims = dims;
  t.data_type = type;
  for (const f of ["float_data", "int32_data", "int64_data", "double_data", "uint64_data", "string_data", "external_data", "data_location", "segment"] as const) delete t[f];
  if (type === 1) {
    const f = new Float32Array(n);
    const scale = pick(r, [1, 1e-3, 1e3, 1e-30, 1e30, 0]);
    for (let i = 0; i < n; i++) f[i] = (r() * 2 - 1) * scale;
    if (n && r() < 0.15) f[int(r, n)] = pick(r, [NaN, Infinity, -Infinity, 3.4e38]);
    t.raw_data = new Uint8Array(f.buffer);
  } else t.raw_data = randomBytes(r, bytes);
  log.push(`consistent ${t.name}: [${dims}] type ${type}`);
}

function mutateTensor(r: Rand, t: TensorProto, g: GraphProto, files: Record<string, Uint8Array>, log: string[]): void {
  if (r() < 0.35) return consistentTensor(r, t, log);
  const k = int(r, 11);
  log.push(`tensor ${t.name}: ${k}`);
  switch (k) {
    case 0: t.name = someName(r, g); break;
    case 1: t.dims = mutateDims(r, t.dims as number[]); break;
    case 2: t.data_type = pick(r, DTYPES); break;
    case 3: {
      // raw_data of the wrong length (shorter, longer, empty) or gone.
      const len = t.raw_data?.length ?? 0;
      const n = pick(r, [0, Math.max(0, len - 1), len + 1, len + 4, len * 2, int(r, 64)]);
      if (r() < 0.2) delete t.raw_data;
      else t.raw_data = randomBytes(r, Math.min(n, 1 << 20));
      break;
    }
    case 4: {
      // Typed fields instead of raw_data, of any length.
      delete t.raw_data;
      const n = int(r, 40);
      const f = pick(r, ["float_data", "int32_data", "int64_data", "double_data", "uint64_data"] as const);
      (t as Record<string, unknown>)[f] = Array.from({ length: n }, () => (f === "float_data" || f === "double_data" ? pick(r, [0.5, -1, NaN, Infinity, 1e38]) : int(r, 300) - 150));
      break;
    }
    case 5:
    case 6: {
      // External data: a file beside the model (or not), any location/offset/length text.
      const bytes = t.raw_data ?? randomBytes(r, 16);
      const loc = pick(r, LOCATIONS);
      if (loc === "w.data" && !files["w.data"]) files["w.data"] = bytes.slice();
      if (loc === "a/b/c.data") files["a/b/c.data"] = bytes.slice();
      delete t.raw_data;
      t.data_location = r() < 0.9 ? 1 : pick(r, [0, 2, 99]);
      const entries = [{ key: "location", value: loc }];
      if (r() < 0.7) entries.push({ key: "offset", value: r() < 0.5 ? "0" : pick(r, NUMS) });
      if (r() < 0.7) entries.push({ key: "length", value: r() < 0.5 ? String(bytes.length) : pick(r, NUMS) });
      if (r() < 0.2) entries.push({ key: pick(r, ["location", "checksum", "", "bogus"]), value: pick(r, LOCATIONS) });
      t.external_data = entries;
      break;
    }
    case 7: t.segment = { begin: int(r, 8) - 2, end: int(r, 8) - 2 }; break;
    case 8: {
      // string_data in a numeric tensor, or data_type STRING with bytes.
      t.data_type = r() < 0.5 ? DataType.STRING : t.data_type;
      t.string_data = [new TextEncoder().encode("x"), new Uint8Array(0)];
      break;
    }
    case 9: (g.initializer ??= []).push({ ...t, name: r() < 0.5 ? t.name : "" }); break;
    default: {
      // Move to a sparse initializer with random indices.
      g.initializer = (g.initializer ?? []).filter((x) => x !== t);
      const n = int(r, 5);
      (g.sparse_initializer ??= []).push({
        values: { ...t, dims: [n] },
        indices: { name: `${t.name}_idx`, data_type: DataType.INT64, dims: r() < 0.7 ? [n] : [n, 2], int64_data: Array.from({ length: n }, () => int(r, 40) - 5) },
        dims: t.dims,
      });
    }
  }
}

function mutateAttribute(r: Rand, a: AttributeProto, m: ModelProto, log: string[]): void {
  const k = int(r, 8);
  log.push(`attribute ${a.name}: ${k}`);
  switch (k) {
    case 0: a.name = pick(r, ["", "axis", "group", "kernel_shape", "to", "perm", "body", "then_branch", "value", a.name ?? ""]); break;
    case 1: a.type = int(r, 16); break;
    case 2: a.i = pick(r, [-1, 0, 1, 2, 7, -(2 ** 40), 2 ** 40]); break;
    case 3: a.ints = Array.from({ length: int(r, 6) }, () => pick(r, [-1, 0, 1, 2, 3, 1 << 30])); break;
    case 4: a.f = pick(r, [NaN, Infinity, -0, 1e-40, 3]); break;
    case 5: a.t = { name: "", data_type: pick(r, DTYPES), dims: mutateDims(r, [2]), raw_data: randomBytes(r, int(r, 16)) }; break;
    case 6: {
      // Graft a subgraph: a copy of the main graph or an empty one.
      a.g = r() < 0.5 && m.graph ? { ...m.graph, name: "grafted" } : { name: "empty" };
      a.type = r() < 0.8 ? 5 : a.type;
      break;
    }
    default: a.s = new TextEncoder().encode(pick(r, ["NOTSET", "SAME_UPPER", "", "\u00ff"]));
  }
}

function mutateNode(r: Rand, n: NodeProto, g: GraphProto, m: ModelProto, log: string[]): void {
  const k = int(r, 12);
  log.push(`node ${n.name}/${n.op_type}: ${k}`);
  switch (k) {
    case 0: g.node = (g.node ?? []).filter((x) => x !== n); break;
    case 1: (g.node ??= []).push({ ...n, name: r() < 0.5 ? n.name : "" }); break;
    case 2: if (n.input?.length) n.input[int(r, n.input.length)] = someName(r, g); else n.input = [someName(r, g)]; break;
    case 3: if (n.output?.length) n.output[int(r, n.output.length)] = someName(r, g); else n.output = [someName(r, g)]; break;
    case 4: {
      n.op_type = pick(r, OPS);
      // The attributes the weight ops read, with plausible and implausible values.
      if (r() < 0.5) (n.attribute ??= []).push(pick(r, [
        { name: "transB", type: 2, i: int(r, 3) }, { name: "transA", type: 2, i: int(r, 2) }, { name: "group", type: 2, i: pick(r, [1, 2, 3, 0, -1]) },
        { name: "axis", type: 2, i: pick(r, [0, 1, -1, 5]) }, { name: "hidden_size", type: 2, i: pick(r, [1, 4, 8, 0]) },
        { name: "direction", type: 3, s: new TextEncoder().encode(pick(r, ["forward", "bidirectional", "x"])) },
        { name: "kernel_shape", type: 7, ints: [int(r, 4), int(r, 4)] }, { name: "pads", type: 7, ints: [0, 0, 0, 0] },
      ] as AttributeProto[]));
      break;
    }
    case 5: n.domain = pick(r, DOMAINS); break;
    case 6: n.name = r() < 0.5 ? "" : pick(r, (g.node ?? []).map((x) => x.name ?? "")); break;
    case 7: if (n.attribute?.length) n.attribute.splice(int(r, n.attribute.length), 1); break;
    case 8: (n.attribute ??= []).push({ name: pick(r, ["axis", "body", "then_branch", "else_branch", "value", "", "group"]), type: int(r, 14) }); break;
    case 9: if (n.input?.length) n.input.splice(int(r, n.input.length), 1); else n.input = ["", ""]; break;
    case 10: n.input = [...(n.input ?? []), ...Array.from({ length: 1 + int(r, 3) }, () => someName(r, g))]; break;
    default: {
      if (n.attribute?.length) mutateAttribute(r, pick(r, n.attribute), m, log);
      else (n.attribute = [{ name: "value", type: 4, t: { name: "", data_type: 1, dims: [1], raw_data: randomBytes(r, 4) } }]);
    }
  }
}

function mutateValueInfo(r: Rand, v: ValueInfoProto, list: ValueInfoProto[], g: GraphProto, log: string[]): void {
  const k = int(r, 7);
  log.push(`value ${v.name}: ${k}`);
  const tt = v.type?.tensor_type;
  switch (k) {
    case 0: list.splice(list.indexOf(v), 1); break;
    case 1: v.name = someName(r, g); break;
    case 2: if (tt) tt.elem_type = pick(r, DTYPES); break;
    case 3: if (tt) tt.shape = { dim: mutateDims(r, (tt.shape?.dim ?? []).map((d) => Number(d.dim_value ?? 1))).map((d) => (r() < 0.2 ? { dim_param: pick(r, ["N", "", "batch"]) } : { dim_value: d })) }; break;
    case 4: delete v.type; break;
    case 5: v.type = pick(r, [{ sequence_type: { elem_type: { tensor_type: { elem_type: 1 } } } }, { map_type: { key_type: 7, value_type: { tensor_type: { elem_type: 1 } } } }, { optional_type: {} }, {}]); break;
    default: list.push({ ...v });
  }
}

function mutateGraph(r: Rand, g: GraphProto, m: ModelProto, files: Record<string, Uint8Array>, log: string[]): void {
  const nodes = g.node ?? [];
  const inits = g.initializer ?? [];
  const k = int(r, 10);
  if (k < 3 && nodes.length) return mutateNode(r, pick(r, nodes), g, m, log);
  if (k < 6 && inits.length) return mutateTensor(r, pick(r, inits), g, files, log);
  if (k === 6) {
    const lists = [g.input ??= [], g.output ??= [], g.value_info ??= []].filter((l) => l.length);
    if (lists.length) {
      const l = pick(r, lists);
      return mutateValueInfo(r, pick(r, l), l, g, log);
    }
  }
  if (k === 7 && g.sparse_initializer?.length) {
    const s = pick(r, g.sparse_initializer);
    log.push("sparse");
    if (r() < 0.5) s.dims = mutateDims(r, s.dims as number[]);
    else if (s.indices) s.indices.int64_data = [int(r, 100) - 50, 2 ** 40];
    return;
  }
  if (k === 8) {
    // Reorder: reverse the nodes (not topological any more) or move one.
    log.push("reorder");
    if (nodes.length > 1) g.node = r() < 0.5 ? [...nodes].reverse() : [...nodes.slice(1), nodes[0]!];
    return;
  }
  log.push("graph name");
  g.name = pick(r, ["", "g", "main"]);
}

function mutateModel(r: Rand, m: ModelProto, log: string[]): void {
  const k = int(r, 6);
  log.push(`model: ${k}`);
  switch (k) {
    case 0: m.ir_version = pick(r, [0, 1, 3, 4, 7, 8, 9, 10, 11, 12, 99, -1]); break;
    case 1: {
      const o = (m.opset_import ??= []);
      if (o.length && r() < 0.5) o[int(r, o.length)]!.version = pick(r, [0, 1, 6, 9, 11, 13, 17, 19, 21, 22, 23, 99, -1]);
      else o.push({ domain: pick(r, DOMAINS), version: pick(r, [1, 13, 21, 99]) });
      break;
    }
    case 2: m.opset_import = r() < 0.5 ? [] : [...(m.opset_import ?? []), ...(m.opset_import ?? [])]; break;
    case 3: m.functions = r() < 0.5 ? [] : [{ name: pick(r, ["AffineRelu", "Conv", ""]), domain: pick(r, DOMAINS), input: ["X"], output: ["Y"], node: [{ op_type: "Identity", input: ["X"], output: ["Y"] }] }]; break;
    case 4: m.metadata_props = [{ key: "", value: "" }, { key: "k", value: "\u0000" }]; break;
    default: m.training_info = [{ initialization: { name: "init" }, algorithm: m.graph ? { ...m.graph } : undefined }];
  }
}

const MODES: readonly CaseMode[] = ["int8", "int8", "int4", "int4", "opset21", "external", "static"];

/** The case at `index` of a run seeded `runSeed`, derived from seed model `seedBytes` (named `seedName`). */
export function makeCase(seedName: string, seedBytes: Uint8Array, runSeed: number, index: number): FuzzCase {
  const r = prng((runSeed * 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b));
  const m = decodeModelProto(seedBytes);
  const files: Record<string, Uint8Array> = {};
  const log: string[] = [];
  const count = 1 + int(r, 4);
  for (let i = 0; i < count; i++) {
    if (r() < 0.12) mutateModel(r, m, log);
    else {
      const gs = graphs(m);
      mutateGraph(r, r() < 0.6 ? gs[0]! : pick(r, gs), m, files, log);
    }
  }
  let model: Uint8Array;
  try {
    model = encodeModelProto(m);
  } catch (e) {
    // A mutation the encoder refuses (e.g. a value out of its type's range): keep the seed and say so.
    log.push(`encode failed: ${(e as Error).message}`);
    model = seedBytes;
  }
  return { seed: seedName, mode: pick(r, MODES), model, files, mutations: log };
}
