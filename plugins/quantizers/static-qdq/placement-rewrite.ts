/**
 * Apply a placement to its graph: a QuantizeLinear → DequantizeLinear pair after every planned activation (all its
 * consumers read the DQ output, graph outputs keep the float value), int8 weights behind a DequantizeLinear with
 * per-channel axis, and int32 biases whose scale is exactly `fp32(s_x · s_w[c])` with zero point 0 — the bias layout
 * ONNX Runtime's QLinearConv / QGemm take without requantizing.
 *
 * Integer tensors are returned as PendingTensor (name and dims set, storage left to a packer); float scales are stored
 * directly. Nodes keep a topological order: weight DQs first, each activation's Q/DQ right after its producer.
 */
import {
  DATA_MOVEMENT_OPS, DataType, QuantError, bitsPerElement, dequantizeWeights, granularityLabel, makeAttribute, makeTensor, quantizeWeights, roundHalfEven, sqnrDb,
  dropped, lazyPending,
  type IntType, type NodeProto, type PendingTensor, type QuantType, type QuantizedWeights, type ReportEntry, type TensorProto,
} from "../../../src/index.ts";
import type { AnchorNode, Placement } from "./placement.ts";
import type { ActivationParams } from "./placement-params.ts";

/** Smallest normal float32: a smaller bias scale is a subnormal or zero. */
const FLT_MIN = 2 ** -126;

/** Weight and activation formats of the rewrite. */
export interface RewriteOptions {
  readonly activationType: "uint8" | "int8";
  readonly weightType: "int8" | "uint8";
  readonly symmetricWeights: boolean;
  readonly perChannel: boolean;
  /** Where a quantized weight is kept (a streaming run: on disk, read back lazily; see streamPlan). Default: in memory. */
  readonly keep?: (q: QuantizedWeights) => QuantizedWeights;
}

/** What {@link applyPlacement} returns. */
export interface RewriteResult {
  pending: PendingTensor[];
  entries: ReportEntry[];
  /** 13 when a per-channel (axis) DequantizeLinear was written, else 10. */
  minOpset: number;
  /** What the summary should say about the run as a whole. */
  notes?: string[];
}

const INT32_MAX = 2147483647;

/** Rewrite the placement's graph in place. `params` maps each scale group to its parameters; groups without are skipped. */
export function applyPlacement(p: Placement, params: ReadonlyMap<string, ActivationParams>, opts: RewriteOptions): RewriteResult {
  const { index } = p;
  const graph = index.graph;
  const pending: PendingTensor[] = [];
  const entries: ReportEntry[] = [];
  const inits: TensorProto[] = [];
  const front: NodeProto[] = [];
  const after = new Map<string, NodeProto[]>(); // value → Q/DQ nodes to emit right after its producer
  const dqOf = new Map<string, string>();
  let minOpset = 10;
  const readBefore = readValues(p);
  const intTensor = (name: string, dims: number[], values: PendingTensor["values"], type: IntType, role: PendingTensor["role"]) => {
    const tensor: TensorProto = { name, dims };
    inits.push(tensor);
    pending.push({ tensor, values, type, role });
  };
  const floatTensor = (name: string, dims: number[], data: Float32Array) => inits.push(makeTensor(name, DataType.FLOAT, dims, data));
  const node = (op: string, inputs: string[], output: string, attrs: NodeProto["attribute"] = []): NodeProto =>
    ({ op_type: op, name: index.uniqueName(`${output}_${op}`), input: inputs, output: [output], attribute: attrs });

  /** The Q of an activation; per-axis with equal scales for a guarded tensor (same values, but ORT does not move it). */
  const quantizeNode = (t: string, ap: ActivationParams, names: { scale: string; zp: string }, q: string): NodeProto => {
    const channels = p.guards.get(t);
    if (channels === undefined) return node("QuantizeLinear", [t, names.scale, names.zp], q);
    const scale = index.uniqueName(`${t}_axis_scale`), zp = index.uniqueName(`${t}_axis_zero_point`);
    floatTensor(scale, [channels], new Float32Array(channels).fill(ap.scale));
    const zps = opts.activationType === "uint8" ? new Uint8Array(channels) : new Int8Array(channels);
    intTensor(zp, [channels], zps.fill(ap.zeroPoint), opts.activationType, "zero_point");
    minOpset = Math.max(minOpset, 13); // QuantizeLinear's axis
    return node("QuantizeLinear", [t, scale, zp], q, [makeAttribute("axis", 1)]);
  };

  // Activations: one scale/zero-point pair per group, one Q/DQ pair per tensor.
  const groupNames = new Map<string, { scale: string; zp: string }>();
  for (const t of p.tensors) {
    const g = p.group.get(t)!;
    const ap = params.get(g);
    if (!ap) continue;
    let names = groupNames.get(g);
    if (!names) {
      names = { scale: index.uniqueName(`${g}_scale`), zp: index.uniqueName(`${g}_zero_point`) };
      groupNames.set(g, names);
      floatTensor(names.scale, [], Float32Array.of(ap.scale));
      const zp = opts.activationType === "uint8" ? Uint8Array.of(ap.zeroPoint) : Int8Array.of(ap.zeroPoint);
      intTensor(names.zp, [], zp, opts.activationType, "zero_point");
    }
    const q = index.uniqueName(`${t}_quantized`);
    const dq = index.uniqueName(`${t}_dequantized`);
    const pair = [quantizeNode(t, ap, names, q), node("DequantizeLinear", [q, names.scale, names.zp], dq)];
    if (index.producer.has(t)) after.set(t, pair);
    else front.push(...pair);
    dqOf.set(t, dq);
    const producer = index.producer.get(t);
    entries.push({
      tensor: t, action: "quantized", kind: "activation", type: opts.activationType, granularity: granularityLabel({ kind: "tensor" }),
      ...(producer ? { node: producer.name ?? "", opType: producer.op_type ?? "" } : {}),
    });
  }

  // Weights and biases of the anchors whose activation inputs are all quantized.
  // Keyed by the stored tensor (one weight read under several names), or by the value of a folded chain.
  const weightCache = new Map<TensorProto | string, Map<string, { dq: string; q: QuantizedWeights }>>();
  for (const a of p.anchors) {
    const n = a.node;
    const actIn = a.activations.map((s) => n.input![s]!);
    if (!actIn.every((t) => dqOf.has(t))) continue;
    let w: { dq: string; q: QuantizedWeights } | undefined;
    if (a.weight) {
      w = quantizeWeight(a, a.weight.slot, a.weight.axis);
      n.input![a.weight.slot] = w.dq;
    }
    if (a.bias !== undefined && w) {
      const sx = params.get(p.group.get(actIn[0]!)!)!.scale;
      const dq = quantizeBias(n, a.bias, sx, w.q);
      if (dq) n.input![a.bias] = dq;
    }
  }

  function quantizeWeight(a: AnchorNode, slot: number, axis: number | undefined): { dq: string; q: QuantizedWeights } {
    const name = a.node.input![slot]!;
    const tensor = index.constantOf(name);
    const useAxis = opts.perChannel ? axis : undefined;
    const key = String(useAxis);
    const cacheKey = tensor ?? name;
    let byAxis = weightCache.get(cacheKey);
    const hit = byAxis?.get(key);
    if (hit) return hit;
    const { data, dims } = index.constantFloats(name)!;
    const q = quantizeWeights(data, dims, {
      type: opts.weightType as QuantType,
      symmetric: opts.symmetricWeights,
      granularity: useAxis === undefined ? { kind: "tensor" } : { kind: "channel", axis: useAxis },
    }, name);
    const base = tensor?.name || name;
    const qName = index.uniqueName(`${base}_quantized`);
    const sName = index.uniqueName(`${base}_scale`);
    const zName = index.uniqueName(`${base}_zero_point`);
    intTensor(qName, dims, q.values, opts.weightType, "weight");
    const kept = opts.keep ? opts.keep(q) : q;
    if (kept !== q) pending[pending.length - 1] = lazyPending(pending[pending.length - 1]!, kept);
    floatTensor(sName, q.paramDims, q.scale);
    const zp = opts.weightType === "int8" ? Int8Array.from(q.zeroPoint) : Uint8Array.from(q.zeroPoint);
    intTensor(zName, q.paramDims, zp, opts.weightType, "zero_point");
    const dq = index.uniqueName(`${base}_dequantized`);
    const attrs = q.axis !== undefined ? [makeAttribute("axis", q.axis)] : [];
    if (q.axis !== undefined) minOpset = Math.max(minOpset, 13);
    front.push(node("DequantizeLinear", [qName, sName, zName], dq, attrs));
    const recon = dequantizeWeights(q, dims);
    const sq = sqnrDb(data, recon);
    entries.push({
      tensor: name, action: "quantized", kind: "weight", node: a.node.name ?? "", opType: a.node.op_type ?? "", type: opts.weightType,
      ...(tensor ? {} : { via: index.chainOps(name), reason: `folded from ${index.chainSources(name).join(", ")}` }),
      granularity: granularityLabel(q.axis !== undefined ? { kind: "channel", axis: q.axis } : { kind: "tensor" }), elements: data.length,
      bytesBefore: storedBytes(tensor, data.length), bytesAfter: data.length + q.scale.length * 5, sqnrDb: sq, relError: 10 ** (-sq / 20),
    });
    const out = { dq, q: kept };
    if (kept !== q) dropped(data.byteLength + recon.byteLength + q.values.byteLength);
    if (!byAxis) weightCache.set(cacheKey, (byAxis = new Map()));
    byAxis.set(key, out);
    return out;
  }

  /** The int32 bias's DequantizeLinear output, or undefined (bias kept float) when its scale would underflow. */
  function quantizeBias(n: NodeProto, slot: number, sx: number, w: QuantizedWeights): string | undefined {
    const name = n.input![slot]!;
    const { data } = index.constantFloats(name)!;
    const perChannel = w.scale.length > 1;
    if (perChannel && w.scale.length !== data.length) {
      throw new QuantError("E_GRAPH", `bias "${name}" has ${data.length} values but the weight has ${w.scale.length} channels`, { target: n.name });
    }
    const scale = new Float32Array(perChannel ? data.length : 1);
    for (let c = 0; c < scale.length; c++) scale[c] = Math.fround(sx * w.scale[c]!);
    // A bias has no int32 grid when s_x · s_w underflows (weights of ~1e-38: trained-to-zero channels stored as
    // subnormals) or when a value lands past ±(2³¹ − 1) steps (tiny weights, large bias): saturating would change the
    // output (a zoo model lost a whole output channel that way), so such a bias stays float and the node runs on
    // dequantized inputs instead of fusing.
    const keepFloat = (why: string) => {
      entries.push({ tensor: name, action: "skipped", kind: "weight", node: n.name ?? "", opType: n.op_type ?? "", reason: why });
      return undefined;
    };
    if (scale.some((v) => !(Math.abs(v) >= FLT_MIN))) return keepFloat("bias scale s_x·s_w underflows float32 (weights ~0)");
    const values = new Int32Array(data.length);
    for (let i = 0; i < data.length; i++) {
      // Divide in float64 from the float32 scale ORT multiplies back by.
      const v = roundHalfEven(data[i]! / scale[perChannel ? i : 0]!);
      if (v > INT32_MAX || v < -INT32_MAX) return keepFloat("bias exceeds the int32 range of scale s_x·s_w (tiny weights)");
      values[i] = v;
    }
    const base = `${n.name || n.output?.[0] || "node"}_bias`;
    const qName = index.uniqueName(`${base}_quantized`);
    const sName = index.uniqueName(`${base}_scale`);
    intTensor(qName, [data.length], values, "int32", "bias");
    floatTensor(sName, perChannel ? [data.length] : [], scale);
    const dq = index.uniqueName(`${base}_dequantized`);
    front.push(node("DequantizeLinear", [qName, sName], dq, perChannel ? [makeAttribute("axis", 0)] : []));
    entries.push({
      tensor: name, action: "quantized", kind: "weight", node: n.name ?? "", opType: n.op_type ?? "", type: "int32",
      granularity: granularityLabel(perChannel ? { kind: "channel", axis: 0 } : { kind: "tensor" }), elements: data.length, bytesBefore: storedBytes(index.constantOf(name), data.length), bytesAfter: data.length * 8,
    });
    return dq;
  }

  // Rewire every consumer of a quantized activation to its DQ output (graph outputs and excluded nodes keep the float value).
  const original = graph.node ?? [];
  for (const n of original) {
    if (p.floatNodes.has(n)) continue;
    const ins = n.input ?? [];
    for (let i = 0; i < ins.length; i++) {
      const dq = dqOf.get(ins[i]!);
      if (dq) ins[i] = dq;
    }
  }
  const ordered: NodeProto[] = [...front];
  for (const n of original) {
    ordered.push(n);
    for (const o of n.output ?? []) {
      const pair = after.get(o);
      if (pair) ordered.push(...pair);
    }
  }
  graph.node = ordered;
  graph.initializer = [...(graph.initializer ?? []), ...inits];
  removeDeadConstants(p, readBefore);
  for (const s of p.skipped) entries.push({ tensor: s.node.output?.[0] ?? "", action: "skipped", node: s.node.name ?? "", opType: s.node.op_type ?? "", reason: s.reason });
  return { pending, entries, minOpset };
}

/** Bytes a float constant took in the file (float16 weights take 2 per value). */
function storedBytes(t: TensorProto | undefined, count: number): number {
  return (count * (bitsPerElement(t?.data_type ?? DataType.FLOAT) || 32)) / 8;
}

/** Values read by nodes, graph outputs or subgraphs. */
function readValues(p: Placement): Set<string> {
  const read = new Set<string>([...p.index.outputs, ...p.index.outerReads]);
  for (const n of p.index.graph.node ?? []) for (const i of n.input ?? []) if (i) read.add(i);
  return read;
}

/**
 * Drop the Identity/Constant nodes, the folded data-movement chains (the Casts that read float16 weights as float32
 * among them) and the initializers the rewrite left without readers (the float weights and biases). Only values that
 * were read before the rewrite are candidates: whatever the model already carried unused stays.
 */
function removeDeadConstants(p: Placement, readBefore: ReadonlySet<string>): void {
  const graph = p.index.graph;
  for (let changed = true; changed; ) {
    changed = false;
    const read = readValues(p);
    const dead = (v: string | undefined) => !!v && readBefore.has(v) && !read.has(v);
    const removable = (n: NodeProto) => n.op_type === "Identity" || n.op_type === "Constant" || (DATA_MOVEMENT_OPS.has(n.op_type ?? "") && (n.output ?? []).some((o) => p.index.isChainConstant(o ?? ""))) ||
      // The Cast that reads a float16 weight as float32 (float32-compute.ts): the constant itself to placement.
      (n.op_type === "Cast" && !!p.index.constantOf(n.output?.[0] ?? ""));
    graph.node = (graph.node ?? []).filter((n) => {
      // A Split may have outputs nobody ever read: the node is dead when the ones that were read no longer are.
      const drop = !n.domain && removable(n) && (n.output ?? []).some((o) => dead(o)) && (n.output ?? []).every((o) => !o || !read.has(o));
      if (drop) changed = true;
      return !drop;
    });
    if (!changed) {
      const inputs = new Set((graph.input ?? []).map((i) => i.name));
      graph.initializer = (graph.initializer ?? []).filter((t) => !dead(t.name) || inputs.has(t.name));
    }
  }
}
