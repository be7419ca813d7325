/**
 * Observation models: a copy of a model whose outputs are the activations to calibrate.
 * - Every observed tensor gets ReduceMin/ReduceMax (keepdims=0, no axes: all axes in every opset — before 18 axes
 *   is an attribute, from 18 an optional input, and leaving it out means "all" in both), so min/max are computed by
 *   onnxruntime's vectorized kernels and only scalars cross into JS. The scalars are packed, min and max interleaved,
 *   by one Concat per tensor rank (keepdims=1 makes every result of a rank-r tensor a [1,…,1] of rank r; values of
 *   unknown rank get a Reshape to [1]), so a run hands JS one or two small tensors. And since onnxruntime orders
 *   execution by walking back from the outputs, interleaving makes each ReduceMin/ReduceMax pair run right after its
 *   input is computed, while it is still in cache, rather than all at the end with every observed tensor kept alive.
 * - In `values` mode the tensor itself is also an output, for calibrators that build histograms.
 * - float16/double/bfloat16 tensors go through Cast(to=FLOAT) first; other element types, values held inside
 *   If/Loop/Scan bodies, and names the model does not define are reported as not observable (they stay float).
 * - Nodes no observation needs (e.g. a classifier head after the last observed tensor) are left out.
 * The copy shares initializers with the original (no weight bytes are copied).
 */
import { QuantError } from "../kernel/errors.ts";
import { nodeDependencies } from "../onnx/check.ts";
import { GraphIndex } from "../onnx/graph.ts";
import type { Model } from "../onnx/model.ts";
import type { GraphProto, ModelProto, NodeProto, ValueInfoProto } from "../onnx/types.ts";
import { AttributeType } from "../onnx/types.ts";
import { valueInfo } from "../onnx/builder.ts";
import { makeTensor, tensorDims } from "../onnx/tensor-data.ts";
import { DataType, dataTypeName } from "../tensor/dtypes.ts";
import { RuntimeSession, ortReason } from "./session.ts";

/** `minmax`: only per-batch min/max leave the graph; `values`: the tensors too. */
export type ObserveMode = "minmax" | "values";

/** Where one observed tensor's observations are in the observation model. */
export interface ObservedTensor {
  /** Tensor name in the original model. */
  readonly tensor: string;
  /** The packed output holding its batch min (at `index`) and max (at `index + 1`). */
  readonly output: string;
  readonly index: number;
  /** Names of its ReduceMin / ReduceMax outputs (scalars inside the graph). */
  readonly min: string;
  readonly max: string;
  /** Output holding the values as float32 (`values` mode only). */
  readonly values?: string;
}

/** A tensor that cannot be observed, and why (it stays float). */
export interface Unobservable {
  readonly tensor: string;
  readonly reason: string;
}

/** An observation model and what it observes. */
export interface ObservationModel {
  readonly model: Model;
  readonly mode: ObserveMode;
  readonly observed: readonly ObservedTensor[];
  /** The packed min/max outputs (float32, one per tensor rank). */
  readonly packed: readonly string[];
  readonly unobservable: readonly Unobservable[];
}

const FLOAT_TYPES: ReadonlySet<number> = new Set([DataType.FLOAT, DataType.FLOAT16, DataType.DOUBLE, DataType.BFLOAT16]);

/** Element type and rank (when known) of a value. */
export interface ValueType {
  readonly type: number;
  readonly rank?: number;
}

/** What `tensors` are in `model`: main-graph values with their element type (when declared), or why not observable. */
function classify(index: GraphIndex, tensors: readonly string[]) {
  const main = index.main;
  const known = new Map<string, ValueType | undefined>();
  const unobservable: Unobservable[] = [];
  const seen = new Set<string>();
  for (const t of tensors) {
    if (!t || seen.has(t)) continue;
    seen.add(t);
    if (main.producers.has(t)) {
      const type = index.elemTypeOf(t);
      known.set(t, type ? { type, rank: index.shapeOf(t)?.length } : undefined);
      continue;
    }
    const inner = index.scopes.find((s) => s !== main && s.producers.has(t));
    unobservable.push({
      tensor: t,
      reason: inner ? `computed inside the subgraph ${inner.site.path}, which onnxruntime cannot expose` : "not a tensor of the model's main graph",
    });
  }
  return { known, unobservable };
}

const ORT_TO_ONNX: Record<string, number> = {
  float32: DataType.FLOAT, float16: DataType.FLOAT16, float64: DataType.DOUBLE, int8: DataType.INT8, uint8: DataType.UINT8,
  int16: DataType.INT16, uint16: DataType.UINT16, int32: DataType.INT32, uint32: DataType.UINT32, int64: DataType.INT64,
  uint64: DataType.UINT64, bool: DataType.BOOL, string: DataType.STRING, int4: DataType.INT4, uint4: DataType.UINT4,
};
/** Marks a value onnxruntime-node cannot describe (bfloat16, float8, sequences, maps). */
const NOT_EXCHANGEABLE = -1;

/**
 * A light copy of the main graph for type probing: the requested values are untyped outputs (onnxruntime infers their
 * types), and initializers become typed inputs so no weight bytes are loaded.
 */
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

/** Ask onnxruntime for the element types (and ranks) of `names`. Values it cannot describe are bisected out and marked. */
async function probeTypes(model: Model, names: readonly string[], withWeights: boolean): Promise<Map<string, ValueType>> {
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
      for (const part of [names.slice(0, half), names.slice(half)]) for (const [k, v] of await probeTypes(model, part, withWeights)) out.set(k, v);
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
 * Element types and ranks of main-graph values whose type the model does not declare, inferred by onnxruntime itself
 * (a session without weights, optimizations off). Falls back to a probe with the weights when the light one does not load.
 */
export async function inferTypes(model: Model, names: readonly string[]): Promise<Map<string, ValueType>> {
  try {
    return await probeTypes(model, names, false);
  } catch {
    try {
      return await probeTypes(model, names, true);
    } catch (e) {
      throw new QuantError("E_RUNTIME", `cannot infer the types of the tensors to observe: ${ortReason(e)}`, { file: model.path, cause: e });
    }
  }
}

const intAttr = (name: string, i: number) => ({ name, type: AttributeType.INT, i });

/**
 * Build the observation model for `tensors`. Types the model does not declare are inferred by onnxruntime.
 * @example const obs = await observationModel(model, ["relu_out"], "minmax");
 */
export async function observationModel(model: Model, tensors: readonly string[], mode: ObserveMode): Promise<ObservationModel> {
  if (!model.proto.graph) throw new QuantError("E_GRAPH", "model has no graph", { file: model.path });
  const index = new GraphIndex(model);
  const { known, unobservable } = classify(index, tensors);
  const unknown = [...known].filter(([, t]) => !t).map(([n]) => n);
  for (const [n, t] of await inferTypes(model, unknown)) known.set(n, t);
  const types = new Map<string, ValueType>();
  for (const [name, t] of known) {
    if (t && FLOAT_TYPES.has(t.type)) types.set(name, t);
    else
      unobservable.push({
        tensor: name,
        reason: !t || t.type === NOT_EXCHANGEABLE ? "its type is not one onnxruntime-node can exchange" : `it is ${dataTypeName(t.type)}, not a float tensor`,
      });
  }
  return { ...buildObservation(model, index, types, mode), unobservable };
}

/**
 * Build the observation graph for float tensors of known type (`types`: name → FLOAT/FLOAT16/DOUBLE/BFLOAT16 and rank
 * when known). Pure graph surgery, no onnxruntime; see {@link observationModel}.
 */
export function buildObservation(
  model: Model,
  index: GraphIndex,
  types: ReadonlyMap<string, ValueType | number>,
  mode: ObserveMode,
): Omit<ObservationModel, "unobservable"> {
  const g = model.proto.graph!;
  const main = index.main;
  const after = new Map<NodeProto | undefined, NodeProto[]>();
  const outputs: ValueInfoProto[] = [];
  const observed: ObservedTensor[] = [];
  const one = index.uniqueName("observe_shape_1");
  let reshaped = false;
  /** Concat inputs by rank: [min, max] of each tensor in turn. */
  const groups = new Map<number, { output: string; inputs: string[] }>();
  const add = (producer: NodeProto | undefined, n: NodeProto) => {
    const list = after.get(producer);
    if (list) list.push(n);
    else after.set(producer, [n]);
  };
  for (const [tensor, info] of types) {
    const { type, rank } = typeof info === "number" ? { type: info, rank: undefined } : info;
    const p = main.producers.get(tensor);
    const producer = p?.kind === "node" ? p.node : undefined;
    let src = tensor;
    if (type !== DataType.FLOAT) {
      src = index.uniqueName(`${tensor}_observe_f32`);
      add(producer, { op_type: "Cast", name: index.uniqueName(`${tensor}_observe_cast`), input: [tensor], output: [src], attribute: [intAttr("to", DataType.FLOAT)] });
    }
    const min = index.uniqueName(`${tensor}_observe_min`);
    const max = index.uniqueName(`${tensor}_observe_max`);
    // Known rank ≥ 1: keepdims=1 gives a [1,…,1] that concatenates with its rank's group as is.
    const keep = rank !== undefined && rank >= 1 ? 1 : 0;
    add(producer, { op_type: "ReduceMin", name: index.uniqueName(`${tensor}_observe_reducemin`), input: [src], output: [min], attribute: [intAttr("keepdims", keep)] });
    add(producer, { op_type: "ReduceMax", name: index.uniqueName(`${tensor}_observe_reducemax`), input: [src], output: [max], attribute: [intAttr("keepdims", keep)] });
    const r = keep ? rank! : 1;
    let group = groups.get(r);
    if (!group) groups.set(r, (group = { output: index.uniqueName(`observe_minmax_rank${r}`), inputs: [] }));
    const at = group.inputs.length;
    for (const v of [min, max]) {
      if (keep) group.inputs.push(v);
      else {
        const flat = index.uniqueName(`${v}_1`);
        add(producer, { op_type: "Reshape", name: index.uniqueName(`${v}_reshape`), input: [v, one], output: [flat] });
        group.inputs.push(flat);
        reshaped = true;
      }
    }
    let values: string | undefined;
    if (mode === "values") {
      values = src;
      // A graph input or initializer cannot double as a graph output in every runtime: expose a copy.
      if (src === tensor && p?.kind !== "node") {
        values = index.uniqueName(`${tensor}_observe_values`);
        add(producer, { op_type: "Identity", name: index.uniqueName(`${tensor}_observe_identity`), input: [tensor], output: [values] });
      }
      outputs.push(valueInfo(values, DataType.FLOAT));
    }
    observed.push({ tensor, output: group.output, index: at, min, max, ...(values ? { values } : {}) });
  }
  const nodes: NodeProto[] = [...(after.get(undefined) ?? [])];
  for (const n of g.node ?? []) {
    nodes.push(n);
    const extra = after.get(n);
    if (extra) nodes.push(...extra);
  }
  const initializer = [...(g.initializer ?? [])];
  if (reshaped) initializer.push(makeTensor(one, DataType.INT64, [1], new BigInt64Array([1n])));
  const packed: ValueInfoProto[] = [];
  for (const [rank, { output, inputs }] of [...groups].sort(([a], [b]) => a - b)) {
    nodes.push({ op_type: "Concat", name: index.uniqueName(`${output}_concat`), input: inputs, output: [output], attribute: [intAttr("axis", 0)] });
    packed.push(valueInfo(output, DataType.FLOAT, [inputs.length, ...new Array<number>(rank - 1).fill(1)]));
  }
  outputs.unshift(...packed);
  // The original outputs are dropped and so are the nodes only they needed: onnxruntime runs every node it is given.
  const proto: ModelProto = { ...model.proto, graph: { ...g, node: live(nodes, outputs), initializer, output: outputs } };
  return { model: { ...model, proto }, mode, observed, packed: packed.map((v) => v.name!) };
}

/** The nodes some output depends on (directly, or through the outer-scope reads of their subgraphs), in order. */
function live(nodes: readonly NodeProto[], outputs: readonly ValueInfoProto[]): NodeProto[] {
  const needed = new Set(outputs.map((o) => o.name!));
  const memo = new Map<GraphProto, Set<string>>();
  const keep: boolean[] = new Array(nodes.length).fill(false);
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i]!;
    if (!(n.output ?? []).some((o) => o && needed.has(o))) continue;
    keep[i] = true;
    for (const d of nodeDependencies(n, memo)) needed.add(d);
  }
  return nodes.filter((_, i) => keep[i]);
}
