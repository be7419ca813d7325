/**
 * Weights wherever exporters put them. A weight is a float (fp32/fp16/bf16/fp64) constant tensor read by a node:
 * an initializer of the main graph or of a subgraph, or the value of a `Constant` node, possibly read through
 * `Identity` chains (torch de-duplicates equal tensors that way) and other data-movement ops (Slice, Split,
 * Transpose, Reshape, Gather with constant indices, Concat, …: see weight-chain.ts), and from inside If/Loop/Scan
 * bodies.
 * An initializer that is also a graph input is a default the caller can override (IR ≥ 4): it is reported with
 * `shadowed: true` and must not be quantized. Function bodies (FunctionProto) are templates shared by every call and
 * are not searched; their weights arrive as call inputs, which are found.
 */
import { DataType, byteLength, isFloatWeightType } from "../tensor/dtypes.ts";
import { elementCount, externalRef, isExternal } from "./external.ts";
import { GraphIndex, constantTensor, opsetVersion, type Scope } from "./graph.ts";
import { tensorInts } from "./tensor-data.ts";
import { movesData, stepOutputShape, type ChainContext, type ChainStep } from "./weight-chain.ts";
import type { Model } from "./model.ts";
import type { GraphProto, ModelProto, NodeProto, TensorProto } from "./types.ts";
import { num } from "./types.ts";

/** Where a weight's TensorProto is stored. */
export type WeightLocation = "initializer" | "constant" | "subgraph";

/** A node input that reads a weight. */
export interface WeightConsumer {
  readonly node: NodeProto;
  /** Input index on `node`. */
  readonly input: number;
  readonly opType: string;
  /** Graph holding `node` (differs from the weight's graph for outer-scope reads). */
  readonly graph: GraphProto;
  /** Outputs of the data-movement steps passed on the way, in order (empty when `node` reads the weight directly). */
  readonly via: readonly string[];
  /** The data-movement steps passed on the way (Identity, Slice, Transpose, …), in order. */
  readonly steps: readonly ChainStep[];
  /** Shape of the value `node` reads (-1 for unknown dimensions), undefined when not inferable. */
  readonly shape?: readonly number[];
}

/** A float constant tensor and everything that reads it. */
export interface Weight {
  /** Initializer name, or the Constant node's output name. */
  readonly name: string;
  /** The stored tensor (for `value_float(s)` Constants, a TensorProto made from the attribute). */
  readonly tensor: TensorProto;
  /** `initializer` of the main graph, `constant` node (any graph), or `subgraph` initializer. */
  readonly location: WeightLocation;
  /** Data lives in an external file. */
  readonly external: boolean;
  /** Graph (scope) holding the tensor. */
  readonly graph: GraphProto;
  /** Path of that graph, e.g. `main` or `main/If_0.then_branch`. */
  readonly scope: string;
  /** The Constant node, for location `constant`. */
  readonly node?: NodeProto;
  /**
   * Every node input reading the weight, following data-movement chains: the first node that computes with it (or
   * reads it through a subgraph), and any chain node whose output is a graph output.
   */
  readonly consumers: readonly WeightConsumer[];
  /** Read by a node inside a nested subgraph (an outer-scope reference). */
  readonly outerScope: boolean;
  /** A graph input has the same name, so callers can override it: not a constant, do not quantize. */
  readonly shadowed: boolean;
  readonly dataType: number;
  readonly dims: readonly number[];
  /** Bytes the tensor's data takes as stored. */
  readonly bytes: number;
}

/** Bytes a tensor's payload takes as stored (external length, raw_data, or the typed fields' natural size). */
export function storedByteLength(t: TensorProto): number {
  if (isExternal(t)) return externalRef(t).length;
  if (t.raw_data) return t.raw_data.byteLength;
  return byteLength(t.data_type ?? 0, elementCount(t.dims));
}

/** Constant integer inputs and known shapes, as shape inference along a chain needs them. */
function chainContext(index: GraphIndex, model: Model | undefined, graph: GraphProto): ChainContext {
  const shapes = new Map<string, number[] | undefined>();
  const ctx: ChainContext = {
    opset: opsetVersion(index.model) ?? 1,
    ints(name) {
      const t = index.constantOf(name, graph);
      const dt = t?.data_type ?? 0;
      return t && (dt === DataType.INT32 || dt === DataType.INT64) ? tensorInts(model, t) : undefined;
    },
    shape(name) {
      if (shapes.has(name)) return shapes.get(name);
      shapes.set(name, undefined); // a cycle (corrupt model) has no shape
      let s = index.shapeOf(name, graph)?.map((d) => (typeof d === "number" ? d : -1));
      // Not declared: infer it when a data-movement node makes it from values whose shapes are known (the other
      // gate slices a Concat joins, say).
      const p = s ? undefined : index.producer(name, graph);
      if (p?.kind === "node" && p.node.input?.[0] && movesData(p.node, 0, ctx))
        s = stepOutputShape(p.node, 0, p.output, ctx.shape(p.node.input[0]), ctx);
      shapes.set(name, s);
      return s;
    },
  };
  return ctx;
}

/** Readers of `name` seen from `graph`, following data-movement chains. */
function followReaders(index: GraphIndex, model: Model | undefined, name: string, graph: GraphProto, dims: readonly number[]): WeightConsumer[] {
  const out: WeightConsumer[] = [];
  const seen = new Set<string>();
  const contexts = new Map<GraphProto, ChainContext>();
  const ctxOf = (g: GraphProto) => {
    let c = contexts.get(g);
    if (!c) contexts.set(g, (c = chainContext(index, model, g)));
    return c;
  };
  const walk = (value: string, g: GraphProto, via: string[], steps: ChainStep[], shape: readonly number[] | undefined) => {
    if (seen.has(value)) return; // a DAG cannot loop, but a corrupt model could
    seen.add(value);
    for (const c of index.readers(value, g)) {
      const opType = c.node.op_type ?? "";
      const ctx = ctxOf(c.graph);
      if (!movesData(c.node, c.input, ctx)) {
        out.push({ node: c.node, input: c.input, opType, graph: c.graph, via, steps, shape });
        continue;
      }
      // A chain that ends unread still reads the weight (a dead Cast, say): the chain node is then the reader.
      const used = (c.node.output ?? []).some((o) => o && (index.isGraphOutput(o, c.graph) || index.readers(o, c.graph).length));
      if (!used) out.push({ node: c.node, input: c.input, opType, graph: c.graph, via, steps, shape });
      for (const [o, next] of (c.node.output ?? []).entries()) {
        if (!next) continue;
        const outShape = stepOutputShape(c.node, c.input, o, shape, ctx);
        const step: ChainStep = { node: c.node, input: c.input, output: o, inShape: shape, outShape };
        if (index.isGraphOutput(next, c.graph)) out.push({ node: c.node, input: c.input, opType, graph: c.graph, via, steps, shape });
        walk(next, c.graph, [...via, next], [...steps, step], outShape);
      }
    }
  };
  walk(name, graph, [], [], dims);
  return out;
}

function make(
  index: GraphIndex,
  model: Model | undefined,
  scope: Scope,
  name: string,
  tensor: TensorProto,
  location: WeightLocation,
  shadowed: boolean,
  node?: NodeProto,
): Weight | undefined {
  const dims = (tensor.dims ?? []).map((d) => num(d));
  const consumers = followReaders(index, model, name, scope.graph, dims);
  if (!consumers.length) return undefined;
  return {
    name,
    tensor,
    location,
    external: isExternal(tensor),
    graph: scope.graph,
    scope: scope.site.path,
    node,
    consumers,
    outerScope: consumers.some((c) => c.graph !== scope.graph),
    shadowed,
    dataType: tensor.data_type ?? 0,
    dims,
    bytes: storedByteLength(tensor),
  };
}

/**
 * Every float constant tensor read by a node, in all graphs (parents first, then stored order).
 * Shadowed initializers are included with `shadowed: true`; filter them out before quantizing
 * (or use {@link quantizableWeights}).
 * @example for (const w of findWeights(model)) if (!w.shadowed) console.log(w.name, w.consumers.map((c) => c.opType));
 */
export function findWeights(model: Model | ModelProto, index?: GraphIndex): Weight[] {
  const idx = index ?? new GraphIndex(model);
  const m = "proto" in model ? model : undefined;
  // Before IR 4 every initializer had to be listed as an input too; ORT treats them as constants then.
  const overridable = num(idx.model.ir_version) >= 4;
  const out: Weight[] = [];
  for (const scope of idx.scopes) {
    const inMain = scope.site.path === "main";
    for (const t of scope.graph.initializer ?? []) {
      if (!t.name || !isFloatWeightType(t.data_type ?? 0)) continue;
      const p = scope.producers.get(t.name);
      const shadowed = overridable && p?.kind === "input";
      const w = make(idx, m, scope, t.name, t, inMain ? "initializer" : "subgraph", shadowed);
      if (w) out.push(w);
    }
    for (const node of scope.graph.node ?? []) {
      const t = constantTensor(node);
      const name = node.output?.[0];
      if (!t || !name || !isFloatWeightType(t.data_type ?? 0)) continue;
      const w = make(idx, m, scope, name, t, "constant", false, node);
      if (w) out.push(w);
    }
  }
  return out;
}

/** The weights that may be quantized: {@link findWeights} without the shadowed ones. */
export function quantizableWeights(model: Model | ModelProto, index?: GraphIndex): Weight[] {
  return findWeights(model, index).filter((w) => !w.shadowed);
}
