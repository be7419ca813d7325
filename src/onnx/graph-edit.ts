/**
 * Editing a graph in place: insert nodes where they are needed, point readers of a value at another value,
 * remove nodes, initializers and stale value_info. Each helper is one linear pass (no per-edit array splicing),
 * so batches of thousands of edits stay cheap. Rebuild any GraphIndex after editing.
 */
import { QuantError } from "../errors/errors.ts";
import { nodeDependencies, outerScopeInputs } from "./check.ts";
import type { GraphProto, NodeProto } from "./types.ts";
import { nodeSubgraphs } from "./walk.ts";

/** Remove the items `drop` selects from an array in place (keeps order, one pass). Returns how many went. */
function compact<T>(list: T[] | undefined, drop: (item: T) => boolean): number {
  if (!list) return 0;
  let w = 0;
  for (let r = 0; r < list.length; r++) {
    const item = list[r]!;
    if (!drop(item)) list[w++] = item;
  }
  const removed = list.length - w;
  list.length = w;
  return removed;
}

/**
 * Insert `nodes` into `graph`, each right before the first existing node that reads one of its outputs (directly or
 * through a subgraph), or at the end when nothing reads them yet. `nodes` must be in a valid order among themselves
 * (e.g. QuantizeLinear before its DequantizeLinear); their relative order is kept. Throws E_GRAPH when a node would
 * have to sit before the producer of one of its inputs (the graph then needs reordering, see GraphIndex.topoOrder).
 */
export function insertNodes(graph: GraphProto, nodes: readonly NodeProto[]): void {
  if (!nodes.length) return;
  const existing = (graph.node ??= []);
  const wanted = new Set<string>();
  const inputs = new Set<string>();
  for (const n of nodes) {
    for (const o of n.output ?? []) if (o) wanted.add(o);
    for (const i of nodeDependencies(n)) inputs.add(i);
  }
  // First reader position of each new output, and position of the producers of the new nodes' inputs.
  const firstRead = new Map<string, number>();
  const producedAt = new Map<string, number>();
  const memo = new Map<GraphProto, Set<string>>();
  existing.forEach((n, pos) => {
    for (const d of nodeDependencies(n, memo)) if (wanted.has(d) && !firstRead.has(d)) firstRead.set(d, pos);
    for (const o of n.output ?? []) if (inputs.has(o)) producedAt.set(o, pos);
  });
  // Walk the batch backwards so a node's target also accounts for later new nodes reading its outputs.
  const target = new Float64Array(nodes.length);
  const newRead = new Map<string, number>();
  for (let k = nodes.length - 1; k >= 0; k--) {
    const n = nodes[k]!;
    let t = Infinity;
    for (const o of n.output ?? []) {
      if (!o) continue;
      t = Math.min(t, firstRead.get(o) ?? Infinity, newRead.get(o) ?? Infinity);
    }
    if (t === Infinity) t = existing.length;
    for (const d of nodeDependencies(n)) {
      const p = producedAt.get(d);
      if (p !== undefined && p >= t)
        throw new QuantError("E_GRAPH", `cannot insert node "${n.name || n.op_type}": its input "${d}" is produced after the first reader of its output`, {
          target: n.name,
        });
      newRead.set(d, Math.min(newRead.get(d) ?? Infinity, t));
    }
    target[k] = t;
  }
  const order = nodes.map((_, k) => k).sort((a, b) => target[a]! - target[b]! || a - b);
  const merged: NodeProto[] = new Array(existing.length + nodes.length);
  let w = 0;
  let k = 0;
  for (let pos = 0; pos <= existing.length; pos++) {
    while (k < order.length && target[order[k]!]! <= pos) merged[w++] = nodes[order[k++]!]!;
    if (pos < existing.length) merged[w++] = existing[pos]!;
  }
  existing.length = 0;
  for (const n of merged) existing.push(n);
}

/** Insert one node before the first node reading one of its outputs. See {@link insertNodes}. */
export function insertBeforeFirstConsumer(graph: GraphProto, node: NodeProto): void {
  insertNodes(graph, [node]);
}

/** Options of {@link replaceUses}. */
export interface ReplaceOptions {
  /** Also rename `graph`'s own outputs (changes the graph's interface; off by default). */
  outputs?: boolean;
  /** Only rewrite the readers this accepts (called for nodes in `graph` and in nested subgraphs). */
  filter?: (node: NodeProto, input: number, graph: GraphProto) => boolean;
}

/** Names a graph defines itself (inputs, initializers, sparse initializers, node outputs). */
function localNames(g: GraphProto): Set<string> {
  const s = new Set<string>();
  for (const v of g.input ?? []) if (v.name) s.add(v.name);
  for (const t of g.initializer ?? []) if (t.name) s.add(t.name);
  for (const sp of g.sparse_initializer ?? []) if (sp.values?.name) s.add(sp.values.name);
  for (const n of g.node ?? []) for (const o of n.output ?? []) if (o) s.add(o);
  return s;
}

/**
 * Make every reader of value `from` in `graph` read `to` instead, including nodes in nested subgraphs that see
 * `from` from this scope (their subgraph outputs naming it are renamed too: those are positional). Returns the
 * number of rewritten references. Throws E_GRAPH when a nested graph that reads `from` defines `to` itself (the
 * reference would be captured by the wrong value); the graph is then left untouched.
 */
export function replaceUses(graph: GraphProto, from: string, to: string, options: ReplaceOptions = {}): number {
  return from === to ? 0 : replaceUsesMany(graph, new Map([[from, to]]), options);
}

/**
 * {@link replaceUses} for many values at once, in one pass over the graph and its subgraphs (use it for batches:
 * one call per value would walk the graph once per value). `renames` maps old name → new name; new names are not
 * renamed again.
 */
export function replaceUsesMany(graph: GraphProto, renames: ReadonlyMap<string, string>, options: ReplaceOptions = {}): number {
  if (!renames.size) return 0;
  let count = 0;
  // Two passes: check every nested graph first, so a refusal leaves the graph untouched. The outer-read memo is
  // filled by the check pass, i.e. from the graph before any edit, so both passes take the same decisions.
  const memo = new Map<GraphProto, Set<string>>();
  const visit = (g: GraphProto, map: ReadonlyMap<string, string>, top: boolean, apply: boolean) => {
    for (const node of g.node ?? []) {
      const ins = node.input ?? [];
      if (apply) {
        for (let i = 0; i < ins.length; i++) {
          const to = map.get(ins[i]!);
          if (to !== undefined && (!options.filter || options.filter(node, i, g))) {
            ins[i] = to;
            count++;
          }
        }
      }
      for (const { graph: sub } of nodeSubgraphs(node)) {
        // Names the subgraph reads from outside: a renamed value it does not read (or defines itself) is no concern.
        const reads = outerScopeInputs(sub, memo);
        let local: Set<string> | undefined;
        let inner: Map<string, string> | undefined;
        for (const [from, to] of map) {
          if (!reads.has(from)) continue;
          if ((local ??= localNames(sub)).has(to)) {
            throw new QuantError("E_GRAPH", `cannot point readers of "${from}" at "${to}": subgraph "${sub.name ?? ""}" defines its own "${to}"`, { target: from });
          }
          (inner ??= new Map()).set(from, to);
        }
        if (inner) visit(sub, inner, false, apply);
      }
    }
    if (apply && (!top || options.outputs)) {
      for (const o of g.output ?? []) {
        const to = map.get(o.name ?? "");
        if (to !== undefined) {
          o.name = to;
          count++;
        }
      }
    }
  };
  visit(graph, renames, true, false);
  visit(graph, renames, true, true);
  return count;
}

/** Remove nodes from `graph` (by identity). Returns how many were removed. */
export function removeNodes(graph: GraphProto, nodes: Iterable<NodeProto>): number {
  const drop = nodes instanceof Set ? (nodes as Set<NodeProto>) : new Set(nodes);
  if (!drop.size) return 0;
  return compact(graph.node, (n) => drop.has(n));
}

/** Remove initializers (dense and sparse) and their value_info entries by name. Returns how many tensors went. */
export function removeInitializers(graph: GraphProto, names: Iterable<string>): number {
  const drop = names instanceof Set ? (names as Set<string>) : new Set(names);
  if (!drop.size) return 0;
  const n = compact(graph.initializer, (t) => drop.has(t.name ?? "")) + compact(graph.sparse_initializer, (s) => drop.has(s.values?.name ?? ""));
  removeValueInfo(graph, drop);
  return n;
}

/** Remove value_info entries by name (after the value they describe is gone). Returns how many went. */
export function removeValueInfo(graph: GraphProto, names: Iterable<string>): number {
  const drop = names instanceof Set ? (names as Set<string>) : new Set(names);
  return drop.size ? compact(graph.value_info, (v) => drop.has(v.name ?? "")) : 0;
}
