/**
 * Evaluate one data-movement step on constant float data, exactly (values are only moved, never computed). Static
 * quantization folds a weight's chain this way so the integer kernel reads the quantized weight directly: an LSTMCell's
 * per-gate Slice of packed weights becomes one int8 weight per gate, prepacked by ONNX Runtime.
 * Expand and Tile are not evaluated (they would store repeated values); Cast only to float32.
 */
import { DataType } from "../tensor/dtypes.ts";
import type { NodeProto } from "./types.ts";
import { num } from "./types.ts";
import { intAttr, product as prod, sliceParams, stepOutputShape, type ChainContext } from "./weight-chain.ts";

/** A float32 constant with its shape. */
export interface FloatValue {
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

function strides(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length);
  let a = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    s[i] = a;
    a *= dims[i]!;
  }
  return s;
}

/** out[i] = in[offset(i)] where offset is affine in the output multi-index: base + Σ idx[b] · stride[b]. */
function gatherAffine(src: Float32Array, outDims: readonly number[], base: number, stride: readonly number[]): Float32Array {
  const n = prod(outDims);
  const out = new Float32Array(n);
  if (!n) return out;
  const rank = outDims.length;
  const idx = new Array<number>(rank).fill(0);
  let off = base;
  for (let i = 0; i < n; i++) {
    out[i] = src[off]!;
    // Odometer: advance the last axis, carrying into earlier ones.
    for (let a = rank - 1; a >= 0; a--) {
      if (++idx[a]! < outDims[a]!) {
        off += stride[a]!;
        break;
      }
      off -= (outDims[a]! - 1) * stride[a]!;
      idx[a] = 0;
    }
  }
  return out;
}

/**
 * Output `output` of `node` fed with `inputs` (float constants by slot; the weight's value at `input`), or undefined
 * when the step cannot be evaluated exactly.
 */
export function evaluateStep(node: NodeProto, inputs: readonly (FloatValue | undefined)[], input: number, output: number, ctx: ChainContext): FloatValue | undefined {
  const x = inputs[input];
  if (!x || (node.domain && node.domain !== "ai.onnx")) return undefined;
  const op = node.op_type ?? "";
  const outDims = stepOutputShape(node, input, output, x.dims, ctx);
  if (!outDims || outDims.some((d) => d < 0) || x.data.length !== prod(x.dims)) return undefined;
  const rank = x.dims.length;
  const inStrides = strides(x.dims);
  switch (op) {
    case "Identity":
    case "Reshape":
    case "Flatten":
    case "Squeeze":
    case "Unsqueeze":
      return prod(outDims) === x.data.length ? { data: x.data, dims: outDims } : undefined;
    case "Cast":
      return intAttr(node, "to", 0) === DataType.FLOAT ? { data: x.data, dims: outDims } : undefined;
    case "Transpose": {
      const perm = node.attribute?.find((a) => a.name === "perm")?.ints?.map((v) => num(v)) ?? x.dims.map((_, i) => rank - 1 - i);
      return { data: gatherAffine(x.data, outDims, 0, perm.map((p) => inStrides[p]!)), dims: outDims };
    }
    case "Slice": {
      const p = sliceParams(node, x.dims, ctx);
      if (!p) return undefined;
      const base = p.start.reduce((s, st, a) => s + st * inStrides[a]!, 0);
      return { data: gatherAffine(x.data, outDims, base, p.step.map((st, a) => st * inStrides[a]!)), dims: outDims };
    }
    case "Split": {
      const axis = intAttr(node, "axis", 0) < 0 ? intAttr(node, "axis", 0) + rank : intAttr(node, "axis", 0);
      // Offset of this output along the axis: the sizes of the outputs before it.
      let start = 0;
      for (let o = 0; o < output; o++) start += stepOutputShape(node, input, o, x.dims, ctx)![axis]!;
      return { data: gatherAffine(x.data, outDims, start * inStrides[axis]!, inStrides), dims: outDims };
    }
    case "Gather": {
      const axis = intAttr(node, "axis", 0) < 0 ? intAttr(node, "axis", 0) + rank : intAttr(node, "axis", 0);
      const idx = ctx.ints(node.input![1]!);
      if (!idx) return undefined;
      const dim = x.dims[axis]!, outer = prod(x.dims, 0, axis), inner = prod(x.dims, axis + 1);
      const out = new Float32Array(outer * idx.length * inner);
      for (let o = 0; o < outer; o++)
        for (let k = 0; k < idx.length; k++) {
          const j = idx[k]! < 0 ? idx[k]! + dim : idx[k]!;
          if (j < 0 || j >= dim) return undefined;
          out.set(x.data.subarray((o * dim + j) * inner, (o * dim + j + 1) * inner), (o * idx.length + k) * inner);
        }
      return { data: out, dims: outDims };
    }
    case "Concat": {
      if (inputs.some((v, i) => (!v && node.input?.[i]) || (v && v.data.length !== prod(v.dims)))) return undefined;
      const axis = intAttr(node, "axis", 0) < 0 ? intAttr(node, "axis", 0) + rank : intAttr(node, "axis", 0);
      const outer = prod(outDims, 0, axis), inner = prod(outDims, axis + 1);
      const out = new Float32Array(prod(outDims));
      let at = 0;
      for (let o = 0; o < outer; o++)
        for (const v of inputs) {
          if (!v) continue;
          const chunk = v.dims[axis]! * inner;
          out.set(v.data.subarray(o * chunk, (o + 1) * chunk), at);
          at += chunk;
        }
      return { data: out, dims: outDims };
    }
    default:
      return undefined;
  }
}
