/**
 * Enumerate every graph of a model: the main graph, subgraphs held by node attributes (If/Loop/Scan bodies, nested
 * at any depth), and training_info graphs. Also every tensor stored anywhere (initializers, sparse initializers,
 * Constant and other tensor attributes).
 */
import type { AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto } from "./types.ts";

/** A graph and how it is reached. `parent` is the graph whose node holds it (undefined for top-level graphs). */
export interface GraphSite {
  graph: GraphProto;
  /** Human-readable path, e.g. `main/If_3.then_branch`. */
  path: string;
  parent?: GraphSite;
  /** Node (in `parent`) whose attribute holds this graph. */
  owner?: NodeProto;
  /** Attribute name on `owner`. */
  attribute?: string;
  depth: number;
}

/** Subgraphs directly held by a node's attributes. */
export function nodeSubgraphs(node: NodeProto): { attr: AttributeProto; graph: GraphProto; index: number }[] {
  const out: { attr: AttributeProto; graph: GraphProto; index: number }[] = [];
  for (const a of node.attribute ?? []) {
    if (a.g) out.push({ attr: a, graph: a.g, index: -1 });
    a.graphs?.forEach((g, i) => out.push({ attr: a, graph: g, index: i }));
  }
  return out;
}

/** Every graph of the model, parents before children. Guards against absurd nesting (fuzzed files). */
export function allGraphs(model: ModelProto, maxDepth = 64): GraphSite[] {
  const out: GraphSite[] = [];
  const visit = (site: GraphSite) => {
    out.push(site);
    if (site.depth >= maxDepth) return;
    for (const node of site.graph.node ?? []) {
      for (const { attr, graph, index } of nodeSubgraphs(node)) {
        const name = `${node.name || node.op_type}.${attr.name}${index >= 0 ? `[${index}]` : ""}`;
        visit({ graph, path: `${site.path}/${name}`, parent: site, owner: node, attribute: attr.name, depth: site.depth + 1 });
      }
    }
  };
  if (model.graph) visit({ graph: model.graph, path: "main", depth: 0 });
  model.training_info?.forEach((ti, i) => {
    if (ti.initialization) visit({ graph: ti.initialization, path: `training_info[${i}].initialization`, depth: 0 });
    if (ti.algorithm) visit({ graph: ti.algorithm, path: `training_info[${i}].algorithm`, depth: 0 });
  });
  return out;
}

/** Where a stored tensor sits, so it can be replaced in place. */
export interface TensorSite {
  tensor: TensorProto;
  kind: "initializer" | "sparse_values" | "sparse_indices" | "attribute";
  graph?: GraphProto;
  node?: NodeProto;
  /** Replace this tensor in its container by another object. */
  replace(t: TensorProto): void;
}

function attributeTensors(nodes: NodeProto[] | undefined, graph: GraphProto | undefined, out: TensorSite[]) {
  for (const node of nodes ?? []) {
    for (const a of node.attribute ?? []) {
      if (a.t) out.push({ tensor: a.t, kind: "attribute", graph, node, replace: (t) => (a.t = t) });
      a.tensors?.forEach((t, i) => out.push({ tensor: t, kind: "attribute", graph, node, replace: (n) => (a.tensors![i] = n) }));
      const sp = a.sparse_tensor;
      if (sp?.values) out.push({ tensor: sp.values, kind: "sparse_values", graph, node, replace: (t) => (sp.values = t) });
      if (sp?.indices) out.push({ tensor: sp.indices, kind: "sparse_indices", graph, node, replace: (t) => (sp.indices = t) });
    }
  }
}

/** Every TensorProto stored in the model (all graphs, and function bodies' Constant attributes). */
export function allTensors(model: ModelProto): TensorSite[] {
  const out: TensorSite[] = [];
  for (const { graph } of allGraphs(model)) {
    graph.initializer?.forEach((t, i) => out.push({ tensor: t, kind: "initializer", graph, replace: (n) => (graph.initializer![i] = n) }));
    for (const sp of graph.sparse_initializer ?? []) {
      if (sp.values) out.push({ tensor: sp.values, kind: "sparse_values", graph, replace: (t) => (sp.values = t) });
      if (sp.indices) out.push({ tensor: sp.indices, kind: "sparse_indices", graph, replace: (t) => (sp.indices = t) });
    }
    attributeTensors(graph.node, graph, out);
  }
  for (const f of model.functions ?? []) attributeTensors(f.node, undefined, out);
  return out;
}
