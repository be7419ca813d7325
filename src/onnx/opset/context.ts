/**
 * What an adapter sees and uses: questions about values (through {@link ScopeIndex}), fresh unique names, and ways to
 * add nodes and constants around the node being converted. Constants become initializers of the scope's graph, or
 * Constant nodes inside function bodies (functions have no initializers).
 */
import type { ModelProto, NodeProto, TensorProto } from "../types.ts";
import { makeAttribute, type AttrValue } from "../builder.ts";
import { nodeSubgraphs } from "../walk.ts";
import { floatTensor, int64Tensor, SCALAR_TYPES, scalarTensor } from "./attrs.ts";
import type { Scope, ScopeIndex } from "./scope.ts";
import type { Int64 } from "../types.ts";

/** Unique value/node names for one model: every name already used anywhere is taken. */
export class NameGen {
  private taken = new Set<string>();
  private counters = new Map<string, number>();

  constructor(model: ModelProto) {
    const add = (s: string | undefined) => s && this.taken.add(s);
    const graph = (g: NonNullable<ModelProto["graph"]>, depth: number) => {
      for (const vi of [...(g.input ?? []), ...(g.output ?? []), ...(g.value_info ?? [])]) add(vi.name);
      for (const t of g.initializer ?? []) add(t.name);
      for (const s of g.sparse_initializer ?? []) add(s.values?.name);
      nodes(g.node, depth);
    };
    const nodes = (list: NodeProto[] | undefined, depth: number) => {
      for (const n of list ?? []) {
        add(n.name);
        n.input?.forEach(add);
        n.output?.forEach(add);
        if (depth < 64) for (const { graph: sub } of nodeSubgraphs(n)) graph(sub, depth + 1);
      }
    };
    if (model.graph) graph(model.graph, 0);
    for (const ti of model.training_info ?? []) for (const g of [ti.initialization, ti.algorithm]) if (g) graph(g, 0);
    for (const f of model.functions ?? []) {
      f.input?.forEach(add);
      f.output?.forEach(add);
      nodes(f.node, 0);
    }
  }

  /** A name starting with `base` that no other value or node of the model has. */
  fresh(base: string): string {
    let n = this.counters.get(base) ?? 0;
    let name: string;
    do name = `${base}_${n++}`;
    while (this.taken.has(name));
    this.counters.set(base, n);
    this.taken.add(name);
    return name;
  }
}

/** Read-only context for checks. */
export interface CheckContext {
  index: ScopeIndex;
  /** Opset the model converts from (of this scope). */
  from: number;
  target: number;
}

/** Context for rewriting one node in place. */
export class ConvertContext implements CheckContext {
  /** Nodes to insert before / after the node being converted (in order). */
  readonly before: NodeProto[] = [];
  readonly after: NodeProto[] = [];

  constructor(
    readonly index: ScopeIndex,
    readonly scope: Scope,
    readonly from: number,
    readonly target: number,
    readonly names: NameGen,
    /** Base for generated names (the node's name or op type). */
    private readonly base: string,
  ) {}

  /** Remove the declared type of a value that no longer exists (its value_info entry). */
  forget(name: string): void {
    const g = this.scope.graph;
    if (g?.value_info) g.value_info = g.value_info.filter((vi) => vi.name !== name);
    if (this.scope.fn?.value_info) this.scope.fn.value_info = this.scope.fn.value_info.filter((vi) => vi.name !== name);
  }

  /** Drop the node's outputs from index `from` on (the caller checked nothing reads them). */
  dropOutputs(node: NodeProto, from: number): void {
    for (const o of node.output?.splice(from) ?? []) if (o) this.forget(o);
  }

  /** A fresh value name derived from the node's name. */
  fresh(suffix: string): string {
    return this.names.fresh(`${this.base}_${suffix}`);
  }

  /** Build a default-domain node with fresh node and output names; it is not inserted. */
  makeNode(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outputs: string[] | number = 1): NodeProto {
    const outs = typeof outputs === "number" ? Array.from({ length: outputs }, () => this.fresh(op.toLowerCase())) : outputs;
    const node: NodeProto = { op_type: op, name: this.fresh(op), input: inputs, output: outs };
    const attribute = Object.entries(attrs).map(([k, v]) => makeAttribute(k, v));
    if (attribute.length) node.attribute = attribute;
    return node;
  }

  /** Insert a new node before the converted one; returns its first output. */
  addBefore(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}): string {
    const n = this.makeNode(op, inputs, attrs);
    this.before.push(n);
    return n.output![0]!;
  }

  /** Add a constant tensor to the scope and return the value name that holds it. */
  constant(t: TensorProto, suffix = "const"): string {
    const name = this.fresh(suffix);
    t.name = name;
    if (this.scope.graph) {
      (this.scope.graph.initializer ??= []).push(t);
    } else {
      const { name: _n, ...value } = t;
      this.before.push({ op_type: "Constant", name: this.fresh("Constant"), input: [], output: [name], attribute: [makeAttribute("value", value as TensorProto)] });
    }
    return name;
  }

  /** An INT64 constant (1-D unless `dims` given; pass `[]` for a scalar). */
  int64s(values: readonly Int64[], dims?: readonly number[], suffix = "const"): string {
    return this.constant(int64Tensor("", values, dims), suffix);
  }

  /** A FLOAT constant. */
  floats(values: readonly number[], dims?: readonly number[], suffix = "const"): string {
    return this.constant(floatTensor("", values, dims), suffix);
  }

  /**
   * A scalar constant with the element type of value `like`. When that type cannot be told, the scalar is made as
   * float and cast with CastLike (opset >= 15); callers check {@link canMakeScalarLike} first.
   */
  scalarLike(like: string, value: number, suffix = "const"): string {
    const type = this.index.elemType(like);
    if (type !== undefined && SCALAR_TYPES.has(type)) return this.constant(scalarTensor("", type, value), suffix);
    if (this.target < 15) throw new Error(`element type of "${like}" unknown`);
    const f = this.constant(floatTensor("", [value], []), suffix);
    return this.addBefore("CastLike", [f, like]);
  }
}

/** True when {@link ConvertContext.scalarLike} can build a scalar of `like`'s type. */
export function canMakeScalarLike(ctx: CheckContext, like: string): boolean {
  const type = ctx.index.elemType(like);
  return (type !== undefined && SCALAR_TYPES.has(type)) || ctx.target >= 15;
}
