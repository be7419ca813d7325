/**
 * The read-only view of one graph that Q/DQ placement needs: who produces and who consumes each value, which values
 * are constants (initializers, `Constant` nodes, and both seen through chains of `Identity`, as exporters write them,
 * and through a Cast to float of a float constant, as float32-compute.ts writes them),
 * and the element type of every value (a small forward type inference: placement must never quantize an int64 shape).
 */
import {
  DATA_MOVEMENT_OPS, DataType, allGraphs, constantTensor, elementTypes, evaluateStep, nodeSubgraphs, num, opsetVersion, outerScopeInputs,
  tensorDims, tensorFloat32, tensorInts, type ChainContext, type FloatValue, type GraphProto, type Model, type NodeProto, type TensorProto,
} from "../../../src/index.ts";

/** One consumer slot: `node.input[index] === value`. */
export interface Use {
  readonly node: NodeProto;
  readonly index: number;
}

/**
 * Index over the main graph of a model for placement. A snapshot: build it before editing; `uniqueName` stays valid
 * across the edits because it reserves every name it hands out.
 */
export class PlacementGraph {
  readonly graph: GraphProto;
  /** Value → the node that produces it (absent for graph inputs and initializers). */
  readonly producer = new Map<string, NodeProto>();
  /** Value → its consumers in this graph (subgraph reads are in `outerReads`). */
  readonly consumers = new Map<string, Use[]>();
  /** Initializers by name. */
  readonly initializers = new Map<string, TensorProto>();
  /** Names of graph outputs. */
  readonly outputs: Set<string>;
  /** Values read from this graph by the subgraphs of its nodes (If/Loop/Scan bodies). */
  readonly outerReads = new Set<string>();
  /** Element type per value, where it could be inferred. */
  readonly types: Map<string, number>;
  private readonly names = new Set<string>();
  private readonly chainMemo = new Map<string, boolean>();
  private readonly foldMemo = new Map<string, FloatValue | null>();
  private readonly inputsOverride: boolean;
  private readonly inputNames: Set<string>;

  constructor(private readonly model: Model) {
    const graph = model.proto.graph ?? {};
    this.graph = graph;
    // New names must not collide with any name of any graph (subgraphs see the outer names).
    for (const { graph: g } of allGraphs(model.proto)) {
      for (const t of g.initializer ?? []) if (t.name) this.names.add(t.name);
      for (const v of g.input ?? []) if (v.name) this.names.add(v.name);
      for (const n of g.node ?? []) {
        if (n.name) this.names.add(n.name);
        for (const o of n.output ?? []) if (o) this.names.add(o);
      }
    }
    // Before IR 4 every initializer is also listed as an input, and is still a constant.
    this.inputsOverride = num(model.proto.ir_version) >= 4;
    this.inputNames = new Set((graph.input ?? []).map((i) => i.name ?? ""));
    this.outputs = new Set((graph.output ?? []).map((o) => o.name ?? ""));
    for (const t of graph.initializer ?? []) if (t.name) this.initializers.set(t.name, t);
    for (const v of [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.value_info ?? [])]) if (v.name) this.names.add(v.name);
    for (const t of graph.initializer ?? []) if (t.name) this.names.add(t.name);
    this.types = elementTypes(graph);
    const memo = new Map<GraphProto, Set<string>>();
    for (const node of graph.node ?? []) {
      if (node.name) this.names.add(node.name);
      (node.input ?? []).forEach((v, index) => {
        if (!v) return;
        let list = this.consumers.get(v);
        if (!list) this.consumers.set(v, (list = []));
        list.push({ node, index });
      });
      for (const o of node.output ?? []) if (o) { this.producer.set(o, node); this.names.add(o); }
      for (const { graph: g } of nodeSubgraphs(node)) for (const v of outerScopeInputs(g, memo)) this.outerReads.add(v);
    }
  }

  /** Consumers of a value in this graph. */
  uses(value: string): readonly Use[] {
    return this.consumers.get(value) ?? [];
  }

  /** True when the value is a float32 tensor (the only type placement quantizes). */
  isFloat(value: string): boolean {
    return this.types.get(value) === DataType.FLOAT;
  }

  /** The stored tensor behind a value: an initializer or a `Constant` node's `value`, seen through `Identity` chains. */
  constantOf(value: string): TensorProto | undefined {
    for (let depth = 0; depth < 64 && value; depth++) {
      const init = this.initializers.get(value);
      // An initializer that is also a graph input can be overridden at run time: not a constant.
      if (init) return this.inputsOverride && this.inputNames.has(value) ? undefined : init;
      const p = this.producer.get(value);
      if (!p) return undefined;
      if (p.op_type === "Identity" && !p.domain) value = p.input?.[0] ?? "";
      // A float16/bfloat16 weight read as float32 (float32-compute.ts): the stored half data is the constant.
      else if (p.op_type === "Cast" && !p.domain && intAttr(p, "to") === DataType.FLOAT && this.isFloatSource(p.input?.[0])) value = p.input?.[0] ?? "";
      else if (p.op_type === "Constant" && !p.domain) return constantTensor(p);
      else return undefined;
    }
    return undefined;
  }

  /** True when a Cast's input is a float constant (its dequantized value then is exactly the Cast's output). */
  private isFloatSource(value: string | undefined): boolean {
    return !!value && isFloatType(this.constantOf(value)?.data_type);
  }

  /** Float values of a constant value, or of a foldable chain over constants (undefined otherwise). */
  constantFloats(value: string): { data: Float32Array; dims: number[] } | undefined {
    const t = this.constantOf(value);
    if (!t) {
      const v = this.chainValue(value);
      return v ? { data: v.data, dims: [...v.dims] } : undefined;
    }
    if (!isFloatType(t.data_type)) return undefined;
    return { data: tensorFloat32(this.model, t), dims: tensorDims(t) };
  }

  /**
   * True for a chain constant that {@link chainValue} evaluates exactly, whose weights are read by nothing but such
   * chains into the weight or bias slot of an integer-kernel op. Folding it then stores each weight once, quantized;
   * otherwise (a tied embedding also read by a Gather) the weight keeps its DequantizeLinear before the chain.
   */
  foldable(value: string): boolean {
    return this.isChainConstant(value) && !!this.chainValue(value) && this.chainSources(value).every((src) => this.onlyFoldedUses(src));
  }

  private readonly usesMemo = new Map<string, boolean>();
  private readonly weightOnlyMemo = new Map<string, boolean>();

  /**
   * A chain constant whose every reader, through further chain steps, takes it as a weight (Conv/ConvTranspose/Gemm/
   * MatMul weight or bias, LSTM/GRU/RNN W/R, a Gather table). Such a value is never an activation. One that also
   * feeds elementwise ops or a Concat with activations (a ViT's expanded class token) stays an activation candidate.
   */
  isChainWeight(value: string): boolean {
    let ok = this.weightOnlyMemo.get(value);
    if (ok !== undefined) return ok;
    this.weightOnlyMemo.set(value, false);
    ok = this.isChainConstant(value) && !this.outputs.has(value) && !this.outerReads.has(value) && this.uses(value).length > 0 &&
      this.uses(value).every(({ node, index }) => {
        const op = node.domain ? "" : (node.op_type ?? "");
        const out = node.output ?? [];
        if (DATA_MOVEMENT_OPS.has(op) && out.some((o) => o && this.isChainConstant(o))) return out.every((o) => !o || this.isChainWeight(o) || !this.uses(o).length);
        if (op === "Conv" || op === "ConvTranspose" || op === "Gemm") return index === 1 || index === 2;
        if (op === "MatMul") return index === 1;
        if (op === "LSTM" || op === "GRU" || op === "RNN") return index === 1 || index === 2;
        return op === "Gather" && index === 0;
      });
    this.weightOnlyMemo.set(value, ok);
    return ok;
  }

  /** Every reader of `value`, through chains, is an anchor's weight or bias slot (and every chain value folds). */
  private onlyFoldedUses(value: string): boolean {
    let ok = this.usesMemo.get(value);
    if (ok !== undefined) return ok;
    this.usesMemo.set(value, false);
    ok = !this.outputs.has(value) && !this.outerReads.has(value) && this.uses(value).every(({ node, index }) => {
      const op = node.domain ? "" : (node.op_type ?? "");
      const out = node.output ?? [];
      if (DATA_MOVEMENT_OPS.has(op) && out.some((o) => o && this.isChainConstant(o)))
        return out.every((o) => !o || (this.isChainConstant(o) && !!this.chainValue(o) && this.onlyFoldedUses(o)));
      const x = node.input?.[0];
      const liveX = !!x && !this.constantOf(x) && !this.isChainConstant(x);
      if (op === "Conv" || op === "ConvTranspose") return index === 1 || index === 2;
      if (op === "Gemm") return (index === 1 || index === 2) && liveX;
      if (op === "MatMul") return index === 1 && liveX;
      return false;
    });
    this.usesMemo.set(value, ok);
    return ok;
  }

  /**
   * The value of a chain constant, evaluated (Slice, Split, Transpose, Reshape, Gather, Concat… of float32 constants),
   * or undefined: not a chain, a step not evaluable exactly (Expand, Tile, a Cast to another type), or a step that
   * would store more values than it reads (a Gather repeating rows).
   */
  chainValue(value: string): FloatValue | undefined {
    let v = this.foldMemo.get(value);
    if (v !== undefined) return v ?? undefined;
    this.foldMemo.set(value, null);
    v = this.isChainConstant(value) ? (this.evaluate(value) ?? null) : null;
    this.foldMemo.set(value, v);
    return v ?? undefined;
  }

  private evaluate(value: string): FloatValue | undefined {
    const p = this.producer.get(value)!;
    const ins = p.input ?? [];
    const vals: (FloatValue | undefined)[] = ins.map((i) => {
      if (!i) return undefined;
      const t = this.constantOf(i);
      if (t) return t.data_type === DataType.FLOAT ? { data: tensorFloat32(this.model, t), dims: tensorDims(t) } : undefined;
      return this.chainValue(i);
    });
    const ctx: ChainContext = {
      opset: opsetVersion(this.model.proto) ?? 1,
      ints: (name) => {
        const t = this.constantOf(name);
        return t && (t.data_type === DataType.INT64 || t.data_type === DataType.INT32) ? tensorInts(this.model, t) : undefined;
      },
      shape: (name) => {
        const i = ins.indexOf(name);
        const d = i >= 0 ? vals[i]?.dims : undefined;
        return d ? [...d] : this.constantOf(name) ? tensorDims(this.constantOf(name)!) : undefined;
      },
    };
    const out = evaluateStep(p, vals, 0, p.output!.indexOf(value), ctx);
    const read = vals.reduce((s, x) => s + (x?.data.length ?? 0), 0);
    return out && out.data.length <= read ? out : undefined;
  }

  /** Names of the stored constants a chain constant is computed from (the weights behind it). */
  chainSources(value: string): string[] {
    const out: string[] = [];
    const walk = (v: string, depth: number) => {
      const t = this.constantOf(v);
      if (t) {
        if (isFloatType(t.data_type)) out.push(t.name || v);
        return;
      }
      const p = this.producer.get(v);
      if (p && depth < 64) for (const i of p.input ?? []) if (i) walk(i, depth + 1);
    };
    walk(value, 0);
    return out;
  }

  /** Op types from the weight to a chain constant, e.g. "Slice → Transpose" (following the first float input). */
  chainOps(value: string): string {
    const ops: string[] = [];
    for (let v = value, depth = 0; depth < 64 && !this.constantOf(v); depth++) {
      const p = this.producer.get(v);
      if (!p) break;
      ops.unshift(p.op_type ?? "");
      v = (p.input ?? []).find((i) => i && (this.isFloatConstant(i) || this.isChainConstant(i))) ?? "";
    }
    return ops.join(" → ");
  }

  /** True when the value is a float constant (without decoding it). */
  isFloatConstant(value: string): boolean {
    return isFloatType(this.constantOf(value)?.data_type);
  }

  /**
   * True when the value is computed only by data-movement ops (Slice, Transpose, Reshape, …) from constants, at least
   * one of them float: a weight seen through a chain. Its DequantizeLinear belongs at the weight, before the chain,
   * never on the value itself as if it were an activation.
   */
  isChainConstant(value: string): boolean {
    let v = this.chainMemo.get(value);
    if (v === undefined) {
      this.chainMemo.set(value, false); // a cycle (corrupt model) is not a chain
      // A Cast to float of a float constant is that constant (constantOf sees through it), not a chain.
      if (this.constantOf(value)) return false;
      const p = this.producer.get(value);
      const ins = (p?.input ?? []).filter(Boolean);
      v = !!p && !p.domain && DATA_MOVEMENT_OPS.has(p.op_type ?? "") && p.op_type !== "Identity" && ins.length > 0 &&
        ins.every((i) => !!this.constantOf(i) || this.isChainConstant(i)) && ins.some((i) => this.isFloatConstant(i) || this.isChainConstant(i));
      this.chainMemo.set(value, v);
    }
    return v;
  }

  /** A scalar constant as a number (Clip bounds), or undefined. */
  constantScalar(value: string): number | undefined {
    const t = this.constantOf(value);
    if (!t || (t.dims?.length ?? 0) > 1 || (t.dims?.length === 1 && num(t.dims[0]) !== 1)) return undefined;
    if (isFloatType(t.data_type)) return tensorFloat32(this.model, t)[0];
    return tensorInts(this.model, t)[0];
  }

  /** A value or node name not used anywhere in the graph yet (and reserve it). */
  uniqueName(base: string): string {
    let name = base;
    for (let i = 1; this.names.has(name); i++) name = `${base}_${i}`;
    this.names.add(name);
    return name;
  }
}

function isFloatType(t: number | undefined): boolean {
  return t === DataType.FLOAT || t === DataType.FLOAT16 || t === DataType.BFLOAT16 || t === DataType.DOUBLE;
}

function intAttr(node: NodeProto, name: string): number | undefined {
  const a = node.attribute?.find((x) => x.name === name);
  return a?.i === undefined ? undefined : num(a.i);
}
