/**
 * Structural checks done at load time: value names are produced once per graph, and each graph is a DAG
 * (counting the outer-scope values a node's subgraphs read as inputs of that node).
 */
import { QuantError } from "../errors/errors.ts";
import type { GraphProto, NodeProto } from "./types.ts";
import { allGraphs, nodeSubgraphs } from "./walk.ts";
import type { ModelProto } from "./types.ts";

/** Names a subgraph (and its nested subgraphs) reads from enclosing scopes. */
export function outerScopeInputs(graph: GraphProto, memo = new Map<GraphProto, Set<string>>()): Set<string> {
  const cached = memo.get(graph);
  if (cached) return cached;
  const local = new Set<string>();
  for (const v of graph.input ?? []) if (v.name) local.add(v.name);
  for (const t of graph.initializer ?? []) if (t.name) local.add(t.name);
  for (const s of graph.sparse_initializer ?? []) if (s.values?.name) local.add(s.values.name);
  for (const n of graph.node ?? []) for (const o of n.output ?? []) if (o) local.add(o);
  const outer = new Set<string>();
  memo.set(graph, outer);
  for (const n of graph.node ?? []) {
    for (const i of n.input ?? []) if (i && !local.has(i)) outer.add(i);
    for (const { graph: g } of nodeSubgraphs(n)) for (const i of outerScopeInputs(g, memo)) if (!local.has(i)) outer.add(i);
  }
  for (const o of graph.output ?? []) if (o.name && !local.has(o.name)) outer.add(o.name);
  return outer;
}

/** All inputs a node depends on: its own plus the outer-scope reads of its subgraphs. */
export function nodeDependencies(node: NodeProto, memo?: Map<GraphProto, Set<string>>): string[] {
  const deps = (node.input ?? []).filter((x) => x !== "");
  for (const { graph } of nodeSubgraphs(node)) deps.push(...outerScopeInputs(graph, memo));
  return deps;
}

/** Throw E_LOAD_DUPLICATE_NAME / E_LOAD_CYCLE when a graph breaks single assignment or has a cycle. */
export function checkModelStructure(model: ModelProto, file?: string): void {
  const memo = new Map<GraphProto, Set<string>>();
  for (const site of allGraphs(model)) {
    const g = site.graph;
    const producer = new Map<string, number>(); // value → producing node index, -1 for inputs/initializers
    const dup = (name: string) =>
      new QuantError("E_LOAD_DUPLICATE_NAME", `value "${name}" is produced more than once in graph ${site.path}`, { file, target: name });
    const inputs = new Set<string>();
    for (const v of g.input ?? []) {
      if (!v.name) continue;
      if (inputs.has(v.name)) throw dup(v.name);
      inputs.add(v.name);
      producer.set(v.name, -1);
    }
    const inits = new Set<string>();
    for (const t of g.initializer ?? []) {
      if (!t.name) continue;
      // An initializer may share its name with a graph input (a default value that callers can override).
      if (inits.has(t.name)) throw dup(t.name);
      inits.add(t.name);
      producer.set(t.name, -1);
    }
    const nodes = g.node ?? [];
    nodes.forEach((n, idx) => {
      for (const o of n.output ?? []) {
        if (!o) continue;
        if (producer.has(o)) throw dup(o);
        producer.set(o, idx);
      }
    });
    // Kahn's algorithm over node → node edges.
    const indeg = new Int32Array(nodes.length);
    const users: number[][] = nodes.map(() => []);
    nodes.forEach((n, idx) => {
      for (const i of new Set(nodeDependencies(n, memo))) {
        const p = producer.get(i);
        if (p !== undefined && p >= 0) {
          users[p]!.push(idx);
          indeg[idx]!++;
        }
      }
    });
    const queue: number[] = [];
    for (let i = 0; i < nodes.length; i++) if (indeg[i] === 0) queue.push(i);
    let seen = 0;
    while (queue.length) {
      const i = queue.pop()!;
      seen++;
      for (const u of users[i]!) if (--indeg[u]! === 0) queue.push(u);
    }
    if (seen !== nodes.length) {
      const stuck = nodes.findIndex((_, i) => indeg[i]! > 0);
      const n = nodes[stuck]!;
      throw new QuantError("E_LOAD_CYCLE", `graph ${site.path} is not a DAG: node "${n.name || n.op_type}" is on a cycle`, { file, target: n.name });
    }
  }
}
