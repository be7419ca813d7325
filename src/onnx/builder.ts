/**
 * A small builder for ONNX graphs in code: used by passes that create nodes and by tests that need fixtures.
 * @example
 * const b = new GraphBuilder("g");
 * const x = b.input("x", DataType.FLOAT, [1, 4]);
 * const w = b.initializer("w", DataType.FLOAT, [4, 2], new Float32Array(8));
 * b.output(b.node("MatMul", [x, w]), DataType.FLOAT, [1, 2]);
 * const model = b.model({ opset: 13 });
 */
import type { AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, TypeProto, ValueInfoProto } from "./types.ts";
import { AttributeType } from "./types.ts";
import { makeTensor } from "./tensor-data.ts";
import { DataType } from "../tensor/dtypes.ts";

/** Attribute values the builder understands. */
export type AttrValue = number | string | number[] | string[] | TensorProto | GraphProto | GraphProto[] | { float: number } | { floats: number[] };

/** Make an AttributeProto from a JS value (integers → INT/INTS, non-integers → FLOAT/FLOATS; wrap as {float} to force float). */
export function makeAttribute(name: string, v: AttrValue): AttributeProto {
  if (typeof v === "number") return Number.isInteger(v) ? { name, type: AttributeType.INT, i: v } : { name, type: AttributeType.FLOAT, f: v };
  if (typeof v === "string") return { name, type: AttributeType.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) {
    if (v.length && typeof v[0] === "string") return { name, type: AttributeType.STRINGS, strings: (v as string[]).map((s) => new TextEncoder().encode(s)) };
    if (v.length && typeof v[0] === "object") return { name, type: AttributeType.GRAPHS, graphs: v as GraphProto[] };
    const nums = v as number[];
    return nums.every(Number.isInteger) ? { name, type: AttributeType.INTS, ints: nums } : { name, type: AttributeType.FLOATS, floats: nums };
  }
  if ("float" in v) return { name, type: AttributeType.FLOAT, f: v.float };
  if ("floats" in v) return { name, type: AttributeType.FLOATS, floats: v.floats };
  if ("data_type" in v || "raw_data" in v || "dims" in v) return { name, type: AttributeType.TENSOR, t: v as TensorProto };
  return { name, type: AttributeType.GRAPH, g: v as GraphProto };
}

/** A tensor value type with a shape (strings are symbolic dims, null is unknown). */
export function tensorType(elemType: number, shape?: readonly (number | string | null)[]): TypeProto {
  return {
    tensor_type: {
      elem_type: elemType,
      ...(shape ? { shape: { dim: shape.map((d) => (typeof d === "number" ? { dim_value: d } : typeof d === "string" ? { dim_param: d } : {})) } } : {}),
    },
  };
}

/** A ValueInfoProto. */
export function valueInfo(name: string, elemType: number, shape?: readonly (number | string | null)[]): ValueInfoProto {
  return { name, type: tensorType(elemType, shape) };
}

/** Builds one graph. Names are kept unique with a counter. */
export class GraphBuilder {
  readonly graph: GraphProto;
  private n = 0;
  constructor(name = "graph") {
    this.graph = { name, node: [], initializer: [], input: [], output: [], value_info: [] };
  }
  /** A fresh value name. */
  fresh(prefix = "v"): string {
    return `${prefix}_${this.n++}`;
  }
  input(name: string, elemType: number = DataType.FLOAT, shape?: readonly (number | string | null)[]): string {
    this.graph.input!.push(valueInfo(name, elemType, shape));
    return name;
  }
  output(name: string, elemType: number = DataType.FLOAT, shape?: readonly (number | string | null)[]): string {
    this.graph.output!.push(valueInfo(name, elemType, shape));
    return name;
  }
  initializer(name: string, dataType: number, dims: readonly number[], data: ArrayBufferView): string {
    this.graph.initializer!.push(makeTensor(name, dataType, dims, data));
    return name;
  }
  /** Add a node; returns its first output name (outputs default to one fresh name, or pass names / a count). */
  node(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outputs: string[] | number = 1, extra: Partial<NodeProto> = {}): string {
    const outs = typeof outputs === "number" ? Array.from({ length: outputs }, () => this.fresh(opType.toLowerCase())) : outputs;
    this.graph.node!.push({
      op_type: opType,
      name: extra.name ?? this.fresh(`${opType}_node`),
      input: inputs,
      output: outs,
      attribute: Object.entries(attrs).map(([k, v]) => makeAttribute(k, v)),
      ...extra,
    });
    return outs[0]!;
  }
  /** Wrap the graph in a ModelProto. */
  model(opts: { opset?: number; irVersion?: number; extraOpsets?: { domain: string; version: number }[] } = {}): ModelProto {
    return {
      ir_version: opts.irVersion ?? (opts.opset && opts.opset >= 21 ? 10 : 8),
      producer_name: "quant-builder",
      opset_import: [{ domain: "", version: opts.opset ?? 13 }, ...(opts.extraOpsets ?? [])],
      graph: this.graph,
    };
  }
}
