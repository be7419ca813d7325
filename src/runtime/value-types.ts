/**
 * Element types (and ranks, when they follow) of main-graph values, which models rarely declare for intermediate
 * tensors. First a local pass over the nodes with the ops whose output type is a plain function of their inputs or
 * attributes (Conv, Relu, Add, Shape, Cast, …: every op of the usual CNNs and transformers); then, only for what is
 * left, onnxruntime itself: a session without weights, optimizations off, the values as untyped outputs, and its
 * inferred output metadata.
 */
import { QuantError } from "../errors/errors.ts";
import type { GraphIndex } from "../onnx/graph.ts";
import type { Model } from "../onnx/model.ts";
import type { GraphProto, ModelProto, NodeProto, ValueInfoProto } from "../onnx/types.ts";
import { num } from "../onnx/types.ts";
import { valueInfo } from "../onnx/builder.ts";
import { tensorDims } from "../onnx/tensor-data.ts";
import { DataType } from "../tensor/dtypes.ts";
import { RuntimeSession, ortReason } from "./session.ts";

/** Element type and rank (when known) of a value. */
export interface ValueType {
  readonly type: number;
  readonly rank?: number;
}

/** Marks a value onnxruntime-node cannot describe (bfloat16, float8, sequences, maps). */
export const NOT_EXCHANGEABLE = -1;

/** Ops whose outputs have the type and rank of input 0. */
const SAME_AS_INPUT = new Set(
  ("Conv ConvTranspose Relu LeakyRelu PRelu Clip Sigmoid Tanh HardSigmoid HardSwish Elu Selu Celu Softplus Softsign Gelu Erf Exp Log " +
    "Sqrt Neg Abs Reciprocal Floor Ceil Round Sign Sin Cos MaxPool AveragePool GlobalAveragePool GlobalMaxPool LpPool " +
    "BatchNormalization InstanceNormalization LayerNormalization LpNormalization Softmax LogSoftmax Hardmax Identity Dropout Pad " +
    "Resize Upsample Slice Split Transpose DepthToSpace SpaceToDepth CumSum Tile Concat Trilu").split(" "),
);
/** Ops whose output 0 has the type of input 0 (rank not followed: broadcasting, reshaping, reducing). */
const TYPE_OF_INPUT = new Set(
  ("Add Sub Mul Div Pow Mod Min Max Sum Mean MatMul Gemm Einsum Reshape Flatten Squeeze Unsqueeze Expand Gather GatherElements " +
    "GatherND ScatterElements ScatterND ReduceMean ReduceMax ReduceMin ReduceSum ReduceProd ReduceL1 ReduceL2 ReduceLogSum " +
    "ReduceLogSumExp ReduceSumSquare TopK").split(" "),
);
const BOOL_OPS = new Set("Equal Less Greater LessOrEqual GreaterOrEqual And Or Not Xor IsNaN IsInf".split(" "));
const INT64_OPS = new Set("Shape Size ArgMax ArgMin NonZero".split(" "));

/** Output types of one node from its input types, or undefined when the rule is not known here. */
function nodeTypes(n: NodeProto, typeOf: (name: string) => ValueType | undefined): (ValueType | undefined)[] | undefined {
  if (n.domain && n.domain !== "ai.onnx") return undefined;
  const op = n.op_type ?? "";
  const outs = n.output ?? [];
  const in0 = n.input?.[0] ? typeOf(n.input[0]) : undefined;
  const attr = (name: string) => n.attribute?.find((a) => a.name === name);
  if (SAME_AS_INPUT.has(op)) return in0 ? outs.map((_, i) => (i === 0 || op === "Split" ? in0 : undefined)) : undefined;
  if (TYPE_OF_INPUT.has(op)) return in0 ? [{ type: in0.type, ...(op === "Flatten" || op === "Gemm" ? { rank: 2 } : {}) }] : undefined;
  if (BOOL_OPS.has(op)) return [{ type: DataType.BOOL }];
  if (INT64_OPS.has(op)) return [{ type: DataType.INT64, ...(op === "Shape" ? { rank: 1 } : op === "Size" ? { rank: 0 } : {}) }];
  if (op === "Where") {
    const x = n.input?.[1] ? typeOf(n.input[1]) : undefined;
    return x ? [{ type: x.type }] : undefined;
  }
  if (op === "Cast") return attr("to")?.i !== undefined ? [{ type: num(attr("to")!.i), ...(in0?.rank !== undefined ? { rank: in0.rank } : {}) }] : undefined;
  if (op === "CastLike") {
    const like = n.input?.[1] ? typeOf(n.input[1]) : undefined;
    return like ? [{ type: like.type, ...(in0?.rank !== undefined ? { rank: in0.rank } : {}) }] : undefined;
  }
  if (op === "ConstantOfShape") return [{ type: attr("value")?.t?.data_type ?? DataType.FLOAT }];
  return undefined;
}

/**
 * Types of `names` (main-graph values) that follow locally from the declared ones: one pass over the nodes in order.
 * Values whose type cannot be derived here are absent from the result.
 */
export function localTypes(index: GraphIndex, names: readonly string[]): Map<string, ValueType> {
  const known = new Map<string, ValueType>();
  const typeOf = (name: string): ValueType | undefined => {
    const k = known.get(name);
    if (k) return k;
    const type = index.elemTypeOf(name);
    return type ? { type, rank: index.shapeOf(name)?.length } : undefined;
  };
  for (const n of index.main.graph.node ?? []) {
    const outs = n.output ?? [];
    if (outs.every((o) => !o || index.elemTypeOf(o))) continue; // declared (or Constant): typeOf finds them
    const types = nodeTypes(n, typeOf);
    types?.forEach((t, i) => {
      if (t && outs[i]) known.set(outs[i], t);
    });
  }
  const out = new Map<string, ValueType>();
  for (const name of names) {
    const t = typeOf(name);
    if (t) out.set(name, t);
  }
  return out;
}

const ORT_TO_ONNX: Record<string, number> = {
  float32: DataType.FLOAT, float16: DataType.FLOAT16, float64: DataType.DOUBLE, int8: DataType.INT8, uint8: DataType.UINT8,
  int16: DataType.INT16, uint16: DataType.UINT16, int32: DataType.INT32, uint32: DataType.UINT32, int64: DataType.INT64,
  uint64: DataType.UINT64, bool: DataType.BOOL, string: DataType.STRING, int4: DataType.INT4, uint4: DataType.UINT4,
};

/** A copy of the main graph whose outputs are `names`, untyped; initializers become typed inputs unless `withWeights`. */
function probeProto(proto: ModelProto, names: readonly string[], withWeights: boolean): ModelProto {
  const g = proto.graph!;
  const graph: GraphProto = { ...g, output: names.map((name) => ({ name })) };
  if (!withWeights) {
    const declared = new Set((g.input ?? []).map((v) => v.name));
    const inputs: ValueInfoProto[] = [...(g.input ?? [])];
    for (const t of g.initializer ?? []) if (t.name && !declared.has(t.name)) inputs.push(valueInfo(t.name, t.data_type ?? 0, tensorDims(t)));
    graph.input = inputs;
    graph.initializer = [];
  }
  return { ...proto, graph };
}

/** Ask onnxruntime for the types and ranks of `names`. Values it cannot describe are bisected out and marked. */
async function probe(model: Model, names: readonly string[], withWeights: boolean): Promise<Map<string, ValueType>> {
  const out = new Map<string, ValueType>();
  if (!names.length) return out;
  let session: RuntimeSession | undefined;
  try {
    session = await RuntimeSession.create({ ...model, proto: probeProto(model.proto, names, withWeights) }, { optimization: "disabled", intraOpThreads: 1 });
  } catch (e) {
    // The JS side of onnxruntime-node throws on output types it has no name for (bfloat16, float8).
    if (/Unsupported data type/i.test(ortReason((e as Error).cause ?? e))) {
      if (names.length === 1) return out.set(names[0]!, { type: NOT_EXCHANGEABLE });
      const half = names.length >> 1;
      for (const part of [names.slice(0, half), names.slice(half)]) for (const [k, v] of await probe(model, part, withWeights)) out.set(k, v);
      return out;
    }
    throw e;
  }
  try {
    // An empty shape means "unknown" as well as "scalar": leave the rank unknown then.
    for (const m of session.session.outputMetadata)
      out.set(m.name, m.isTensor ? { type: ORT_TO_ONNX[m.type] ?? NOT_EXCHANGEABLE, ...(m.shape.length ? { rank: m.shape.length } : {}) } : { type: NOT_EXCHANGEABLE });
  } finally {
    await session.release();
  }
  return out;
}

/**
 * Types and ranks of main-graph values as onnxruntime infers them (a session without weights; with them if that one
 * does not load).
 */
export async function ortTypes(model: Model, names: readonly string[]): Promise<Map<string, ValueType>> {
  try {
    return await probe(model, names, false);
  } catch {
    try {
      return await probe(model, names, true);
    } catch (e) {
      throw new QuantError("E_RUNTIME", `cannot infer the types of the tensors to observe: ${ortReason(e)}`, { file: model.path, cause: e });
    }
  }
}

/** Types of `names`: declared or derived locally, the rest from onnxruntime. */
export async function valueTypes(model: Model, index: GraphIndex, names: readonly string[]): Promise<Map<string, ValueType>> {
  const out = localTypes(index, names);
  const rest = names.filter((n) => !out.has(n));
  for (const [k, v] of await ortTypes(model, rest)) out.set(k, v);
  return out;
}
