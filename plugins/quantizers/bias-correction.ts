/**
 * `bias-correction` quantizer (empirical bias correction, Nagel et al. 2019 §4.2): quantizing a Conv's weights shifts
 * the mean of its output by E[(W_q − W)·x] per output channel, which rounding does not average away (the error of each
 * weight is fixed; only x varies). Measured on the calibration data through the float model and subtracted from the
 * bias, the quantized Conv's output mean matches the float one again.
 *
 * Place it right after the quantizer whose weights it corrects (`static-qdq` or `weight-only`):
 *   plugins: [normalize, fold-batchnorm, minmax, static-qdq, bias-correction, int8]
 * It corrects exactly the Convs that quantizer quantized, with the weights it wrote: it reads each weight's scale from
 * its DequantizeLinear and re-derives the integer values from the float weight (a Conv whose scale it cannot reproduce
 * is left alone and counted). The float model seen before the quantizers is kept from the calibrate phase; E[ΔW·x] is a
 * Conv with ΔW of the float input, reduced per channel inside onnxruntime (exact at borders and with padding).
 * An int32 bias (static) is rewritten on its own grid; a float bias (weight-only) is rewritten in float; a Conv
 * without a bias is left alone.
 */
import {
  DataType, GraphIndex, cloneModel, defineQuantizer, dequantizeWeights, floatConst, isOnnxOp, makeTensor, openRunData,
  probeChannels, quantizeWeights, roundHalfEven, ConstWriter, type Model, type NodeProto, type OptionKeys, type PendingTensor,
  type QuantType, type ReportEntry,
} from "../../src/index.ts";

/** Options of `bias-correction`. */
export interface BiasCorrectionOptions {
  /** Calibration samples run through the float model. Default 16. */
  samples?: number;
}

/** The options this plugin takes: a config giving any other key is refused (E_CONFIG). */
export const optionKeys: OptionKeys<BiasCorrectionOptions> = { samples: true };

const SPECS: { type: QuantType; symmetric: boolean }[] = [
  { type: "int8", symmetric: true }, { type: "uint8", symmetric: true }, { type: "int8", symmetric: false }, { type: "uint8", symmetric: false },
];

/** The dequantized weight the quantizer wrote, re-derived from the float weight and the DequantizeLinear's scale. */
function writtenWeight(w: Float32Array, dims: number[], scale: Float32Array, axis: number | undefined): Float32Array | undefined {
  for (const spec of SPECS) {
    const granularity = axis === undefined ? { kind: "tensor" as const } : { kind: "channel" as const, axis };
    const q = quantizeWeights(w, dims, { ...spec, granularity });
    if (q.scale.length === scale.length && q.scale.every((v, i) => v === scale[i])) return dequantizeWeights(q, dims);
  }
  return undefined;
}

interface Target {
  conv: NodeProto;
  floatConv: NodeProto;
  delta: Float32Array;
  dims: number[];
  bias: Float32Array;
}

/** `bias-correction` quantizer factory. */
export default function biasCorrection(opts: BiasCorrectionOptions = {}) {
  let floatModel: Model | undefined;
  return defineQuantizer({
    name: "bias-correction",
    options: opts as Record<string, unknown>,
    // Called after the passes, before any quantizer rewrites the graph: keep the float model the weights come from.
    activations(model) {
      floatModel = cloneModel(model);
      return [];
    },
    async quantize(model, _input, ctx) {
      const pending: PendingTensor[] = [];
      const entries: ReportEntry[] = []; // the quantizer before this one reported the tensors; nothing new is quantized
      if (!floatModel) throw new Error("bias-correction needs the calibrate phase to run (it keeps the float model then)");
      const index = new GraphIndex(model);
      const g = index.main.graph;
      const fIndex = new GraphIndex(floatModel);
      const fg = fIndex.main.graph;
      const floatByOutput = new Map<string, NodeProto>();
      for (const n of fg.node ?? []) if (isOnnxOp(n, "Conv") && n.output?.[0]) floatByOutput.set(n.output[0], n);
      const targets: Target[] = [];
      let unmatched = 0;
      for (const conv of g.node ?? []) {
        if (!isOnnxOp(conv, "Conv") || !conv.input?.[2]) continue;
        const dq = index.producerNode(conv.input[1] ?? "", g);
        const fconv = floatByOutput.get(conv.output?.[0] ?? "");
        if (!dq || !isOnnxOp(dq, "DequantizeLinear") || !fconv) continue;
        const w = floatConst(floatModel, fIndex, fconv.input?.[1], fg);
        const b = floatConst(floatModel, fIndex, fconv.input?.[2], fg);
        const scale = floatConst(model, index, dq.input?.[1], g);
        if (!w || !b || !scale) continue;
        const axisAttr = dq.attribute?.find((a) => a.name === "axis");
        const axis = scale.data.length > 1 ? (axisAttr ? Number(axisAttr.i) : 1) : undefined;
        const wq = writtenWeight(w.data, w.dims, scale.data, axis);
        if (!wq) {
          unmatched++;
          continue;
        }
        for (let i = 0; i < wq.length; i++) wq[i] = wq[i]! - w.data[i]!;
        targets.push({ conv, floatConv: fconv, delta: wq, dims: w.dims, bias: b.data });
      }
      if (unmatched) ctx.logger.warn(`${unmatched} quantized Conv weight(s) were not written by a scheme bias correction can reproduce: left uncorrected`);
      if (!targets.length) return { pending, entries };

      const opened = await openRunData(floatModel, ctx, "bias-correction", opts.samples ?? 16);
      if (!opened) return { pending, entries };
      let stats;
      const errorOf = new Map<Target, string>();
      stats = await probeChannels(floatModel, [], opened.dataset, {
        samples: Math.min(opts.samples ?? 16, opened.dataset.count), stats: ["mean"],
        extend: (copy, fresh) => {
          const cg = copy.proto.graph!;
          return targets.map((t) => {
            const wName = fresh("bias_correction_dw");
            cg.initializer!.push(makeTensor(wName, DataType.FLOAT, t.dims, t.delta));
            const out = fresh("bias_correction_err");
            cg.node!.push({ op_type: "Conv", name: fresh("bias_correction_conv"), input: [t.floatConv.input![0]!, wName], output: [out], attribute: t.floatConv.attribute });
            errorOf.set(t, out);
            return { tensor: out, rank: t.dims.length };
          });
        },
      });

      const writer = new ConstWriter(g, index);
      let corrected = 0;
      for (const t of targets) {
        const m = stats.get(errorOf.get(t)!)!.mean;
        const biasIn = t.conv.input![2]!;
        const bdq = index.producerNode(biasIn, g);
        const fixed = Float32Array.from(t.bias, (v, o) => v - m[o]!);
        if (bdq && isOnnxOp(bdq, "DequantizeLinear")) {
          const bs = floatConst(model, index, bdq.input?.[1], g);
          if (!bs || index.consumers(biasIn, g).length !== 1) continue;
          const values = new Int32Array(fixed.length);
          let fits = true;
          for (let o = 0; o < fixed.length; o++) {
            const v = roundHalfEven(fixed[o]! / bs.data[bs.data.length > 1 ? o : 0]!);
            if (!(Math.abs(v) <= 2147483647)) fits = false;
            values[o] = v;
          }
          if (!fits) continue;
          // A new tensor under the same name: the quantizer's pending one leaves the graph (packed, unused), and an
          // exporter that walks the pending tensors in order finds the corrected values last under that name.
          const name = bdq.input![0]!;
          const tensor = { name, dims: [fixed.length] };
          g.initializer = [...(g.initializer ?? []).filter((x) => x.name !== name), tensor];
          pending.push({ tensor, values, type: "int32", role: "bias" });
        } else if (floatConst(model, index, biasIn, g)) writer.set(t.conv, 2, fixed, [fixed.length], `${biasIn}_corrected`);
        else continue;
        corrected++;
      }
      writer.finish();
      ctx.logger.info(`bias correction: ${corrected} Conv bias(es) corrected from ${stats.values().next().value?.samples ?? 0} sample(s)`);
      return { pending, entries, notes: corrected ? [`bias correction: ${corrected} Conv bias(es) shifted by the measured mean of their weight quantization error`] : [] };
    },
  });
}
