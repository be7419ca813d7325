/**
 * `float-spread-outputs` quantizer: leaves float the activations that only exist quantized so their producer fuses,
 * when their channel ranges are far apart. static-qdq quantizes every Conv output so the Conv runs as QLinearConv; when
 * the DequantizeLinear after it feeds only ops that run in float (a Mul by a constant, a Sigmoid, a Transpose into a
 * detection head) and the channels' ranges spread `minSpread`× or more, one scale leaves the narrow channels a few
 * codes (issue 13's detector: 3.4 dB lost on one such tensor). This drops that Q/DQ pair: the tensor stays exact and
 * its producer runs in float.
 *
 * Per-channel scales there instead do not work in ONNX Runtime: it fuses DequantizeLinear → Conv → QuantizeLinear
 * into QLinearConv whatever the Q's axis, the session loads, and the first run fails ("QLinearConv : result zero point
 * must be a scalar or 1D tensor of size 1", onnxruntime-node 1.30). A per-axis Q is only possible after an op ORT does
 * not fuse, where the Q/DQ pair serves nothing when float ops read it — so the remedy is the float tensor.
 *
 * Place it right after static-qdq: `plugins: [normalize, minmax, static-qdq, float-spread-outputs, int8]`.
 * Channel ranges are measured on the calibration data (first `samples` samples) through the float model.
 */
import {
  ConstWriter, GraphIndex, cloneModel, defineQuantizer, floatConst, isOnnxOp, openRunData, probeChannels, removeNodes,
  replaceUses, spread, type Model, type NodeProto, type OptionKeys, type PendingTensor,
} from "../../src/index.ts";

/** Options of `float-spread-outputs`. */
export interface FloatSpreadOutputsOptions {
  /** Only tensors whose channel ranges spread at least this much (max / median of max|x_i|). Default 8. */
  minSpread?: number;
  /** Calibration samples measured. Default 16. */
  samples?: number;
}

/** The options this plugin takes: a config giving any other key is refused (E_CONFIG). */
export const optionKeys: OptionKeys<FloatSpreadOutputsOptions> = { minSpread: true, samples: true };

/** `float-spread-outputs` quantizer factory. */
export default function floatSpreadOutputs(opts: FloatSpreadOutputsOptions = {}) {
  let floatModel: Model | undefined;
  return defineQuantizer({
    name: "float-spread-outputs",
    options: opts as Record<string, unknown>,
    activations(model) {
      floatModel = cloneModel(model);
      return [];
    },
    async quantize(model, _input, ctx) {
      const pending: PendingTensor[] = [];
      if (!floatModel) throw new Error("float-spread-outputs needs the calibrate phase to run (it keeps the float model then)");
      const index = new GraphIndex(model);
      const g = index.main.graph;
      const fIndex = new GraphIndex(floatModel);
      // Per-tensor Qs of a float-model tensor whose every DequantizeLinear reader feeds ops that are not re-quantized.
      const candidates: { q: NodeProto; dqs: NodeProto[]; tensor: string; rank: number }[] = [];
      for (const q of g.node ?? []) {
        if (!isOnnxOp(q, "QuantizeLinear") || q.attribute?.some((a) => a.name === "axis")) continue;
        const x = q.input?.[0];
        const scale = floatConst(model, index, q.input?.[1], g);
        if (!x || !scale || scale.data.length !== 1 || !fIndex.producerNode(x)) continue;
        const readers = index.consumers(q.output![0]!, g);
        if (!readers.length || !readers.every((r) => isOnnxOp(r.node, "DequantizeLinear") && r.node.input?.[1] === q.input![1])) continue;
        const floatOnly = readers.every((r) =>
          index.consumers(r.node.output![0]!, g).every((c) => c.node.op_type !== "QuantizeLinear" && (c.node.output ?? []).every((o) => index.consumers(o, g).every((cc) => !isOnnxOp(cc.node, "QuantizeLinear")))),
        );
        const rank = rankOf(floatModel, fIndex, x);
        if (floatOnly && rank !== undefined && rank >= 3) candidates.push({ q, dqs: readers.map((r) => r.node), tensor: x, rank });
      }
      if (!candidates.length) return { pending, entries: [] };
      const opened = await openRunData(floatModel, ctx, "float-spread-outputs", opts.samples ?? 16);
      if (!opened) return { pending, entries: [] };
      let stats;
      stats = await probeChannels(floatModel, candidates.map((c) => ({ tensor: c.tensor, rank: c.rank })), opened.dataset, { samples: Math.min(opts.samples ?? 16, opened.dataset.count), stats: ["absMax"] });
      const minSpread = opts.minSpread ?? 8;
      const writer = new ConstWriter(g, index);
      const gone: NodeProto[] = [];
      let changed = 0;
      for (const c of candidates) {
        const s = stats.get(c.tensor)!;
        if (spread(s.absMax) < minSpread) continue;
        writer.release(c.q.input![1]!);
        if (c.q.input?.[2]) writer.release(c.q.input[2]);
        for (const dq of c.dqs) replaceUses(g, dq.output![0]!, c.tensor);
        gone.push(c.q, ...c.dqs);
        changed++;
      }
      removeNodes(g, gone);
      writer.finish();
      if (changed) ctx.logger.info(`${changed} activation(s) read only by float ops, with channel ranges ≥ ${minSpread}× apart, left float (their producers run in float)`);
      const kept = candidates.filter((c) => gone.includes(c.q)).map((c) => `${c.tensor} (${spread(stats.get(c.tensor)!.absMax).toFixed(0)}×)`);
      return { pending, entries: [], notes: changed ? [`${changed} activation(s) with far-apart channel ranges read only by float ops kept float: ${kept.join(", ")}`] : [] };
    },
  });
}

/** Rank of a value: its declared shape, else a Conv's output rank (its weight's). */
function rankOf(model: Model, index: GraphIndex, name: string): number | undefined {
  const known = index.shapeOf(name)?.length;
  if (known !== undefined) return known;
  const p = index.producerNode(name);
  if (p && isOnnxOp(p, "Conv")) return floatConst(model, index, p.input?.[1])?.dims.length;
  return undefined;
}
