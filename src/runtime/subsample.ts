/**
 * Subsampling of large activations for histogram calibrators (`values` mode of observe.ts) — a deliberate trade-off.
 *
 * Copying every activation of a CNN into JS and binning it costs several inferences per sample (mobilenet_v2: 26 MB per
 * sample), while what calibrators read off a histogram (a 99.99th percentile, a KL- or MSE-optimal clip) is estimated
 * well from tens of thousands of values per sample. So a rank-4 (N, C, H, W) tensor with more than
 * {@link SUBSAMPLE_LIMIT} elements per sample exposes only the rows and columns `floor(s/2) + k·s` of every channel
 * (a Slice over axes 2 and 3 with steps [s, s]), `s = ceil(sqrt(C·H·W / SUBSAMPLE_LIMIT))`: about 16Ki values per
 * sample. The exact min and max still come from the in-graph reductions over the whole tensor, so the histogram spans
 * the data's real range; only where to clip inside it is estimated. Tensors up to the limit (all of digits_cnn's and
 * digits_transformer's) and tensors of other ranks are exposed whole, exactly as before.
 *
 * Determinism: positions depend only on the shape (the same for every sample, batch size and machine), and the set of
 * values does not depend on the memory layout: the same Slice over onnxruntime's blocked copy viewed as
 * (N·C/b, H, W, b) selects the same elements (fused.ts). Static shapes (inferred by onnxruntime, {@link probeShapes})
 * give a constant stride and a single Slice; when C, H or W is dynamic the stride is computed in the graph.
 */
import type { GraphIndex } from "../onnx/graph.ts";
import type { Model } from "../onnx/model.ts";
import type { GraphProto, NodeProto, TensorProto, ValueInfoProto } from "../onnx/types.ts";
import { AttributeType } from "../onnx/types.ts";
import { valueInfo } from "../onnx/builder.ts";
import { makeTensor, tensorDims } from "../onnx/tensor-data.ts";
import { DataType } from "../tensor/dtypes.ts";
import { RuntimeSession } from "./session.ts";

/** Elements per sample above which a rank-4 activation is subsampled: 16Ki (digits_cnn's largest tensor has exactly 16Ki). */
export const SUBSAMPLE_LIMIT = 16384;

/** A shape as onnxruntime infers it: numbers, or undefined for symbolic/unknown dims. */
export type Shape = readonly (number | undefined)[];

/** The stride for `perSample` elements: `max(1, ceil(sqrt(perSample / SUBSAMPLE_LIMIT)))` (float32 math, as in the graph). */
export function subsampleStride(perSample: number): number {
  return Math.max(1, Math.ceil(Math.fround(Math.sqrt(Math.fround(Math.fround(perSample) / SUBSAMPLE_LIMIT)))));
}

const intAttr = (name: string, i: number) => ({ name, type: AttributeType.INT, i });
const BIG = 9223372036854775807n;

/** Shared constant initializers of the subsample nodes (created on first use). */
export class SubsampleConstants {
  readonly tensors: TensorProto[] = [];
  private names = new Map<string, string>();
  constructor(private readonly index: GraphIndex) {}
  /** The name of an int64/float constant with these values (one initializer per distinct constant). */
  get(key: string, type: number, dims: number[], data: BigInt64Array | Float32Array): string {
    let n = this.names.get(key);
    if (!n) {
      n = this.index.uniqueName(`observe_subsample_${key}`);
      this.names.set(key, n);
      this.tensors.push(makeTensor(n, type, dims, data));
    }
    return n;
  }
  i64(...v: number[]): string {
    return this.get(`i64_${v.join("_")}`.replace(/-/g, "m"), DataType.INT64, v.length === 1 && v[0] === undefined ? [] : [v.length], BigInt64Array.from(v.map((x) => (x === Infinity ? BIG : BigInt(x)))));
  }
  f32(v: number): string {
    return this.get(`f32_${v}`, DataType.FLOAT, [], new Float32Array([v]));
  }
}

/**
 * Nodes exposing the subsample of rank-4 `src` (see the module comment); a static shape within the limit gets an
 * Identity instead (the whole tensor). `shape` is onnxruntime's inferred shape, if any.
 */
export function subsample(
  tensor: string,
  src: string,
  shape: Shape | undefined,
  index: GraphIndex,
  k: SubsampleConstants,
): { nodes: NodeProto[]; output: string; layoutFree: string[]; spatial?: readonly [number, number] } {
  const v = (s: string) => index.uniqueName(`${tensor}_observe_${s}`);
  const nodes: NodeProto[] = [];
  const node = (op_type: string, input: string[], name: string, attribute: NodeProto["attribute"] = []): string => {
    const out = v(name);
    nodes.push({ op_type, name: index.uniqueName(`${out}_node`), input, output: [out], attribute });
    return out;
  };
  const [, c, h, w] = shape ?? [];
  if (c !== undefined && h !== undefined && w !== undefined) {
    const s = subsampleStride(c * h * w);
    // Whole, but through an Identity that fused.ts may point at the blocked copy: the same values in another order
    // (histograms do not care), without the NCHWc → NCHW reorder.
    if (s === 1) {
      const output = node("Identity", [src], "values");
      return { nodes, output, layoutFree: [output] };
    }
    const output = node("Slice", [src, k.i64(s >> 1, s >> 1), k.i64(Infinity, Infinity), k.i64(2, 3), k.i64(s, s)], "subsample");
    return { nodes, output, layoutFree: [output], spatial: [h, w] };
  }
  const shp = node("Shape", [src], "shape");
  // Elements per sample: the product of every dim but the batch.
  const dims = node("Slice", [shp, k.i64(1), k.i64(Infinity)], "dims");
  const per = node("ReduceProd", [dims], "per", [intAttr("keepdims", 1)]);
  const perF = node("Cast", [per], "per_f", [intAttr("to", DataType.FLOAT)]);
  const ratio = node("Div", [perF, k.f32(SUBSAMPLE_LIMIT)], "ratio");
  const ceil = node("Ceil", [node("Sqrt", [ratio], "sqrt")], "ceil");
  const stride = node("Cast", [node("Max", [ceil, k.f32(1)], "stride_f")], "stride", [intAttr("to", DataType.INT64)]);
  const steps = node("Concat", [stride, stride], "steps", [intAttr("axis", 0)]);
  const starts = node("Div", [steps, k.i64(2)], "starts");
  const output = node("Slice", [src, starts, k.i64(Infinity, Infinity), k.i64(2, 3), steps], "subsample");
  return { nodes, output, layoutFree: [shp, output] };
}

/**
 * Shapes of main-graph values as onnxruntime infers them (a session over the graph with `names` as outputs and the
 * weights turned into declared inputs, so nothing runs and no weight bytes are copied). Empty on any failure: the
 * subsample then computes its stride in the graph.
 */
export async function probeShapes(model: Model, names: readonly string[]): Promise<Map<string, Shape>> {
  const out = new Map<string, Shape>();
  if (!names.length) return out;
  const g = model.proto.graph!;
  const declared = new Set((g.input ?? []).map((x) => x.name));
  const inputs: ValueInfoProto[] = [...(g.input ?? [])];
  for (const t of g.initializer ?? []) if (t.name && !declared.has(t.name)) inputs.push(valueInfo(t.name, t.data_type ?? 0, tensorDims(t)));
  const graph: GraphProto = { ...g, input: inputs, initializer: [], output: names.map((name) => ({ name })) };
  let session: RuntimeSession | undefined;
  try {
    session = await RuntimeSession.create({ ...model, proto: { ...model.proto, graph } }, { optimization: "disabled", intraOpThreads: 1 });
    for (const m of session.session.outputMetadata)
      if (m.isTensor && m.shape.length) out.set(m.name, m.shape.map((d) => (typeof d === "number" && d >= 0 ? d : undefined)));
  } catch {
    // no shapes: dynamic strides
  } finally {
    await session?.release();
  }
  return out;
}
