/**
 * `dynamic` quantizer: INT8 weights, activations quantized at run time (no calibration), the form ONNX Runtime's
 * `quantize_dynamic` and transformers.js's `model_quantized.onnx` use:
 *   MatMul(A, W) / Gemm(A, W, C) → DynamicQuantizeLinear(A) → MatMulInteger(a_q, W_q, a_zp, w_zp) → Cast → ·(a_s·w_s) (+ C)
 *   Conv(X, W, B)                → DynamicQuantizeLinear(X) → ConvInteger(x_q, W_q, x_zp, w_zp) → Cast → ·(x_s·w_s) (+ B)
 * Weights are per-channel (one scale per output column / channel: the scales are applied after the integer op, so
 * any granularity along the output axis is free) and symmetric by default, so the integer op sees one scalar zero
 * point. Asymmetric per-channel weights give MatMulInteger a per-column zero point (ONNX Runtime supports it);
 * ConvInteger takes only a scalar weight zero point, so asymmetric Conv weights fall back to per-tensor.
 * Weight type: int8, or uint8 when the model has a selected Conv (ONNX Runtime's ConvInteger wants uint8 weights),
 * as ONNX Runtime's tools and transformers.js do. One DynamicQuantizeLinear is shared by all readers of an activation.
 */
import {
  DataType, GraphIndex, granularityLabel, OP_MIN_OPSET, alreadyQuantizedError, convertOpset, defineQuantizer, isQuantized, findWeights, opsetVersion, isOnnxOp, makeAttribute, makeTensor,
  matchesAny, num, quantizeWeights, tensorFloat32, transposeFloat32, streamPlan, lazyPending, dropped,
  type GraphProto, type Model, type NodeProto, type PendingTensor, type QuantizedWeights, type ReportEntry, type Weight,
} from "../../src/index.ts";

/** Options of the `dynamic` quantizer (each defaults to the run's global option). */
export interface DynamicOptions {
  /** Op types to quantize (default MatMul, Gemm, Conv). */
  opTypes?: string[];
  /** Weight type; default int8, or uint8 when a Conv is quantized. */
  weightType?: "int8" | "uint8";
  /** One scale per output channel (default true). */
  perChannel?: boolean;
  /** Symmetric weights (default true). */
  symmetric?: boolean;
  /** Search each channel's clipping range minimizing reconstruction MSE (default true: +0.6 dB on digits_transformer). */
  clipSearch?: boolean;
  /**
   * A layer that writes a graph output (a classifier head) stays float when its weight holds at most this share of
   * the selected weights' elements (default 0.05; 0 quantizes every head). Its activation noise goes straight to the
   * outputs and a small head saves few bytes (digits_transformer: 42.7 → 43.7 dB for 2.5 KB); a language model's
   * large LM head is still quantized.
   */
  floatHeadShare?: number;
}

const DEFAULT_OPS = ["MatMul", "Gemm", "Conv"];

/** One node to rewrite. */
interface Site {
  node: NodeProto;
  graph: GraphProto;
  w: Weight;
  /** Weight layout the integer op reads: `kn` for MatMul/Gemm (transposed when transB), `conv` as stored. */
  layout: "kn" | "nk" | "conv";
  alpha: number;
  /** Bias: the Gemm C / Conv B value name and the factor it is scaled by (Gemm beta). */
  bias?: { name: string; beta: number };
}

/** A weight quantized once for all its readers of one layout. */
interface Quantized {
  q: QuantizedWeights;
  values: string;
  zeroPoint: string;
  /** The float scale initializer (per-channel: [N] for MatMul, [M, 1, …] for Conv). */
  scale: string;
  scales: Float32Array;
}

/** `dynamic` quantizer factory. */
export default function dynamic(opts: DynamicOptions = {}) {
  return defineQuantizer({
    name: "dynamic",
    options: { ...opts },
    // Declared up front: the kernel converts the model to opset 11 before anything runs (and a fully quantized model
    // is refused there); the conversion in quantize() below then only serves direct library calls.
    requires(model: Model) {
      const state = isQuantized(model);
      if (state.state === "full") throw alreadyQuantizedError(state);
      return { opset: OP_MIN_OPSET.DynamicQuantizeLinear, reason: "DynamicQuantizeLinear", types: ["uint8", "int8"] as const };
    },
    quantize(model: Model, _input, ctx) {
      const o = ctx.options;
      const opTypes = new Set(opts.opTypes ?? o.opTypes ?? DEFAULT_OPS);
      for (const t of o.opTypesExclude ?? []) opTypes.delete(t);
      const perChannel = opts.perChannel ?? o.perChannel ?? true;
      const symmetric = opts.symmetric ?? o.symmetric ?? true;
      const clipSearch = opts.clipSearch ?? true;
      const headShare = opts.floatHeadShare ?? 0.05;
      /** The nodes to rewrite and the report of the ones left float. */
      const discover = () => {
        const index = new GraphIndex(model);
        const entries: ReportEntry[] = [];
        const sites: Site[] = [];
        const seen = new Set<NodeProto>();
        const skip = (w: Weight, reason: string, opType?: string) =>
          entries.push({ tensor: w.name, action: "skipped", reason, kind: "weight", opType, elements: w.dims.reduce((a, b) => a * b, 1) });

        for (const w of findWeights(model, index)) {
          const candidates = w.consumers.filter((c) => c.input === 1 && opTypes.has(c.opType) && isOnnxOp(c.node, c.opType));
          // MatMulInteger/ConvInteger read the stored tensor itself: a weight reached through Transpose/Slice/… stays float.
          const readers = candidates.filter((c) => !c.via.length);
          if (!readers.length) {
            if (candidates.length) skip(w, `reached through ${candidates[0]!.steps.map((s) => s.node.op_type).join(" → ")}; integer kernels read weights directly`, candidates[0]!.opType);
            continue;
          }
          ctx.at(w.name);
          if (w.shadowed) { skip(w, "a graph input of the same name can override it", readers[0]!.opType); continue; }
          if (w.dataType !== DataType.FLOAT) { skip(w, "not a float32 weight (DynamicQuantizeLinear reads float32 activations)", readers[0]!.opType); continue; }
          if (w.dims.reduce((a, b) => a * b, 1) < o.minElements) { skip(w, `fewer than ${o.minElements} elements`, readers[0]!.opType); continue; }
          for (const c of readers) {
            const n = c.node;
            if (seen.has(n)) continue;
            const excluded = matchesAny(o.exclude, [w.name, n.name, ...(n.output ?? []), n.input?.[0]]);
            const why = excluded ? `excluded (${excluded})` : refusal(index, c.graph, n, w);
            if (why) { skip(w, why, c.opType); continue; }
            seen.add(n);
            const attr = n.attribute ?? [];
            const float = (k: string) => attr.find((x) => x.name === k)?.f ?? 1;
            const transB = num(attr.find((x) => x.name === "transB")?.i ?? 0);
            const biasName = c.opType === "MatMul" ? undefined : n.input?.[2];
            sites.push({
              node: n, graph: c.graph, w,
              layout: c.opType === "Conv" ? "conv" : c.opType === "Gemm" && transB ? "nk" : "kn",
              alpha: c.opType === "Gemm" ? float("alpha") : 1,
              bias: biasName ? { name: biasName, beta: c.opType === "Gemm" ? float("beta") : 1 } : undefined,
            });
          }
        }
        // Small heads stay float (see floatHeadShare).
        const elements = (w: Weight) => w.dims.reduce((a, b) => a * b, 1);
        const total = [...new Set(sites.map((s) => s.w))].reduce((a, w) => a + elements(w), 0);
        for (let i = sites.length - 1; i >= 0; i--) {
          const s = sites[i]!;
          if (!index.isGraphOutput(s.node.output?.[0] ?? "", index.main.graph) || s.graph !== index.main.graph) continue;
          if (elements(s.w) > headShare * total) continue;
          sites.splice(i, 1);
          skip(s.w, `output layer kept float (${((100 * elements(s.w)) / total).toFixed(1)}% of the weights ≤ floatHeadShare ${headShare * 100}%)`, s.node.op_type);
        }
        return { index, entries, sites };
      };
      let { index, entries, sites } = discover();
      // The integer ops need opset 11: raise an older model first (while it holds only ops the converter knows), and
      // only when there is something to quantize; the conversion may replace nodes, so look again afterwards.
      const opset = opsetVersion(model.proto) ?? 0;
      if (sites.length && opset < OP_MIN_OPSET.DynamicQuantizeLinear) {
        ctx.logger.info(`converting opset ${opset} → ${OP_MIN_OPSET.DynamicQuantizeLinear} for DynamicQuantizeLinear`);
        convertOpset(model, OP_MIN_OPSET.DynamicQuantizeLinear);
        ({ index, entries, sites } = discover());
      }
      if (!sites.length) {
        const small = entries.filter((e) => e.reason?.startsWith("fewer than")).length;
        if (small && small === entries.length)
          ctx.logger.warn(`nothing quantized: all ${small} MatMul/Gemm/Conv weight(s) have fewer than ${o.minElements} elements (minElements), where dynamic INT8 runs slower than float32; the model stays float`);
        else ctx.logger.warn("no MatMul/Gemm/Conv with a constant float32 weight to quantize dynamically");
        return { pending: [], entries };
      }

      const hasConv = sites.some((s) => s.layout === "conv");
      const type = opts.weightType ?? o.weightType ?? (hasConv ? "uint8" : "int8");
      const unique = (p: string) => index.uniqueName(p);
      const pending: PendingTensor[] = [];
      const cache = new Map<string, Quantized>();
      // A big model streams: each weight's integers go to disk as they are made (see streamPlan).
      const weights = [...new Set(sites.map((s) => s.w))];
      const plan = streamPlan(model, weights.reduce((a, w) => a + 4 * w.dims.reduce((x, y) => x * y, 1), 0), o);

      /** Quantize a weight for one layout, once; its tensors go into the weight's own graph (visible to nested readers). */
      const quantized = (s: Site): Quantized => {
        const key = `${s.w.scope}\u0000${s.w.name}\u0000${s.layout}`;
        const hit = cache.get(key);
        if (hit) return hit;
        const { w } = s;
        let data = tensorFloat32(model, w.tensor);
        let dims = [...w.dims];
        if (s.layout === "nk") {
          data = transposeFloat32(data, dims[0]!, dims[1]!);
          dims = [dims[1]!, dims[0]!];
        }
        const axis = s.layout === "conv" ? 0 : 1;
        const channel = perChannel && (symmetric || s.layout !== "conv");
        const q = quantizeWeights(data, dims, { type, symmetric, granularity: channel ? { kind: "channel", axis } : { kind: "tensor" }, clipSearch, measure: true }, w.name);
        const g = w.graph;
        const values = unique(`${w.name}_quantized`);
        const zeroPoint = unique(`${w.name}_zero_point`);
        const scale = unique(`${w.name}_scale`);
        const vT = { name: values, dims };
        // One zero point for the whole weight when every channel has the same (symmetric): the integer ops' fast path.
        const uniform = q.zeroPoint.every((z) => z === q.zeroPoint[0]);
        const zp = uniform ? q.zeroPoint.subarray(0, 1) : q.zeroPoint;
        const zT = { name: zeroPoint, dims: uniform ? [] : [zp.length] };
        const scaleDims = q.scale.length === 1 ? [] : s.layout === "conv" ? [q.scale.length, ...dims.slice(2).map(() => 1)] : [q.scale.length];
        (g.initializer ??= []).push(vT, zT, makeTensor(scale, DataType.FLOAT, scaleDims, q.scale));
        const kept = plan.keep(q);
        if (plan.stream) dropped(data.byteLength + q.values.byteLength);
        pending.push(
          lazyPending({ tensor: vT, values: q.values, type, role: "weight" }, kept),
          { tensor: zT, values: type === "int8" ? Int8Array.from(zp) : Uint8Array.from(zp), type, role: "zero_point" },
        );
        const r: Quantized = { q, values, zeroPoint, scale, scales: q.scale };
        cache.set(key, r);
        entries.push({
          tensor: w.name, action: "quantized", kind: "weight", node: s.node.name, opType: s.node.op_type, type,
          granularity: granularityLabel(q.axis === undefined ? { kind: "tensor" } : { kind: "channel", axis: q.axis }),
          elements: data.length, bytesBefore: w.bytes, bytesAfter: data.length + q.scale.length * 4 + zp.length, sqnrDb: q.sqnrDb,
          relError: 10 ** (-(q.sqnrDb ?? Infinity) / 20),
        });
        return r;
      };

      // Rewrite each graph in one pass: a replaced node becomes its integer form, preceded (at the first reader) by the
      // DynamicQuantizeLinear of its activation.
      const byGraph = new Map<GraphProto, Map<NodeProto, Site>>();
      for (const s of sites) {
        let m = byGraph.get(s.graph);
        if (!m) byGraph.set(s.graph, (m = new Map()));
        m.set(s.node, s);
      }
      sites.forEach((s, i) => {
        ctx.at(s.node.name || s.w.name);
        ctx.progress(i, sites.length, "nodes");
        quantized(s);
      });
      let activations = 0;
      for (const [graph, replaced] of byGraph) {
        const dql = new Map<string, { q: string; s: string; z: string }>();
        const out: NodeProto[] = [];
        for (const n of graph.node ?? []) {
          const s = replaced.get(n);
          if (!s) { out.push(n); continue; }
          const a = n.input![0]!;
          let d = dql.get(a);
          if (!d) {
            d = { q: unique(`${a}_quantized`), s: unique(`${a}_scale`), z: unique(`${a}_zero_point`) };
            dql.set(a, d);
            out.push({ op_type: "DynamicQuantizeLinear", name: unique(`${a}_DynamicQuantizeLinear`), input: [a], output: [d.q, d.s, d.z] });
            activations++;
            entries.push({ tensor: a, action: "quantized", kind: "activation", type: "uint8", granularity: granularityLabel({ kind: "tensor" }), reason: "scale computed at run time (DynamicQuantizeLinear)", node: n.name, opType: n.op_type });
          }
          out.push(...integerForm(s, d, quantized(s), graph, unique));
        }
        graph.node = out;
      }
      removeUnread(index, sites);
      ctx.progress(sites.length, sites.length, "nodes");
      ctx.logger.info(`${sites.length} node(s) → integer ops with ${activations} dynamically quantized activation(s), ${type} weights`);
      return { pending, entries, minOpset: OP_MIN_OPSET.DynamicQuantizeLinear };
    },
  });
}

/** Why a node cannot take the integer form, or undefined when it can. */
function refusal(index: GraphIndex, graph: GraphProto, n: NodeProto, w: Weight): string | undefined {
  const a = n.input?.[0];
  if (!a) return "no activation input";
  if (index.constantOf(a, graph)) return "both inputs are constant";
  const t = index.elemTypeOf(a, graph);
  if (t !== undefined && t !== DataType.FLOAT) return "the activation is not float32";
  const r = w.dims.length;
  const attr = (k: string) => n.attribute?.find((x) => x.name === k);
  switch (n.op_type) {
    case "MatMul":
      return r === 2 ? undefined : `weight of rank ${r} (MatMulInteger per-column scales need a [K, N] weight)`;
    case "Gemm": {
      if (r !== 2) return `weight of rank ${r}`;
      if (num(attr("transA")?.i ?? 0)) return "Gemm with transA";
      const c = n.input?.[2];
      const beta = attr("beta")?.f ?? 1;
      if (c && beta !== 1 && !index.constantOf(c, graph)) return "Gemm with beta ≠ 1 on a non-constant C";
      return undefined;
    }
    case "Conv":
      return r >= 3 ? undefined : `weight of rank ${r}`;
    default:
      return `op type ${n.op_type}`;
  }
}

/** The integer form of one node; its last node writes the node's original output. */
function integerForm(s: Site, d: { q: string; s: string; z: string }, w: Quantized, graph: GraphProto, unique: (p: string) => string): NodeProto[] {
  const n = s.node;
  const base = n.name || n.output![0]!;
  const out = n.output![0]!;
  const nodes: NodeProto[] = [];
  const int32 = unique(`${base}_int32`);
  if (s.layout === "conv") {
    const attrs = (n.attribute ?? []).filter((a) => ["auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"].includes(a.name ?? ""));
    nodes.push({ op_type: "ConvInteger", name: unique(`${base}_ConvInteger`), input: [d.q, w.values, d.z, w.zeroPoint], output: [int32], attribute: attrs });
  } else {
    nodes.push({ op_type: "MatMulInteger", name: unique(`${base}_MatMulInteger`), input: [d.q, w.values, d.z, w.zeroPoint], output: [int32] });
  }
  let scale = w.scale;
  if (s.alpha !== 1) {
    // Gemm alpha folds into a scale of its own (the weight's scale may be shared with readers without alpha).
    scale = unique(`${w.scale}_alpha`);
    const scaled = Float32Array.from(w.scales, (v) => v * s.alpha);
    (graph.initializer ??= []).push(makeTensor(scale, DataType.FLOAT, w.scales.length === 1 ? [] : [w.scales.length], scaled));
  }
  const float = unique(`${base}_float`);
  const combined = unique(`${base}_scale`);
  nodes.push(
    { op_type: "Cast", name: unique(`${base}_Cast`), input: [int32], output: [float], attribute: [makeAttribute("to", DataType.FLOAT)] },
    { op_type: "Mul", name: unique(`${base}_scale_Mul`), input: [d.s, scale], output: [combined] },
  );
  if (!s.bias) {
    nodes.push({ op_type: "Mul", name: unique(`${base}_Mul`), input: [float, combined], output: [out] });
    return nodes;
  }
  const scaled = unique(`${base}_scaled`);
  nodes.push({ op_type: "Mul", name: unique(`${base}_Mul`), input: [float, combined], output: [scaled] });
  let bias = s.bias.name;
  if (s.layout === "conv") {
    // Conv's B is [M]; the output is [N, M, spatial…].
    const shape = unique(`${base}_bias_shape`);
    const rank = s.w.dims.length;
    graph.initializer!.push(makeTensor(shape, DataType.INT64, [rank - 1], BigInt64Array.from([-1n, ...Array.from({ length: rank - 2 }, () => 1n)])));
    const reshaped = unique(`${bias}_reshaped`);
    nodes.push({ op_type: "Reshape", name: unique(`${base}_bias_Reshape`), input: [bias, shape], output: [reshaped] });
    bias = reshaped;
  } else if (s.bias.beta !== 1) {
    const beta = unique(`${base}_beta`);
    graph.initializer!.push(makeTensor(beta, DataType.FLOAT, [], Float32Array.of(s.bias.beta)));
    const b = unique(`${bias}_beta`);
    nodes.push({ op_type: "Mul", name: unique(`${base}_beta_Mul`), input: [bias, beta], output: [b] });
    bias = b;
  }
  nodes.push({ op_type: "Add", name: unique(`${base}_bias_Add`), input: [scaled, bias], output: [out] });
  return nodes;
}

/** Drop float weights nothing reads any more (every reader was rewritten, none through an Identity). */
function removeUnread(index: GraphIndex, sites: Site[]) {
  const done = new Set(sites.map((s) => s.node));
  const weights = new Set(sites.map((s) => s.w));
  for (const w of weights) {
    if (!w.consumers.every((c) => done.has(c.node) && !c.via.length)) continue;
    if (index.scope(w.graph).outputs.has(w.name)) continue;
    if (w.location === "constant") {
      if (!w.node) continue;
      w.graph.node = (w.graph.node ?? []).filter((n) => n !== w.node);
    } else w.graph.initializer = (w.graph.initializer ?? []).filter((t) => t !== w.tensor);
    w.graph.value_info = (w.graph.value_info ?? []).filter((v) => v.name !== w.name);
  }
}
