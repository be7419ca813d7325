/**
 * float32 → float16 conversion of a whole model (transformers.js's `model_fp16.onnx`): every float32 initializer,
 * Constant, value_info, Cast target and node output in every graph becomes float16, except around the ops of a
 * block list (ops without float16 kernels, or whose float inputs must stay float32), which keep float32 with Casts
 * at their edges. The main graph's float32 inputs and outputs are kept, with Casts at the boundary, so callers feed
 * and read float32 as before. Finite values beyond the float16 range are clamped to ±65504 and counted.
 */
import { DataType, floatsToHalf } from "../tensor/dtypes.ts";
import { GraphIndex, type Scope } from "./graph.ts";
import { makeAttribute } from "./builder.ts";
import { replaceUsesMany } from "./graph-edit.ts";
import { setTensorRaw, tensorFloat32 } from "./tensor-data.ts";
import { existingSpill, spillTensor } from "./spill.ts";
import type { Model } from "./model.ts";
import type { AttributeProto, GraphProto, NodeProto, TensorProto, ValueInfoProto } from "./types.ts";
import { num } from "./types.ts";
import { nodeSubgraphs } from "./walk.ts";

/**
 * Ops kept in float32: onnxconverter-common's default block list (what transformers.js's fp16 export uses: ML ops,
 * ops whose float16 kernels are missing or lose accuracy in ONNX Runtime) plus the quantization ops, whose scales
 * stay float32 below opset 19.
 */
export const FP16_DEFAULT_BLOCK_LIST: readonly string[] = [
  "ArrayFeatureExtractor", "Binarizer", "CastMap", "CategoryMapper", "DictVectorizer", "FeatureVectorizer", "Imputer",
  "LabelEncoder", "LinearClassifier", "LinearRegressor", "Normalizer", "OneHotEncoder", "RandomUniformLike", "RandomNormalLike",
  "RandomUniform", "RandomNormal", "Multinomial", "SVMClassifier", "SVMRegressor", "Scaler", "TreeEnsembleClassifier",
  "TreeEnsembleRegressor", "ZipMap", "NonMaxSuppression", "TopK", "RoiAlign", "Resize", "Range", "CumSum", "Min", "Max",
  "Upsample", "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear",
];

/** Contrib ops known to take float16 (anything else outside the default domain is kept float32). */
const CONTRIB_FP16 = new Set(["MatMulNBits", "FusedMatMul", "Gelu", "FastGelu", "BiasGelu", "SkipLayerNormalization", "LayerNormalization", "SimplifiedLayerNormalization", "RotaryEmbedding", "GroupQueryAttention", "MultiHeadAttention"]);

/** Options of {@link convertToFloat16}. */
export interface Float16Options {
  /** Op types kept float32 (default {@link FP16_DEFAULT_BLOCK_LIST}). */
  blockOps?: readonly string[];
  /** Node names kept float32. */
  blockNodes?: readonly string[];
  /** Keep the main graph's float32 inputs/outputs (Casts at the boundary). Default true. */
  keepIoTypes?: boolean;
}

/** What {@link convertToFloat16} did. */
export interface Float16Result {
  tensors: number;
  /** Values beyond ±65504 clamped, and the tensors holding them. */
  clamped: number;
  clampedTensors: string[];
  /** Nodes kept float32 (block list). */
  blocked: number;
  casts: number;
}

const F = DataType.FLOAT, H = DataType.FLOAT16;
const INT64_OUT = new Set(["Shape", "Size", "NonZero", "ArgMax", "ArgMin"]);
const BOOL_OUT = new Set(["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Not", "And", "Or", "Xor", "IsNaN", "IsInf"]);

/** Convert a model to float16 in place. */
export function convertToFloat16(model: Model, options: Float16Options = {}): Float16Result {
  const blockOps = new Set(options.blockOps ?? FP16_DEFAULT_BLOCK_LIST);
  const blockNodes = new Set(options.blockNodes ?? []);
  const keepIo = options.keepIoTypes ?? true;
  const index = new GraphIndex(model);
  const res: Float16Result = { tensors: 0, clamped: 0, clampedTensors: [], blocked: 0, casts: 0 };
  const blocked = (n: NodeProto) =>
    blockNodes.has(n.name ?? "") || (n.domain && n.domain !== "ai.onnx" ? !(n.domain === "com.microsoft" && CONTRIB_FP16.has(n.op_type ?? "")) : blockOps.has(n.op_type ?? ""));

  // 1. Element types of every value, before any change (declared, else inferred in topological order).
  const types = new Map<GraphProto, Map<string, number>>();
  const typeOf = (name: string, scope: Scope | undefined): number | undefined => {
    for (let s = scope; s; s = s.parent) {
      const t = types.get(s.graph)!.get(name);
      if (t !== undefined) return t;
    }
    return undefined;
  };
  for (const scope of index.scopes) {
    const m = new Map<string, number>();
    types.set(scope.graph, m);
    for (const name of scope.producers.keys()) {
      const t = index.elemTypeOf(name, scope.graph);
      if (t) m.set(name, t);
    }
    for (const n of index.topoOrder(scope.graph)) inferOutputs(n, m, (x) => m.get(x) ?? typeOf(x, scope.parent));
  }

  // 2. Convert, graph by graph.
  const unique = (p: string) => index.uniqueName(p);
  const cast = (from: string, to: string, type: number): NodeProto => {
    res.casts++;
    return { op_type: "Cast", name: unique(`${to}_Cast`), input: [from], output: [to], attribute: [makeAttribute("to", type)], domain: "" };
  };
  for (const scope of index.scopes) {
    const g = scope.graph;
    const orig = types.get(g)!;
    // Types as converted in this graph (the original map stays intact for nested graphs reading outer values).
    const m = new Map(orig);
    const isFloat = (x: string) => (orig.get(x) ?? typeOf(x, scope.parent)) === F;
    const main = scope === index.main;
    // Tensors: initializers and Constant values (kept float32 when only blocked nodes read them).
    const inputNames = new Set((g.input ?? []).map((i) => i.name));
    for (const t of g.initializer ?? []) {
      if (t.data_type !== F || readersBlocked(t.name ?? "", g)) continue;
      if (main && keepIo && inputNames.has(t.name)) continue;
      toHalf(model, t, res);
      m.set(t.name!, H);
    }
    const before: NodeProto[] = [];
    const after = new Map<NodeProto, NodeProto[]>();
    const renames = new Map<string, string>();
    const castsTo32 = new Map<string, string>();
    const readerFilter = new Set<NodeProto>();
    for (const n of g.node ?? []) {
      if (blocked(n)) {
        res.blocked++;
        // Inputs that become float16 are cast back to float32 for this node.
        n.input = (n.input ?? []).map((x) => {
          if (!x || !isFloat(x) || !willBeHalf(x, g)) return x;
          let c = castsTo32.get(x);
          if (!c) {
            c = unique(`${x}_fp32`);
            castsTo32.set(x, c);
            before.push(cast(x, c, F));
          }
          return c;
        });
        // Float outputs: float32 here, a float16 copy for everyone else.
        const post: NodeProto[] = [];
        for (const o of n.output ?? []) {
          if (!o || !isFloat(o)) continue;
          const h = unique(`${o}_fp16`);
          const c = cast(o, h, H);
          post.push(c);
          readerFilter.add(c);
          renames.set(o, h);
        }
        after.set(n, post);
        continue;
      }
      // A constant only blocked nodes read stays float32 (Range limits, Resize scales: no round trip through fp16).
      if ((n.op_type === "Constant" || n.op_type === "ConstantOfShape") && readersBlocked(n.output?.[0] ?? "", g)) continue;
      convertNodeAttributes(model, n, res);
      for (const o of n.output ?? []) if (o && isFloat(o)) m.set(o, H);
    }
    // Main graph: float32 inputs get a float16 copy; float32 outputs come from a float16 value through a Cast.
    const head: NodeProto[] = [];
    if (main && keepIo) {
      for (const v of g.input ?? []) {
        if (!v.name || v.type?.tensor_type?.elem_type !== F) continue;
        const h = unique(`${v.name}_fp16`);
        const c = cast(v.name, h, H);
        head.push(c);
        readerFilter.add(c);
        renames.set(v.name, h);
      }
      for (const v of g.output ?? []) {
        const o = v.name ?? "";
        if (v.type?.tensor_type?.elem_type !== F || m.get(o) !== H) continue;
        const p = index.producer(o, g);
        if (p?.kind !== "node" || p.graph !== g) continue;
        // The producer writes a float16 copy; the output keeps its name and float32 type through a Cast right after it.
        const h = unique(`${o}_fp16`);
        p.node.output = (p.node.output ?? []).map((x) => (x === o ? h : x));
        renameReaders(g, o, h, blocked);
        const c = cast(h, o, F);
        after.set(p.node, [...(after.get(p.node) ?? []), c]);
        m.set(h, H);
      }
    }
    // A subgraph's outputs are float16 too: a blocked node's float32 output leaves through its float16 copy.
    if (renames.size) replaceUsesMany(g, renames, { outputs: !(main && keepIo), filter: (node) => !readerFilter.has(node) && !blocked(node) });
    // Blocked readers of a renamed graph input / blocked output read the float32 original, which the filter kept.
    const out: NodeProto[] = [...head];
    for (const n of g.node ?? []) {
      out.push(n);
      const post = after.get(n);
      if (post) out.push(...post);
    }
    // Casts to float32 go right before their first reader: after the producer, so insert them lazily.
    g.node = placeCasts(out, before);
    // Declared types of this graph.
    // value_info follows the converted values; a subgraph's interface is float16 wherever it was float32.
    const fix = (v: ValueInfoProto, iface: boolean) => {
      const tt = v.type?.tensor_type;
      if (tt?.elem_type !== F) return;
      if (iface ? !(main && keepIo) : m.get(v.name ?? "") === H) tt.elem_type = H;
    };
    for (const v of g.value_info ?? []) fix(v, false);
    for (const v of g.input ?? []) fix(v, true);
    for (const v of g.output ?? []) fix(v, true);
  }
  return res;

  /** Will `x` (a float value read in `g`) be float16 after conversion? Produced by a non-blocked node, or a converted tensor. */
  function willBeHalf(x: string, g: GraphProto): boolean {
    const s = index.definingScope(x, g);
    const p = s?.producers.get(x);
    if (!s || !p) return false;
    if (p.kind === "node") return !blocked(p.node) && !((p.node.op_type === "Constant" || p.node.op_type === "ConstantOfShape") && readersBlocked(x, s.graph));
    if (p.kind === "initializer") return !readersBlocked(x, s.graph);
    if (p.kind === "input") return !(s === index.main && keepIo) && !p.initializer;
    return false;
  }
  function readersBlocked(x: string, g: GraphProto): boolean {
    const rs = index.readers(x, g);
    return rs.length > 0 && rs.every((r) => blocked(r.node));
  }
}

/** Readers of `from` (not blocked) read `to`. */
function renameReaders(g: GraphProto, from: string, to: string, blocked: (n: NodeProto) => boolean) {
  replaceUsesMany(g, new Map([[from, to]]), { filter: (n) => !blocked(n) });
}

/** Insert each Cast of `casts` right before the first node reading its output. */
function placeCasts(nodes: NodeProto[], casts: NodeProto[]): NodeProto[] {
  if (!casts.length) return nodes;
  const byOut = new Map(casts.map((c) => [c.output![0]!, c]));
  const placed = new Set<NodeProto>();
  const out: NodeProto[] = [];
  for (const n of nodes) {
    for (const x of n.input ?? []) {
      const c = byOut.get(x);
      if (c && !placed.has(c)) (placed.add(c), out.push(c));
    }
    out.push(n);
  }
  return out;
}

/** Convert a float32 tensor to float16 in place. */
function toHalf(model: Model, t: TensorProto, res: Float16Result) {
  const { half, clamped } = floatsToHalf(tensorFloat32(model, t));
  setTensorRaw(t, H, new Uint8Array(half.buffer));
  // A streaming run (the model has a spill) keeps the converted bytes on disk, not in memory.
  if (existingSpill(model)) spillTensor(model, t);
  res.tensors++;
  if (clamped) (res.clamped += clamped, res.clampedTensors.push(t.name ?? ""));
}

/** Float32 attributes of a node that become float16: Cast targets, Constant / ConstantOfShape values. */
function convertNodeAttributes(model: Model, n: NodeProto, res: Float16Result) {
  for (const a of n.attribute ?? []) convertAttribute(model, n, a, res);
}
function convertAttribute(model: Model, n: NodeProto, a: AttributeProto, res: Float16Result) {
  if (n.op_type === "Cast" && a.name === "to" && num(a.i) === F) a.i = H;
  else if (a.name === "value" && a.t && a.t.data_type === F && (n.op_type === "Constant" || n.op_type === "ConstantOfShape")) toHalf(model, a.t, res);
  else if (n.op_type === "Constant" && (a.name === "value_float" || a.name === "value_floats")) {
    const vals = a.name === "value_float" ? [a.f ?? 0] : (a.floats ?? []);
    const t: TensorProto = { name: n.output?.[0], dims: a.name === "value_float" ? [] : [vals.length], data_type: F, float_data: vals };
    toHalf(model, t, res);
    Object.assign(a, { name: "value", type: 4, t, f: undefined, floats: undefined });
  } else if (a.name === "dtype" && num(a.i) === F) a.i = H;
}

/** Element types of a node's outputs from its inputs (declared types win: only unknown outputs are set). */
function inferOutputs(n: NodeProto, m: Map<string, number>, get: (x: string) => number | undefined) {
  const outs = n.output ?? [];
  const set = (i: number, t: number | undefined) => {
    const o = outs[i];
    if (o && t && !m.has(o)) m.set(o, t);
  };
  const attr = (k: string) => n.attribute?.find((a) => a.name === k);
  const op = n.op_type ?? "";
  const first = () => (n.input ?? []).map((x) => (x ? get(x) : undefined)).find((t) => t !== undefined);
  if (op === "Cast") return set(0, num(attr("to")?.i));
  if (op === "CastLike") return set(0, get(n.input?.[1] ?? ""));
  if (INT64_OUT.has(op)) return set(0, DataType.INT64);
  if (BOOL_OUT.has(op)) return set(0, DataType.BOOL);
  if (op === "Constant") return set(0, attr("value")?.t?.data_type ?? (attr("value_float") || attr("value_floats") ? F : attr("value_int") || attr("value_ints") ? DataType.INT64 : undefined));
  if (op === "ConstantOfShape") return set(0, attr("value")?.t?.data_type ?? F);
  if (op === "DynamicQuantizeLinear") return (set(0, DataType.UINT8), set(1, F), set(2, DataType.UINT8));
  if (op === "MatMulInteger" || op === "ConvInteger") return set(0, DataType.INT32);
  if (op === "QuantizeLinear") return set(0, get(n.input?.[2] ?? "") ?? DataType.UINT8);
  if (op === "DequantizeLinear") return set(0, get(n.input?.[1] ?? ""));
  if (op === "TopK") return (set(0, get(n.input?.[0] ?? "")), set(1, DataType.INT64));
  if (op === "Where") return set(0, get(n.input?.[1] ?? ""));
  if (op.startsWith("Random") || op === "EyeLike") return set(0, attr("dtype") ? num(attr("dtype")!.i) : op === "EyeLike" ? first() : F);
  const subs = nodeSubgraphs(n);
  if (subs.length) {
    // If: the branch outputs; Loop: body outputs after the condition; Scan: body outputs.
    const body = subs[0]!.graph;
    const skip = op === "Loop" ? 1 : 0;
    (body.output ?? []).slice(skip).forEach((v, i) => set(i, v.type?.tensor_type?.elem_type || undefined));
    return;
  }
  set(0, first());
  for (let i = 1; i < outs.length; i++) set(i, first());
}
