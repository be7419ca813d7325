/**
 * Reading and rewriting the float constants of Conv-centred graph rewrites (folding, equalization, bias correction):
 * a rewritten constant always becomes a new initializer with a fresh name, so a weight shared with another reader keeps
 * its value there; initializers nobody reads any more are dropped at the end.
 */
import { DataType } from "../tensor/dtypes.ts";
import { GraphIndex } from "../onnx/graph.ts";
import { makeTensor, tensorDims, tensorFloat32 } from "../onnx/tensor-data.ts";
import { num, type GraphProto, type NodeProto, type TensorProto } from "../onnx/types.ts";
import type { Model } from "../onnx/model.ts";

/** A float32 constant's tensor, dims and values (a copy: safe to modify). */
export interface FloatConst {
  readonly tensor: TensorProto;
  readonly dims: number[];
  readonly data: Float32Array;
}

/** The float32 constant behind `name` (initializer or Constant node; not an overridable graph input), or undefined. */
export function floatConst(model: Model, index: GraphIndex, name: string | undefined, graph?: GraphProto): FloatConst | undefined {
  if (!name) return undefined;
  const t = index.constantOf(name, graph);
  if (!t || t.data_type !== DataType.FLOAT) return undefined;
  return { tensor: t, dims: tensorDims(t), data: Float32Array.from(tensorFloat32(model, t)) };
}

/**
 * Values of a constant that broadcasts along axis 1 only, against a tensor of `rank` with `channels` channels: one
 * value per channel (a scalar repeated), or undefined when it varies along any other axis or cannot broadcast.
 */
export function perChannelValues(c: FloatConst, rank: number, channels: number): Float32Array | undefined {
  if (c.dims.length > rank) return undefined;
  const padded = [...Array(rank - c.dims.length).fill(1), ...c.dims] as number[];
  for (let a = 0; a < rank; a++) if (a !== 1 && padded[a] !== 1) return undefined;
  const n = padded[1]!;
  if (n === 1) return new Float32Array(channels).fill(c.data[0]!);
  if (n !== channels) return undefined;
  return Float32Array.from(c.data);
}

/** The integer attribute `name` of a node, or `fallback`. */
export function intAttr(node: NodeProto, name: string, fallback: number): number {
  const a = node.attribute?.find((x) => x.name === name);
  return a ? num(a.i) : fallback;
}

/** Writes new float constants into one graph and drops the ones left unread. */
export class ConstWriter {
  private replaced = new Set<string>();
  /** Initializers this writer wrote (owned by the node it wrote them for). */
  private fresh = new Set<string>();

  /** Whether `name` is an initializer of this graph read only by `node` (and not a graph output). */
  private ownedBy(name: string, node: NodeProto): boolean {
    const p = this.index.producer(name, this.graph);
    if (p?.kind !== "initializer" || this.index.isGraphOutput(name, this.graph)) return false;
    const readers = this.index.consumers(name, this.graph);
    return readers.length === 1 && readers[0]!.node === node;
  }
  constructor(
    private readonly graph: GraphProto,
    private readonly index: GraphIndex,
  ) {}

  /**
   * Give `node.input[slot]` the float32 values `data`: in place, under the same name, when the initializer is read by
   * this node alone (names stay what `--exclude` and reports know); else as a new initializer named from `prefix`.
   */
  set(node: NodeProto, slot: number, data: Float32Array, dims: readonly number[], prefix: string): string {
    const old = node.input?.[slot];
    if (old && (this.fresh.has(old) || this.ownedBy(old, node))) {
      const at = (this.graph.initializer ?? []).findIndex((t) => t.name === old);
      if (at >= 0) {
        this.graph.initializer![at] = makeTensor(old, DataType.FLOAT, dims, data);
        this.fresh.add(old);
        return old;
      }
    }
    if (old) this.replaced.add(old);
    const name = this.index.uniqueName(prefix);
    this.graph.initializer = [...(this.graph.initializer ?? []), makeTensor(name, DataType.FLOAT, dims, data)];
    this.fresh.add(name);
    const inputs = [...(node.input ?? [])];
    while (inputs.length <= slot) inputs.push("");
    inputs[slot] = name;
    node.input = inputs;
    return name;
  }

  /** Mark a constant whose reader was removed: dropped at {@link finish} if nothing else reads it. */
  release(name: string): void {
    this.replaced.add(name);
  }

  /** Remove replaced initializers (and Constant nodes) that nothing reads any more; returns how many. */
  finish(): number {
    const read = new Set<string>();
    const visit = (g: GraphProto) => {
      for (const n of g.node ?? []) {
        for (const i of n.input ?? []) if (i) read.add(i);
        for (const a of n.attribute ?? []) {
          if (a.g) visit(a.g);
          for (const sg of a.graphs ?? []) visit(sg);
        }
      }
      for (const o of g.output ?? []) read.add(o.name!);
    };
    visit(this.index.model.graph!);
    const gone = [...this.replaced].filter((n) => !read.has(n));
    const drop = new Set(gone);
    this.graph.initializer = (this.graph.initializer ?? []).filter((t) => !drop.has(t.name!));
    this.graph.node = (this.graph.node ?? []).filter((n) => !(n.op_type === "Constant" && (n.output ?? []).some((o) => drop.has(o))));
    this.graph.value_info = (this.graph.value_info ?? []).filter((v) => !drop.has(v.name!));
    this.replaced.clear();
    return gone.length;
  }
}
