/**
 * Graph rewrite for a quantized weight W: an integer initializer, a scale, a zero point and a DequantizeLinear whose
 * output keeps the name W, so every consumer stays untouched. Works in W's own scope (main graph, subgraph, or where
 * its Constant node was).
 */
import { DataType, floatToHalf, floatToBf16 } from "../tensor/dtypes.ts";
import type { QuantizedWeights } from "../tensor/quantize.ts";
import { makeTensor } from "../onnx/tensor-data.ts";
import { makeAttribute } from "../onnx/builder.ts";
import type { GraphProto, NodeProto, TensorProto } from "../onnx/types.ts";
import type { PendingTensor } from "../kernel/types.ts";

/** Where W is and how to name new values. */
export interface WeightSite {
  name: string;
  graph: GraphProto;
  /** The Constant node holding W, if W is not an initializer. */
  constantNode?: NodeProto;
  /** Float type of W (FLOAT, FLOAT16 or BFLOAT16): the DequantizeLinear output and scale type. */
  dataType: number;
  dims: readonly number[];
}

/** A scale tensor in the weight's float type. */
export function scaleTensor(name: string, dataType: number, dims: readonly number[], scale: Float32Array): TensorProto {
  if (dataType === DataType.FLOAT16 || dataType === DataType.BFLOAT16) {
    const conv = dataType === DataType.FLOAT16 ? floatToHalf : floatToBf16;
    const half = new Uint16Array(scale.length);
    for (let i = 0; i < scale.length; i++) half[i] = conv(scale[i]!);
    return makeTensor(name, dataType, dims, half);
  }
  return makeTensor(name, DataType.FLOAT, dims, scale);
}

/**
 * Replace W by DequantizeLinear(q, scale, zero_point). Returns the pending integer tensors (values and zero point)
 * for the packers. `unique` makes collision-free names.
 */
export function replaceWithDequantize(site: WeightSite, q: QuantizedWeights, unique: (prefix: string) => string): PendingTensor[] {
  const g = site.graph;
  const qName = unique(`${site.name}_quantized`);
  const sName = unique(`${site.name}_scale`);
  const zName = unique(`${site.name}_zero_point`);
  const qTensor: TensorProto = { name: qName, dims: [...site.dims] };
  const zTensor: TensorProto = { name: zName, dims: [...q.paramDims] };
  const attrs = [];
  if (q.axis !== undefined) attrs.push(makeAttribute("axis", q.axis));
  if (q.blockSize !== undefined) attrs.push(makeAttribute("block_size", q.blockSize));
  const dq: NodeProto = { op_type: "DequantizeLinear", name: unique(`${site.name}_DequantizeLinear`), input: [qName, sName, zName], output: [site.name], attribute: attrs };

  g.initializer ??= [];
  if (site.constantNode) {
    // The Constant node becomes the DequantizeLinear, in place, so topological order holds.
    const nodes = g.node!;
    nodes[nodes.indexOf(site.constantNode)] = dq;
  } else {
    const idx = g.initializer.findIndex((t) => t.name === site.name);
    if (idx >= 0) g.initializer.splice(idx, 1);
    // A graph input of that name is the initializer's IR < 4 declaration (from IR 4 on such a weight is an
    // overridable default and is not quantized): it goes too, or the value would be both fed and produced.
    if (g.input?.some((v) => v.name === site.name)) g.input = g.input.filter((v) => v.name !== site.name);
    (g.node ??= []).unshift(dq);
  }
  g.initializer.push(qTensor, scaleTensor(sName, site.dataType, q.paramDims, q.scale), zTensor);
  const zp = zeroPointArray(q);
  return [
    { tensor: qTensor, values: q.values, type: q.type, role: "weight" },
    { tensor: zTensor, values: zp, type: q.type, role: "zero_point" },
  ];
}

/** Zero points in the typed array of the weight's type. */
function zeroPointArray(q: QuantizedWeights): PendingTensor["values"] {
  const n = q.zeroPoint.length;
  switch (q.type) {
    case "int8":
    case "int4":
      return Int8Array.from(q.zeroPoint);
    case "uint8":
    case "uint4":
      return Uint8Array.from(q.zeroPoint);
    case "int16":
      return Int16Array.from(q.zeroPoint);
    case "uint16":
      return Uint16Array.from(q.zeroPoint);
    default:
      return new Int32Array(n);
  }
}

