/**
 * The graph model: an index over every graph of a model (main graph, If/Loop/Scan bodies at any depth, training_info)
 * with the producer and the consumers of every value, outer-scope reads, topological order, unique names and
 * shape/type lookup. The index is a snapshot: rebuild it (`new GraphIndex(model)`) after editing the proto.
 * Edit helpers (insert, replace uses, remove) work on the proto directly and live in graph-edit.ts.
 */
import { QuantError } from "../errors/errors.ts";
import { DataType } from "../tensor/dtypes.ts";
import type { Model } from "./model.ts";
import type { GraphProto, ModelProto, NodeProto, SparseTensorProto, TensorProto, ValueInfoProto } from "./types.ts";
import { num } from "./types.ts";
import { allGraphs, nodeSubgraphs, type GraphSite } from "./walk.ts";

/** A node reading a value. `input` is -1 when the node reads it implicitly, through one of its subgraphs. */
export interface Consumer {
  readonly node: NodeProto;
  readonly input: number;
  /** The graph holding `node`. */
  readonly graph: GraphProto;
}

/** What defines a value inside one graph. An initializer that is also a graph input is reported as `input`. */
export type Producer =
  | { readonly kind: "node"; readonly node: NodeProto; readonly output: number; readonly graph: GraphProto }
  | { readonly kind: "input"; readonly info: ValueInfoProto; readonly graph: GraphProto; readonly initializer?: TensorProto }
  | { readonly kind: "initializer"; readonly tensor: TensorProto; readonly graph: GraphProto }
  | { readonly kind: "sparse_initializer"; readonly sparse: SparseTensorProto; readonly graph: GraphProto };

/** One dimension of a shape: a size, a symbolic name, or null when unknown. */
export type Dim = number | string | null;

/** The index of one graph. */
export interface Scope {
  readonly graph: GraphProto;
  readonly site: GraphSite;
  readonly parent?: Scope;
  readonly children: Scope[];
  /** Values defined in this graph (inputs, initializers, sparse initializers, node outputs). */
  readonly producers: Map<string, Producer>;
  /** Readers of each value in this graph (explicit inputs, and nodes whose subgraphs read it: input -1). */
  readonly consumers: Map<string, Consumer[]>;
  /** Names of the graph's outputs. */
  readonly outputs: Set<string>;
  /** Names this graph (or a graph nested in it) reads from enclosing graphs. */
  readonly outerReads: Set<string>;
  /** ValueInfoProto by name from inputs, outputs and value_info (value_info first, declared inputs/outputs win). */
  readonly valueInfo: Map<string, ValueInfoProto>;
}

/** The default-domain opset of a model (`ai.onnx` and "" are the same domain). Undefined when not imported. */
export function opsetVersion(model: ModelProto, domain = ""): number | undefined {
  const want = domain === "ai.onnx" ? "" : domain;
  for (const o of model.opset_import ?? []) {
    const d = o.domain === "ai.onnx" ? "" : (o.domain ?? "");
    if (d === want) return num(o.version);
  }
  return undefined;
}

/** True for an op of the default ONNX domain. */
export function isOnnxOp(node: NodeProto, opType: string): boolean {
  return node.op_type === opType && (!node.domain || node.domain === "ai.onnx");
}

/**
 * The tensor a `Constant` node outputs (dense values only: `value`, `value_float(s)`, `value_int(s)`, `value_string(s)`).
 * Scalars and lists are returned as a new TensorProto named after the output; `sparse_value` and attribute
 * references (inside functions) give undefined.
 */
export function constantTensor(node: NodeProto): TensorProto | undefined {
  if (!isOnnxOp(node, "Constant")) return undefined;
  const name = node.output?.[0] ?? "";
  for (const a of node.attribute ?? []) {
    if (a.ref_attr_name) return undefined;
    switch (a.name) {
      case "value":
        return a.t ?? undefined;
      case "value_float":
        return { name, data_type: DataType.FLOAT, dims: [], float_data: [a.f ?? 0] };
      case "value_floats":
        return { name, data_type: DataType.FLOAT, dims: [a.floats?.length ?? 0], float_data: a.floats ?? [] };
      case "value_int":
        return { name, data_type: DataType.INT64, dims: [], int64_data: [a.i ?? 0] };
      case "value_ints":
        return { name, data_type: DataType.INT64, dims: [a.ints?.length ?? 0], int64_data: a.ints ?? [] };
      case "value_string":
        return { name, data_type: DataType.STRING, dims: [], string_data: [a.s ?? new Uint8Array()] };
      case "value_strings":
        return { name, data_type: DataType.STRING, dims: [a.strings?.length ?? 0], string_data: a.strings ?? [] };
    }
  }
  return undefined;
}

function push<K, V>(map: Map<K, V[]>, key: K, v: V) {
  const list = map.get(key);
  if (list) list.push(v);
  else map.set(key, [v]);
}

/** Producers, consumers, scopes and names of a whole model. Build once, query many times; rebuild after edits. */
export class GraphIndex {
  readonly model: ModelProto;
  /** Every graph, parents before children. */
  readonly scopes: Scope[] = [];
  private byGraph = new Map<GraphProto, Scope>();
  private names?: Set<string>;
  private counters = new Map<string, number>();

  constructor(model: Model | ModelProto) {
    this.model = "proto" in model ? model.proto : model;
    for (const site of allGraphs(this.model)) this.add(site);
    // Outer reads bottom-up: children come after parents in `scopes`.
    for (let i = this.scopes.length - 1; i >= 0; i--) this.link(this.scopes[i]!);
  }

  /** The main graph's scope. */
  get main(): Scope {
    const s = this.scopes[0];
    if (!s || s.site.path !== "main") throw new QuantError("E_GRAPH", "model has no main graph");
    return s;
  }

  /** The scope of a graph (main graph by default). */
  scope(graph?: GraphProto): Scope {
    if (!graph) return this.main;
    const s = this.byGraph.get(graph);
    if (!s) throw new QuantError("E_GRAPH", `graph "${graph.name ?? ""}" is not part of this model (rebuild the GraphIndex after edits)`);
    return s;
  }

  private add(site: GraphSite) {
    const g = site.graph;
    const parent = site.parent ? this.byGraph.get(site.parent.graph) : undefined;
    const scope: Scope = {
      graph: g,
      site,
      parent,
      children: [],
      producers: new Map(),
      consumers: new Map(),
      outputs: new Set(),
      outerReads: new Set(),
      valueInfo: new Map(),
    };
    parent?.children.push(scope);
    this.byGraph.set(g, scope);
    this.scopes.push(scope);
    const inputs = new Map<string, ValueInfoProto>();
    for (const v of g.value_info ?? []) if (v.name) scope.valueInfo.set(v.name, v);
    for (const v of g.output ?? []) if (v.name) (scope.outputs.add(v.name), scope.valueInfo.set(v.name, v));
    for (const v of g.input ?? []) if (v.name) (inputs.set(v.name, v), scope.valueInfo.set(v.name, v));
    for (const [name, info] of inputs) scope.producers.set(name, { kind: "input", info, graph: g });
    for (const t of g.initializer ?? []) {
      if (!t.name) continue;
      const info = inputs.get(t.name);
      scope.producers.set(t.name, info ? { kind: "input", info, graph: g, initializer: t } : { kind: "initializer", tensor: t, graph: g });
    }
    for (const sp of g.sparse_initializer ?? []) {
      const name = sp.values?.name;
      if (name && !scope.producers.has(name)) scope.producers.set(name, { kind: "sparse_initializer", sparse: sp, graph: g });
    }
    for (const node of g.node ?? []) {
      node.output?.forEach((o, i) => {
        if (o) scope.producers.set(o, { kind: "node", node, output: i, graph: g });
      });
      node.input?.forEach((x, i) => {
        if (x) push(scope.consumers, x, { node, input: i, graph: g });
      });
    }
  }

  /** Compute outer reads of a scope (its children are already linked) and the implicit consumers of its nodes. */
  private link(scope: Scope) {
    const g = scope.graph;
    const local = scope.producers;
    for (const node of g.node ?? []) {
      const subs = nodeSubgraphs(node);
      if (!subs.length) continue;
      const implicit = new Set<string>();
      for (const { graph } of subs) {
        const child = this.byGraph.get(graph);
        if (child) for (const x of child.outerReads) implicit.add(x);
      }
      for (const x of implicit) push(scope.consumers, x, { node, input: -1, graph: g });
    }
    for (const x of scope.consumers.keys()) if (!local.has(x)) scope.outerReads.add(x);
    for (const o of scope.outputs) if (!local.has(o)) scope.outerReads.add(o);
  }

  /** The scope that defines `name` as seen from `graph` (its own graph or the nearest enclosing one). */
  definingScope(name: string, graph?: GraphProto): Scope | undefined {
    for (let s: Scope | undefined = this.scope(graph); s; s = s.parent) if (s.producers.has(name)) return s;
    return undefined;
  }

  /** What defines `name` as seen from `graph`. */
  producer(name: string, graph?: GraphProto): Producer | undefined {
    return this.definingScope(name, graph)?.producers.get(name);
  }

  /** The node producing `name` in `graph` or an enclosing graph. */
  producerNode(name: string, graph?: GraphProto): NodeProto | undefined {
    const p = this.producer(name, graph);
    return p?.kind === "node" ? p.node : undefined;
  }

  /**
   * Readers of `name` in `graph` (default main): explicit inputs, plus nodes holding a subgraph that reads it
   * from this scope (input -1). Use {@link readers} for the nodes inside the subgraphs.
   */
  consumers(name: string, graph?: GraphProto): readonly Consumer[] {
    return this.scope(graph).consumers.get(name) ?? [];
  }

  /** Every node reading `name` through an explicit input, in `graph` and in nested graphs that see it from there. */
  readers(name: string, graph?: GraphProto): Consumer[] {
    const out: Consumer[] = [];
    const visit = (s: Scope) => {
      for (const c of s.consumers.get(name) ?? []) if (c.input >= 0) out.push(c);
      for (const child of s.children) if (child.outerReads.has(name)) visit(child);
    };
    visit(this.scope(graph));
    return out;
  }

  /** True when `name` is an output of `graph` (default main). */
  isGraphOutput(name: string, graph?: GraphProto): boolean {
    return this.scope(graph).outputs.has(name);
  }

  /** The ValueInfoProto describing `name` as seen from `graph` (inputs, outputs, value_info of it and enclosing graphs). */
  valueInfo(name: string, graph?: GraphProto): ValueInfoProto | undefined {
    for (let s: Scope | undefined = this.scope(graph); s; s = s.parent) {
      const v = s.valueInfo.get(name);
      if (v) return v;
      if (s.producers.has(name)) break; // defined here without info: outer graphs cannot know it
    }
    return undefined;
  }

  /** The tensor behind a constant value: an initializer (not overridable) or a Constant node output. */
  constantOf(name: string, graph?: GraphProto): TensorProto | undefined {
    const p = this.producer(name, graph);
    if (!p) return undefined;
    if (p.kind === "initializer") return p.tensor;
    if (p.kind === "input" && p.initializer && num(this.model.ir_version) < 4) return p.initializer;
    if (p.kind === "node") return constantTensor(p.node);
    return undefined;
  }

  /** Element type (TensorProto.DataType) of a value, from value infos, initializers or Constant nodes. */
  elemTypeOf(name: string, graph?: GraphProto): number | undefined {
    const tt = this.valueInfo(name, graph)?.type?.tensor_type;
    if (tt?.elem_type) return tt.elem_type;
    const t = this.tensorOf(name, graph);
    return t?.data_type || undefined;
  }

  /** Shape of a value ([] for a scalar), or undefined when its rank is not known. */
  shapeOf(name: string, graph?: GraphProto): Dim[] | undefined {
    const tt = this.valueInfo(name, graph)?.type?.tensor_type;
    // A declared shape wins; an input declared without one may still have an initializer default with dims.
    if (tt?.shape) return (tt.shape.dim ?? []).map((d): Dim => (d.dim_param ? d.dim_param : d.dim_value !== undefined && d.dim_value !== null ? num(d.dim_value) : null));
    const t = this.tensorOf(name, graph);
    return t ? (t.dims ?? []).map((d) => num(d)) : undefined;
  }

  private tensorOf(name: string, graph?: GraphProto): TensorProto | undefined {
    const p = this.producer(name, graph);
    if (!p) return undefined;
    if (p.kind === "initializer") return p.tensor;
    if (p.kind === "input") return p.initializer;
    if (p.kind === "sparse_initializer") return p.sparse.values && { ...p.sparse.values, dims: p.sparse.dims };
    return constantTensor(p.node);
  }

  /**
   * The nodes of `graph` in topological order (counting subgraph outer reads as inputs). Keeps the stored order
   * where it is already valid. Throws E_GRAPH on a cycle.
   */
  topoOrder(graph?: GraphProto): NodeProto[] {
    const s = this.scope(graph);
    const nodes = s.graph.node ?? [];
    const index = new Map<NodeProto, number>();
    nodes.forEach((n, i) => index.set(n, i));
    const indeg = new Int32Array(nodes.length);
    const users: number[][] = nodes.map(() => []);
    for (const [name, cons] of s.consumers) {
      const p = s.producers.get(name);
      if (p?.kind !== "node") continue;
      const from = index.get(p.node)!;
      // A node reading a value twice gets two edges: both are counted in and taken out again, which is consistent.
      for (const c of cons) {
        const to = index.get(c.node)!;
        users[from]!.push(to);
        indeg[to]!++;
      }
    }
    // Kahn's algorithm with a min-heap on the original position: stable, O(E + V log V).
    const heap = new MinHeap(nodes.length);
    for (let i = 0; i < nodes.length; i++) if (indeg[i] === 0) heap.push(i);
    const out: NodeProto[] = [];
    while (heap.size) {
      const i = heap.pop();
      out.push(nodes[i]!);
      for (const u of users[i]!) if (--indeg[u]! === 0) heap.push(u);
    }
    if (out.length !== nodes.length) {
      const n = nodes.find((_, i) => indeg[i]! > 0)!;
      throw new QuantError("E_GRAPH", `graph ${s.site.path} is not a DAG: node "${n.name || n.op_type}" is on a cycle`, { target: n.name });
    }
    return out;
  }

  /**
   * A name no value, node, initializer or function anywhere in the model uses (nor any name handed out before).
   * `prefix` itself when free, else `prefix_1`, `prefix_2`, …
   */
  uniqueName(prefix: string): string {
    const names = (this.names ??= this.collectNames());
    let name = prefix;
    let n = this.counters.get(prefix) ?? 0;
    while (names.has(name)) name = `${prefix}_${++n}`;
    this.counters.set(prefix, n);
    names.add(name);
    return name;
  }

  private collectNames(): Set<string> {
    const names = new Set<string>();
    const addNodes = (nodes: NodeProto[] | undefined) => {
      for (const n of nodes ?? []) {
        if (n.name) names.add(n.name);
        for (const x of n.input ?? []) if (x) names.add(x);
        for (const x of n.output ?? []) if (x) names.add(x);
      }
    };
    for (const s of this.scopes) {
      for (const k of s.producers.keys()) names.add(k);
      for (const k of s.valueInfo.keys()) names.add(k);
      addNodes(s.graph.node);
      if (s.graph.name) names.add(s.graph.name);
    }
    for (const f of this.model.functions ?? []) {
      if (f.name) names.add(f.name);
      for (const x of [...(f.input ?? []), ...(f.output ?? [])]) names.add(x);
      addNodes(f.node);
    }
    return names;
  }
}

/** A binary min-heap of small integers (node positions). */
class MinHeap {
  private a: Int32Array;
  size = 0;
  constructor(capacity: number) {
    this.a = new Int32Array(Math.max(1, capacity));
  }
  push(v: number) {
    const a = this.a;
    let i = this.size++;
    a[i] = v;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]! <= v) break;
      a[i] = a[p]!;
      i = p;
    }
    a[i] = v;
  }
  pop(): number {
    const a = this.a;
    const top = a[0]!;
    const v = a[--this.size]!;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= this.size) break;
      if (c + 1 < this.size && a[c + 1]! < a[c]!) c++;
      if (a[c]! >= v) break;
      a[i] = a[c]!;
      i = c;
    }
    a[i] = v;
    return top;
  }
}
