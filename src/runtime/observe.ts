/**
 * Observation models: a copy of a model whose outputs are the activations to calibrate.
 * - Every observed tensor gets ReduceMin/ReduceMax (keepdims=0, no axes: all axes in every opset — before 18 axes
 *   is an attribute, from 18 an optional input, and leaving it out means "all" in both), so min/max are computed by
 *   onnxruntime's vectorized kernels and only scalars cross into JS. The scalars are packed, min and max interleaved,
 *   by one Concat per tensor rank (keepdims=1 makes every result of a rank-r tensor a [1,…,1] of rank r; values of
 *   unknown rank get a Reshape to [1]), so a run hands JS one or two small tensors. And since onnxruntime orders
 *   execution by walking back from the outputs, interleaving makes each ReduceMin/ReduceMax pair run right after its
 *   input is computed, while it is still in cache, rather than all at the end with every observed tensor kept alive.
 * - In `values` mode the tensor itself is also an output, for calibrators that build histograms — or, for rank-4
 *   tensors above `SUBSAMPLE_LIMIT` elements per sample, a deterministic strided spatial subsample of it
 *   (subsample.ts: a deliberate trade-off, since copying and binning every activation of a CNN costs several
 *   inferences per sample); the min/max reductions always read the whole tensor.
 * - float16/double/bfloat16 tensors go through Cast(to=FLOAT) first; other element types, values held inside
 *   If/Loop/Scan bodies, and names the model does not define are reported as not observable (they stay float).
 * - Nodes no observation needs (e.g. a classifier head after the last observed tensor) are left out.
 * The copy shares initializers with the original (no weight bytes are copied).
 */
import { QuantError } from "../errors/errors.ts";
import { nodeDependencies } from "../onnx/check.ts";
import { GraphIndex, opsetVersion } from "../onnx/graph.ts";
import type { Model } from "../onnx/model.ts";
import type { GraphProto, ModelProto, NodeProto, ValueInfoProto } from "../onnx/types.ts";
import { AttributeType } from "../onnx/types.ts";
import { valueInfo } from "../onnx/builder.ts";
import { makeTensor } from "../onnx/tensor-data.ts";
import { DataType, dataTypeName } from "../tensor/dtypes.ts";
import { NOT_EXCHANGEABLE, valueTypes, type ValueType } from "./value-types.ts";
import { probeShapes, subsample, SubsampleConstants, type Shape } from "./subsample.ts";
export { SUBSAMPLE_LIMIT } from "./subsample.ts";

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
  /**
   * Output holding the values as float32 (`values` mode only): the whole tensor, or for rank-4 tensors larger than
   * `SUBSAMPLE_LIMIT` elements per sample a strided spatial subsample of it (see subsample.ts).
   */
  readonly values?: string;
  /**
   * Outputs of the nodes reading the tensor whose result does not depend on its memory layout (the reductions, the
   * subsample's Shape and Slice): fused.ts may point them at onnxruntime's blocked (NCHWc) copy of the tensor.
   */
  readonly layoutFree?: readonly string[];
  /** H and W of a subsampled tensor when they are static (fused.ts then views its blocked copy without a Shape). */
  readonly spatial?: readonly [number, number];
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

/** Which of `tensors` are main-graph values, and why the others cannot be observed. */
function classify(index: GraphIndex, tensors: readonly string[]) {
  const main = index.main;
  const names: string[] = [];
  const unobservable: Unobservable[] = [];
  const seen = new Set<string>();
  for (const t of tensors) {
    if (!t || seen.has(t)) continue;
    seen.add(t);
    if (main.producers.has(t)) {
      names.push(t);
      continue;
    }
    const inner = index.scopes.find((s) => s !== main && s.producers.has(t));
    unobservable.push({
      tensor: t,
      reason: inner ? `computed inside the subgraph ${inner.site.path}, which onnxruntime cannot expose` : "not a tensor of the model's main graph",
    });
  }
  return { names, unobservable };
}

const intAttr = (name: string, i: number) => ({ name, type: AttributeType.INT, i });

/**
 * Build the observation model for `tensors`. Types the model does not declare are derived (value-types.ts).
 * @example const obs = await observationModel(model, ["relu_out"], "minmax");
 */
export async function observationModel(model: Model, tensors: readonly string[], mode: ObserveMode): Promise<ObservationModel> {
  if (!model.proto.graph) throw new QuantError("E_GRAPH", "model has no graph", { file: model.path });
  const index = new GraphIndex(model);
  const { names, unobservable } = classify(index, tensors);
  const known = await valueTypes(model, index, names);
  // Subsampling needs shapes (subsample.ts): onnxruntime infers them for the tensors that may be rank 4.
  const shapes =
    mode === "values" ? await probeShapes(model, names.filter((n) => FLOAT_TYPES.has(known.get(n)?.type ?? -1) && (known.get(n)?.rank ?? 4) === 4)) : new Map<string, Shape>();
  const types = new Map<string, ValueType>();
  for (const name of names) {
    const t = known.get(name);
    if (t && FLOAT_TYPES.has(t.type)) types.set(name, t);
    else
      unobservable.push({
        tensor: name,
        reason: !t || t.type === NOT_EXCHANGEABLE ? "its type is not one onnxruntime-node can exchange" : `it is ${dataTypeName(t.type)}, not a float tensor`,
      });
  }
  return { ...buildObservation(model, index, types, mode, shapes), unobservable };
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
  shapes: ReadonlyMap<string, Shape> = new Map(),
): Omit<ObservationModel, "unobservable"> {
  const g = model.proto.graph!;
  const main = index.main;
  const after = new Map<NodeProto | undefined, NodeProto[]>();
  const outputs: ValueInfoProto[] = [];
  const observed: ObservedTensor[] = [];
  const one = index.uniqueName("observe_shape_1");
  let reshaped = false;
  // Slice with a steps input (strided subsampling) exists from opset 10.
  const sliceSteps = (opsetVersion(model.proto) ?? 1) >= 10;
  const consts = new SubsampleConstants(index);
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
    let layoutFree: string[] = [];
    let spatial: readonly [number, number] | undefined;
    if (mode === "values") {
      values = src;
      const sub = (rank ?? shapes.get(tensor)?.length) === 4 && sliceSteps ? subsample(tensor, src, shapes.get(tensor), index, consts) : undefined;
      if (sub) {
        for (const n of sub.nodes) add(producer, n);
        values = sub.output;
        layoutFree = sub.layoutFree;
        if (sub.spatial) spatial = sub.spatial;
      } else if (src === tensor && p?.kind !== "node") {
        // A graph input or initializer cannot double as a graph output in every runtime: expose a copy.
        values = index.uniqueName(`${tensor}_observe_values`);
        add(producer, { op_type: "Identity", name: index.uniqueName(`${tensor}_observe_identity`), input: [tensor], output: [values] });
      }
      outputs.push(valueInfo(values, DataType.FLOAT));
    }
    observed.push({ tensor, output: group.output, index: at, min, max, ...(values ? { values } : {}), ...(layoutFree.length ? { layoutFree } : {}), ...(spatial ? { spatial } : {}) });
  }
  const nodes: NodeProto[] = [...(after.get(undefined) ?? [])];
  for (const n of g.node ?? []) {
    nodes.push(n);
    const extra = after.get(n);
    if (extra) nodes.push(...extra);
  }
  const initializer = [...(g.initializer ?? [])];
  if (reshaped) initializer.push(makeTensor(one, DataType.INT64, [1], new BigInt64Array([1n])));
  initializer.push(...consts.tensors);
  const packed: ValueInfoProto[] = [];
  for (const [rank, { output, inputs }] of [...groups].sort(([a], [b]) => a - b)) {
    nodes.push({ op_type: "Concat", name: index.uniqueName(`${output}_concat`), input: inputs, output: [output], attribute: [intAttr("axis", 0)] });
    packed.push(valueInfo(output, DataType.FLOAT, [inputs.length, ...new Array<number>(rank - 1).fill(1)]));
  }
  outputs.unshift(...packed);
  // The original outputs are dropped and so are the nodes only they needed (onnxruntime runs every node it is given),
  // and the initializers only those nodes read.
  const kept = live(nodes, outputs);
  const read = new Set<string>(outputs.map((o) => o.name!));
  const memo = new Map<GraphProto, Set<string>>();
  for (const n of kept) for (const d of nodeDependencies(n, memo)) read.add(d);
  // An initializer that is also a graph input is that input's default: dropping it would make the input required.
  for (const v of g.input ?? []) if (v.name) read.add(v.name);
  const used = initializer.filter((t) => read.has(t.name!));
  const proto: ModelProto = { ...model.proto, graph: { ...g, node: kept, initializer: used, output: outputs } };
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

