/**
 * Scopes the converter works in: the main graph, every subgraph (If/Loop/Scan bodies, at any depth), training graphs,
 * and local function bodies. A scope answers what adapters need to know about a value: its element type and rank
 * (from value_info, inputs, initializers, or a few type-preserving producers), its constant value, and whether
 * anything reads it. Lookups walk out to enclosing scopes, as outer-scope references do.
 */
import type { FunctionProto, GraphProto, ModelProto, NodeProto, TensorProto, TypeProto } from "../types.ts";
import { num } from "../types.ts";
import type { Model } from "../model.ts";
import { nodeSubgraphs } from "../walk.ts";
import { tensorFloat32, tensorInts } from "../tensor-data.ts";
import { DataType } from "../../tensor/dtypes.ts";
import { getAttr, intAttr } from "./attrs.ts";

/** One node list that is converted as a unit. */
export interface Scope {
  /** Human-readable location, e.g. `main/If_3.then_branch` or `function custom.MyFn`. */
  path: string;
  graph?: GraphProto;
  fn?: FunctionProto;
  parent?: Scope;
  /** Default-domain opset the scope's nodes are written for. */
  from: number;
}

/** True when a node belongs to the default ONNX domain. */
export function isDefaultDomain(domain: string | undefined): boolean {
  return !domain || domain === "ai.onnx";
}

/** The default-domain opset imported by a list of opset imports, if any. */
export function defaultOpset(imports: ModelProto["opset_import"]): number | undefined {
  const e = imports?.find((o) => isDefaultDomain(o.domain));
  return e ? num(e.version) : undefined;
}

/** Every scope of the model, parents before children. Functions that do not import the default domain are skipped. */
export function collectScopes(model: ModelProto, from: number): Scope[] {
  const out: Scope[] = [];
  const visit = (scope: Scope, nodes: NodeProto[] | undefined, depth: number) => {
    out.push(scope);
    if (depth >= 64) return;
    for (const node of nodes ?? []) {
      for (const { attr, graph, index } of nodeSubgraphs(node)) {
        const name = `${node.name || node.op_type}.${attr.name}${index >= 0 ? `[${index}]` : ""}`;
        visit({ path: `${scope.path}/${name}`, graph, parent: scope, from: scope.from }, graph.node, depth + 1);
      }
    }
  };
  if (model.graph) visit({ path: "main", graph: model.graph, from }, model.graph.node, 0);
  model.training_info?.forEach((ti, i) => {
    for (const key of ["initialization", "algorithm"] as const) {
      const g = ti[key];
      if (g) visit({ path: `training_info[${i}].${key}`, graph: g, from }, g.node, 0);
    }
  });
  for (const fn of model.functions ?? []) {
    const v = defaultOpset(fn.opset_import);
    if (v !== undefined) visit({ path: `function ${fn.domain ?? ""}.${fn.name}`, fn, from: v }, fn.node, 0);
  }
  return out;
}

/** The scope's node list. */
export function scopeNodes(scope: Scope): NodeProto[] {
  return (scope.graph ? (scope.graph.node ??= []) : (scope.fn!.node ??= []));
}

/** Known facts about one value. */
interface ValueFacts {
  type?: TypeProto;
  init?: TensorProto;
  /** An initializer that a graph input of the same name can override: not a constant. */
  overridable?: boolean;
  producer?: NodeProto;
}

// Ops whose first output has the element type of their first input (or of `input[1]` for Where).
const SAME_TYPE = new Set(
  ("Abs Acos Acosh Add Asin Asinh Atan Atanh AveragePool BatchNormalization Ceil Celu Clip Compress Concat Conv " +
    "ConvTranspose Cos Cosh CumSum DepthToSpace Div Dropout Einsum Elu Erf Exp Expand Flatten Floor Gather GatherElements " +
    "GatherND Gelu Gemm GlobalAveragePool GlobalLpPool GlobalMaxPool GroupNormalization HardSigmoid HardSwish Hardmax " +
    "Identity InstanceNormalization LRN LayerNormalization LeakyRelu Log LogSoftmax LpNormalization LpPool MatMul Max " +
    "MaxPool Mean MeanVarianceNormalization Min Mish Mod Mul Neg PRelu Pad Pow Reciprocal ReduceL1 ReduceL2 ReduceLogSum " +
    "ReduceLogSumExp ReduceMax ReduceMean ReduceMin ReduceProd ReduceSum ReduceSumSquare Relu Reshape Resize " +
    "ReverseSequence Round Scatter ScatterElements ScatterND Selu Shrink Sigmoid Sign Sin Sinh Slice Softmax Softplus " +
    "Softsign SpaceToDepth Split Sqrt Squeeze Sub Sum Tan Tanh ThresholdedRelu Tile TopK Transpose Trilu Unsqueeze Upsample").split(" "),
);
// Ops whose first output has the rank of their first input.
const SAME_RANK = new Set(
  ("Abs Acos Asin Atan Ceil Celu Clip Cos Dropout Elu Erf Exp Floor Gelu HardSigmoid HardSwish Hardmax Identity " +
    "InstanceNormalization LRN LayerNormalization LeakyRelu Log LogSoftmax LpNormalization Mish Neg Reciprocal Relu Round " +
    "Selu Shrink Sigmoid Sign Sin Softmax Softplus Softsign Sqrt Tan Tanh ThresholdedRelu BatchNormalization Conv MaxPool " +
    "AveragePool GlobalAveragePool GlobalMaxPool Transpose Resize Upsample Pad").split(" "),
);

// Ops whose first output has the largest rank of their inputs (multidirectional broadcasting).
const BROADCAST_RANK = new Set("Add Sub Mul Div Pow Max Min Sum Mean Where Equal Less Greater LessOrEqual GreaterOrEqual And Or Xor PRelu Mod".split(" "));

/** Read-only questions about the values of a scope (and its enclosing scopes). */
export class ScopeIndex {
  private facts = new Map<string, ValueFacts>();
  private used = new Set<string>();
  private readonly parentIndex?: ScopeIndex;

  constructor(readonly scope: Scope, readonly model: Model, parentIndex?: ScopeIndex, originalIr = 99) {
    this.parentIndex = parentIndex;
    const fact = (name: string | undefined) => {
      if (!name) return undefined;
      let f = this.facts.get(name);
      if (!f) this.facts.set(name, (f = {}));
      return f;
    };
    const g = scope.graph;
    const inputs = new Set<string>();
    if (g) {
      // Empty names are legal for unused values (an unnamed initializer, an optional slot): they name nothing.
      for (const vi of [...(g.input ?? []), ...(g.output ?? []), ...(g.value_info ?? [])]) {
        const f = vi.type ? fact(vi.name) : undefined;
        if (f) f.type ??= vi.type;
      }
      for (const vi of g.input ?? []) if (vi.name) inputs.add(vi.name);
      for (const t of g.initializer ?? []) {
        const f = fact(t.name);
        if (!f) continue;
        f.init = t;
        // Before IR 4 every initializer had to be listed as an input too; it was still meant as a constant.
        f.overridable = inputs.has(t.name!) && originalIr >= 4;
      }
      for (const vi of g.output ?? []) if (vi.name) this.used.add(vi.name);
    } else {
      for (const vi of scope.fn!.value_info ?? []) {
        const f = vi.type ? fact(vi.name) : undefined;
        if (f) f.type ??= vi.type;
      }
      for (const o of scope.fn!.output ?? []) this.used.add(o);
    }
    for (const node of scopeNodes(scope)) {
      for (const o of node.output ?? []) {
        const f = fact(o);
        if (f) f.producer = node;
      }
    }
    // Reads by nodes of this scope and of nested subgraphs (outer-scope references) count as uses.
    const markUses = (nodes: NodeProto[] | undefined, depth: number) => {
      for (const node of nodes ?? []) {
        for (const i of node.input ?? []) if (i) this.used.add(i);
        if (depth < 64) for (const { graph } of nodeSubgraphs(node)) {
          markUses(graph.node, depth + 1);
          for (const vi of graph.output ?? []) if (vi.name) this.used.add(vi.name);
        }
      }
    };
    markUses(scopeNodes(scope), 0);
  }

  private lookup(name: string): { facts: ValueFacts; index: ScopeIndex } | undefined {
    const f = this.facts.get(name);
    if (f) return { facts: f, index: this };
    return this.parentIndex?.lookup(name);
  }

  /** True when a node (here or in a nested subgraph) reads `name`, or it is an output of the scope. */
  isUsed(name: string): boolean {
    return this.used.has(name);
  }

  /** Element type of a tensor value, when it can be told without running shape inference. */
  elemType(name: string, depth = 0): number | undefined {
    const hit = this.lookup(name);
    if (!hit || depth > 64) return undefined;
    const { facts, index } = hit;
    const t = facts.type?.tensor_type?.elem_type;
    if (t) return t;
    if (facts.init?.data_type) return facts.init.data_type;
    const p = facts.producer;
    // Split's outputs all share the input type; other ops are only known for their first output.
    if (!p || !isDefaultDomain(p.domain) || (p.output?.[0] !== name && p.op_type !== "Split")) return undefined;
    switch (p.op_type) {
      case "Constant": return constantTensor(p)?.data_type;
      case "Cast": return intAttr(p, "to");
      case "CastLike": return p.input?.[1] ? index.elemType(p.input[1], depth + 1) : undefined;
      case "Shape": case "Size": case "NonZero": case "ArgMax": case "ArgMin": return DataType.INT64;
      case "Where": return p.input?.[1] ? index.elemType(p.input[1], depth + 1) : undefined;
    }
    return SAME_TYPE.has(p.op_type ?? "") && p.input?.[0] ? index.elemType(p.input[0], depth + 1) : undefined;
  }

  /** Rank of a tensor value, when known from declared shapes, constants or rank-preserving producers. */
  rank(name: string, depth = 0): number | undefined {
    const hit = this.lookup(name);
    if (!hit || depth > 64) return undefined;
    const { facts, index } = hit;
    const shape = facts.type?.tensor_type?.shape;
    if (shape) return shape.dim?.length ?? 0;
    if (facts.init) return facts.init.dims?.length ?? 0;
    const p = facts.producer;
    if (!p || !isDefaultDomain(p.domain) || p.output?.[0] !== name) return undefined;
    const op = p.op_type ?? "";
    const inputs = (p.input ?? []).filter(Boolean);
    const ranks = () => inputs.map((i) => index.rank(i, depth + 1));
    if (op === "Constant") return constantTensor(p)?.dims?.length;
    if (SAME_RANK.has(op) && inputs[0]) return index.rank(inputs[0], depth + 1);
    if (BROADCAST_RANK.has(op)) {
      const r = ranks();
      return r.length && r.every((v) => v !== undefined) ? Math.max(...(r as number[])) : undefined;
    }
    if (op === "MatMul" && inputs.length === 2) {
      const [a, b] = ranks();
      if (a === undefined || b === undefined) return undefined;
      // A 1-D operand is promoted and its added dimension removed again.
      return a === 1 ? b - 1 : b === 1 ? a - 1 : Math.max(a, b);
    }
    if (op === "Reshape" && p.input?.[1]) return index.constInts(p.input[1])?.length;
    return undefined;
  }

  /** Static size of dimension `axis` of a value (undefined when symbolic or unknown). */
  dim(name: string, axis: number): number | undefined {
    const hit = this.lookup(name);
    const dims = hit?.facts.type?.tensor_type?.shape?.dim;
    const d = dims?.[axis];
    // protobufjs puts field defaults on the prototype: only an own dim_value is a real one.
    if (!d || d.dim_param || !Object.prototype.hasOwnProperty.call(d, "dim_value")) return undefined;
    return num(d.dim_value);
  }

  /** The constant tensor behind a value (initializer or Constant node), if it is one. */
  constant(name: string): TensorProto | undefined {
    if (!name) return undefined;
    const hit = this.lookup(name);
    if (!hit) return undefined;
    const { facts } = hit;
    if (facts.init) return facts.overridable ? undefined : facts.init;
    const p = facts.producer;
    if (p && p.op_type === "Constant" && isDefaultDomain(p.domain)) return constantTensor(p);
    return undefined;
  }

  /** Constant float values of a value (any float type, widened to float32). */
  constFloats(name: string): Float32Array | undefined {
    const t = this.constant(name);
    if (!t) return undefined;
    try {
      return tensorFloat32(this.model, t);
    } catch {
      return undefined;
    }
  }

  /** Constant integer values of a value. */
  constInts(name: string): number[] | undefined {
    const t = this.constant(name);
    if (!t) return undefined;
    try {
      return tensorInts(this.model, t);
    } catch {
      return undefined;
    }
  }
}

/** The tensor a Constant node produces (value, or the value_float(s)/value_int(s) shorthands). */
export function constantTensor(node: NodeProto): TensorProto | undefined {
  const value = getAttr(node, "value");
  if (value?.t) return value.t;
  const f = getAttr(node, "value_float");
  if (f) return { data_type: DataType.FLOAT, dims: [], float_data: [f.f ?? 0] };
  const fs = getAttr(node, "value_floats");
  if (fs) return { data_type: DataType.FLOAT, dims: [fs.floats?.length ?? 0], float_data: fs.floats ?? [] };
  const i = getAttr(node, "value_int");
  if (i) return { data_type: DataType.INT64, dims: [], int64_data: [i.i ?? 0] };
  const is = getAttr(node, "value_ints");
  if (is) return { data_type: DataType.INT64, dims: [is.ints?.length ?? 0], int64_data: is.ints ?? [] };
  return undefined;
}
