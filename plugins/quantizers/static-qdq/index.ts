/**
 * `static-qdq` quantizer: calibrated static INT8 with QuantizeLinear/DequantizeLinear placed so that ONNX Runtime runs
 * the model on its integer kernels (QLinearConv, QLinearAdd, QLinearConcat, QLinearGlobalAveragePool, QGemm,
 * QLinearMatMul / MatMulIntegerToFloat) — the output is both accurate and faster than fp32.
 *
 * Defaults: uint8 activations (ORT's U8S8 fast path on x86), int8 symmetric per-channel weights, int32 biases.
 * The placement rules are in placement.ts beside this file; ranges → scales (Relu/Clip-aware) in placement-params.ts.
 * Weights no integer kernel reads directly — behind Slice/Transpose/… chains, LSTM/GRU/RNN W/R, Gather tables — get
 * a DequantizeLinear at the weight itself (placement-weights.ts); those ops keep running in float.
 * Main graph only: nodes holding If/Loop/Scan bodies are reported and their bodies stay float.
 * float16/bfloat16 models are first retyped to compute in float32 between Casts at their inputs and outputs
 * (src/quant/float32-compute.ts: ONNX Runtime fuses only float32-scale Q/DQ into its integer kernels).
 */
import {
  DataType, QuantError, alreadyQuantizedError, computeInFloat32, defineQuantizer, findWeights, isQuantized, matchesAny, streamPlan,
  type Float32ComputeReport, type Model, type NodeProto, type OptionKeys, type PluginContext, type QuantizeResult, type RangeMap, type ReportEntry,
} from "../../../src/index.ts";
import { PlacementGraph } from "./placement-graph.ts";
import { ANCHOR_OPS, DEFAULT_OP_TYPES, FUSED_ACTIVATIONS, PASS_THROUGH_OPS, planPlacement, type Placement } from "./placement.ts";
import { placementParams } from "./placement-params.ts";
import { applyPlacement } from "./placement-rewrite.ts";
import { MAX_CONCAT_SPAN_RATIO, disparateConcats } from "./concat-ranges.ts";
import { WEIGHT_ONLY_OPS, quantizeChainWeights } from "./placement-weights.ts";

/** Options of `static-qdq` (each defaults to the run's global option, then to the ONNX Runtime-friendly choice). */
export interface StaticQdqOptions {
  /** Activation type: uint8 (default, ORT's fast path on x86) or int8. */
  activationType?: "uint8" | "int8";
  /** Weight type: int8 (default) or uint8. */
  weightType?: "int8" | "uint8";
  /** Per-channel weights (axis = output channels). Default true: per-tensor costs ~6 dB on CNNs. */
  perChannel?: boolean;
  /** Symmetric weights (zero point 0, required by ORT's fastest QLinearConv path). Default true. */
  symmetricWeights?: boolean;
  /**
   * Op types that may run quantized. Pass-through ops (MaxPool, Reshape, Transpose, …) and Relu/Clip are always
   * allowed, since they only follow their neighbours; keep one float with `exclude`.
   */
  opTypes?: string[];
  /** Node, weight or activation names (exact or globs) to keep float, added to the global `exclude`. */
  exclude?: string[];
  /** Quantize every Conv output (past its Relu/Clip) so the Conv fuses even when no consumer asks. Default true. */
  fuseFriendly?: boolean;
  /** One scale for a Concat's inputs and output (QLinearConcat then copies bytes). Default true. */
  shareConcatScales?: boolean;
  /**
   * Keep a first Conv on ≤ 4 input channels float (MLAS's fp32 NCHWc kernel beats its int8 one there), with its
   * Relu/Clip → MaxPool when they follow; the first Q then comes after the MaxPool. Default true (`false` quantizes the stem).
   */
  floatStem?: boolean;
}

/** The options this plugin takes: a config giving any other key is refused (E_CONFIG). */
export const optionKeys: OptionKeys<StaticQdqOptions> = { activationType: true, weightType: true, perChannel: true, symmetricWeights: true, opTypes: true, exclude: true, fuseFriendly: true, shareConcatScales: true, floatStem: true };

interface Resolved {
  activationType: "uint8" | "int8";
  weightType: "int8" | "uint8";
  perChannel: boolean;
  symmetricWeights: boolean;
  opTypes: Set<string>;
  /** Op types whose weights are quantized at the weight when no integer kernel reads them (chains, LSTM, Gather…). */
  weightOpTypes: Set<string>;
  exclude: string[];
  fuseFriendly: boolean;
  shareConcatScales: boolean;
  floatStem: boolean;
}

function resolve(opts: StaticQdqOptions, ctx: PluginContext): Resolved {
  const o = ctx.options;
  if (o.bits !== 8) throw new QuantError("E_QUANT_OPTIONS", `static-qdq quantizes to 8 bits; got --bits ${o.bits} (use weight-only for 4-bit weights)`);
  const given = opts.opTypes ?? o.opTypes;
  const opTypes = new Set(given ? [...given, ...PASS_THROUGH_OPS, ...FUSED_ACTIVATIONS] : DEFAULT_OP_TYPES);
  for (const t of o.opTypesExclude ?? []) opTypes.delete(t);
  return {
    activationType: opts.activationType ?? o.activationType ?? "uint8",
    weightType: opts.weightType ?? o.weightType ?? "int8",
    perChannel: opts.perChannel ?? o.perChannel ?? true,
    symmetricWeights: opts.symmetricWeights ?? o.symmetric ?? true,
    opTypes,
    weightOpTypes: new Set(given ?? [...ANCHOR_OPS, ...WEIGHT_ONLY_OPS]),
    exclude: [...(o.exclude ?? []), ...(opts.exclude ?? [])],
    fuseFriendly: opts.fuseFriendly ?? true,
    shareConcatScales: opts.shareConcatScales ?? true,
    floatStem: opts.floatStem ?? true,
  };
}

/** Plan with some tensors forced float; `missing` grows until every planned group has a range. */
function plan(graph: PlacementGraph, r: Resolved, keepFloat: ReadonlySet<string>, unsharedConcats: ReadonlySet<NodeProto> = new Set()): Placement {
  return planPlacement(graph, {
    unsharedConcats,
    opTypes: r.opTypes,
    keepNodeFloat: (n: NodeProto) => !!r.exclude.length && !!matchesAny(r.exclude, [n.name]),
    keepTensorFloat: (t: string) => keepFloat.has(t) || (!!r.exclude.length && !!matchesAny(r.exclude, [t])),
    shareConcatScales: r.shareConcatScales,
    fuseFriendly: r.fuseFriendly,
    floatStem: r.floatStem,
  });
}

/** Static quantization places Q/DQ around float ops: it needs a model with no quantized part. */
function checkNotQuantized(model: Model): void {
  const state = isQuantized(model);
  if (state.state !== "none") throw alreadyQuantizedError(state, "static quantization needs the float model (`quant quantize` quantizes the float weights left)");
}

/** Entries for nodes whose subgraphs stay float. */
function subgraphEntries(model: Model): ReportEntry[] {
  return (model.proto.graph?.node ?? [])
    .filter((n) => (n.attribute ?? []).some((a) => a.g || a.graphs?.length))
    .map((n) => ({ tensor: n.output?.[0] ?? "", action: "skipped" as const, node: n.name ?? "", opType: n.op_type ?? "", reason: "subgraph bodies stay float" }));
}

/** Models already retyped to float32 compute, with what was done (activations() and quantize() see the same model). */
const retyped = new WeakMap<object, Float32ComputeReport | null>();

/** Retype a half-precision model to float32 compute, once per model. */
function float32Compute(model: Model, ctx: PluginContext): Float32ComputeReport | undefined {
  let r = retyped.get(model.proto);
  if (r === undefined) {
    r = computeInFloat32(model) ?? null;
    retyped.set(model.proto, r);
    if (r) ctx.logger.info(`${r.types.join("/")} model: computing in float32 between Casts at its inputs/outputs, so the Q/DQ fuse into integer kernels`);
  }
  return r ?? undefined;
}

/** The summary note for a retyped model; `kept`: half-precision initializers still in the graph. */
function float32Note(r: Float32ComputeReport, kept: number): string {
  return `${r.types.join("/")} model: quantized region computes in float32 with float32-scale Q/DQ (ONNX Runtime's integer ` +
    `kernels need them; float16 scales run slower than the float16 model); ${r.boundaryCasts} Cast(s) keep the input/output ` +
    `types; ${kept} ${r.types.join("/")} weight(s) left float stay ${r.types.join("/")} in the file behind a Cast`;
}

/** `static-qdq` quantizer factory. */
export default function staticQdq(opts: StaticQdqOptions = {}) {
  return defineQuantizer({
    name: "static-qdq",
    options: { ...opts },
    requires(model: Model, ctx: PluginContext) {
      checkNotQuantized(model);
      const r = resolve(opts, ctx);
      // A float stem's first Q is per-axis (its "guard"), which also needs 13; whether one is planned depends on the
      // graph after the passes, so it is assumed.
      const need = r.perChannel ? { opset: 13, reason: "per-channel weights" } : r.floatStem ? { opset: 13, reason: "per-axis Q after a float stem" } : { opset: 10, reason: "per-tensor Q/DQ" };
      return { ...need, types: [r.activationType, r.weightType, "int32"] as const };
    },
    activations(model: Model, ctx: PluginContext): string[] {
      checkNotQuantized(model);
      const r = resolve(opts, ctx);
      float32Compute(model, ctx);
      return plan(new PlacementGraph(model), r, new Set()).needsRange;
    },
    quantize(model: Model, input: { ranges: RangeMap }, ctx: PluginContext): QuantizeResult {
      checkNotQuantized(model);
      const r = resolve(opts, ctx);
      const half = float32Compute(model, ctx);
      if (r.activationType === "int8") ctx.logger.info("int8 activations: ONNX Runtime fuses Conv on x86 only with uint8 activations; expect a slower model there");
      const graph = new PlacementGraph(model);
      const keepFloat = new Set<string>();
      const unshared = new Set<NodeProto>();
      const ranges: RangeMap = new Map(input.ranges);
      let p = plan(graph, r, keepFloat);
      let params = placementParams(p, ranges, r.activationType);
      for (;;) {
        // A tensor without a range stays float, which can unplan its neighbours: re-plan until stable.
        while (params.missing.length) {
          for (const t of params.missing) keepFloat.add(t);
          p = plan(graph, r, keepFloat, unshared);
          params = placementParams(p, ranges, r.activationType);
        }
        // A Concat whose inputs' ranges differ too much gets one scale per input (concat-ranges.ts).
        const split = r.shareConcatScales ? disparateConcats(p, ranges, params.byGroup).filter((c) => !unshared.has(c.node)) : [];
        if (!split.length) break;
        for (const c of split) {
          unshared.add(c.node);
          if (!ranges.has(c.output)) ranges.set(c.output, c.range);
        }
        p = plan(graph, r, keepFloat, unshared);
        params = placementParams(p, ranges, r.activationType);
      }
      if (unshared.size) ctx.logger.info(`${unshared.size} Concat(s) keep one scale per input: their inputs' ranges differ more than ${MAX_CONCAT_SPAN_RATIO}×`);
      if (keepFloat.size) ctx.logger.warn(`${keepFloat.size} activation(s) have no range and stay float (first: ${[...keepFloat][0]})`);
      if (!p.anchors.length) ctx.logger.warn("no Conv/ConvTranspose/MatMul/Gemm could be quantized: the output will not be faster");
      // A big model streams its weights: each one's integers go to disk as they are made (see streamPlan).
      const streaming = streamPlan(model, findWeights(model).reduce((s, w) => s + w.bytes, 0), ctx.options);
      const result = applyPlacement(p, params.byGroup, streaming.stream ? { ...r, keep: streaming.keep } : r);
      for (const t of keepFloat) result.entries.push({ tensor: t, action: "skipped", kind: "activation", reason: "no calibrated range" });
      const chained = quantizeChainWeights(model, { weightType: r.weightType, symmetric: r.symmetricWeights, perChannel: r.perChannel, opTypes: r.weightOpTypes, exclude: r.exclude });
      result.pending.push(...chained.pending);
      result.entries.push(...chained.entries);
      result.minOpset = Math.max(result.minOpset, chained.minOpset);
      result.entries.push(...subgraphEntries(model));
      if (half) {
        const kept = (model.proto.graph?.initializer ?? []).filter((t) => t.data_type === DataType.FLOAT16 || t.data_type === DataType.BFLOAT16).length;
        result.notes = [float32Note(half, kept)];
      }
      ctx.logger.debug(`${p.tensors.length} Q/DQ pairs, ${p.anchors.length} integer anchors, ${p.skipped.length} nodes left float`);
      return result;
    },
  });
}
