/**
 * `weight-only` quantizer: every selected float weight becomes integer + scale + zero point + DequantizeLinear
 * (output keeps the weight's name). Per-tensor, per-channel (axis from the consumer op) or block-wise (along the
 * reduction axis); INT8/INT4, symmetric or not, optional clip search. Activations stay float.
 */
import {
  GraphIndex, QuantError, defineQuantizer, dequantizeWeights, findWeights, layerBitsFor, matchesAny, quantizeWeights,
  replaceWithDequantize, sqnrDb, tensorFloat32, weightRole, agreedAxis, DataType, isOnnxOp,
  type Granularity, type Model, type PendingTensor, type QuantType, type ReportEntry, type Weight, type WeightRole,
} from "../../src/index.ts";

/** Options of the `weight-only` quantizer (each defaults to the run's global option). */
export interface WeightOnlyOptions {
  opTypes?: string[];
  bits?: 4 | 8;
  perChannel?: boolean;
  blockSize?: number;
  symmetric?: boolean;
  clipSearch?: boolean;
  /**
   * At 4 bits with the default selection, layers whose INT4 reconstruction SQNR falls below this (dB) are kept at
   * 8 bits instead, as is the layer that produces a graph output (the classifier head). Default 16.
   */
  int4FallbackDb?: number;
}

const DEFAULT_OPS = ["Conv", "ConvTranspose", "MatMul", "Gemm", "Gather"];
const BIAS_OPS = new Set(["Conv", "ConvTranspose", "Gemm"]);
const QUANT_OPS = new Set(["QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"]);

/** Does a weight feed (directly or through Identity) a graph output via its consumers' outputs? */
function feedsGraphOutput(index: GraphIndex, w: Weight): boolean {
  return w.consumers.some((c) => (c.node.output ?? []).some((o) => index.isGraphOutput(o, c.graph)));
}

/** `weight-only` quantizer factory. */
export default function weightOnly(opts: WeightOnlyOptions = {}) {
  return defineQuantizer({
    name: "weight-only",
    options: { ...opts },
    quantize(model: Model, _input, ctx) {
      const o = ctx.options;
      const bits = opts.bits ?? o.bits;
      const explicitOps = opts.opTypes ?? o.opTypes;
      const opTypes = new Set(explicitOps ?? DEFAULT_OPS);
      const blockSize = opts.blockSize ?? o.blockSize;
      const perChannel = opts.perChannel ?? o.perChannel;
      const clipSearch = opts.clipSearch ?? o.clipSearch;
      const fallbackDb = opts.int4FallbackDb ?? 16;
      const index = new GraphIndex(model);
      const unique = (p: string) => index.uniqueName(p);
      const pending: PendingTensor[] = [];
      const entries: ReportEntry[] = [];
      let minOpset = 0;
      const weights = findWeights(model, index);
      if ((model.proto.graph?.node ?? []).some((n) => QUANT_OPS.has(n.op_type ?? "") || /^QLinear|MatMulNBits|Integer$/.test(n.op_type ?? "")))
        ctx.logger.info("the model is already quantized: existing quantized weights are kept as they are");
      ctx.logger.debug(`${weights.length} float constant tensors found`);
      let done = 0;
      for (const w of weights) {
        ctx.at(w.name);
        ctx.progress(done++, weights.length, "weights");
        const skip = (reason: string, extra: Partial<ReportEntry> = {}) =>
          entries.push({ tensor: w.name, action: "skipped", reason, kind: "weight", elements: w.dims.reduce((a, b) => a * b, 1), opType: w.consumers[0]?.opType, ...extra });
        if (w.consumers.some((c) => QUANT_OPS.has(c.opType))) {
          skip("already quantized");
          continue;
        }
        if (w.shadowed) {
          skip("a graph input of the same name can override it");
          continue;
        }
        const roles: WeightRole[] = [];
        let bad: string | undefined;
        for (const c of w.consumers) {
          const role = c.input >= 0 ? weightRole(c.node, c.input, w.dims.length) : undefined;
          if (!role) bad ??= BIAS_OPS.has(c.opType) && c.input === 2 ? "bias" : `not a weight input (${c.opType} input ${c.input})`;
          else if (!opTypes.has(c.opType)) bad ??= `op type ${c.opType} not selected`;
          else roles.push(role);
        }
        if (bad) {
          skip(bad);
          continue;
        }
        const names = [w.name, ...w.consumers.flatMap((c) => [c.node.name, ...(c.node.output ?? [])])];
        const excluded = matchesAny(o.exclude, names);
        if (excluded) {
          skip(`excluded (${excluded})`);
          continue;
        }
        const elements = w.dims.reduce((a, b) => a * b, 1);
        if (elements < o.minElements) {
          skip(`fewer than ${o.minElements} elements`);
          continue;
        }
        if (w.dataType === DataType.DOUBLE) {
          skip("float64 weights are not supported by DequantizeLinear");
          continue;
        }
        let layerBits = layerBitsFor(o.layerBits, names) ?? bits;
        const gran = (b: number): Granularity => {
          if (blockSize && b) {
            const axis = agreedAxis(roles, "blockAxis");
            if (axis !== undefined) return { kind: "block", axis, blockSize };
          }
          if (perChannel || blockSize) {
            const axis = agreedAxis(roles, "channelAxis");
            if (axis !== undefined) return { kind: "channel", axis };
          }
          return { kind: "tensor" };
        };
        const typeFor = (b: number): QuantType => {
          const unsigned = o.weightType === "uint8";
          if (b === 4) return unsigned ? "uint4" : "int4";
          return unsigned ? "uint8" : "int8";
        };
        const data = tensorFloat32(model, w.tensor);
        const run = (b: number) => {
          const granularity = gran(b);
          const spec = { type: typeFor(b), symmetric: o.symmetric ?? false, granularity, clipSearch };
          const q = quantizeWeights(data, w.dims, spec, w.name);
          return { q, granularity, sqnr: sqnrDb(data, dequantizeWeights(q, w.dims)) };
        };
        let r = run(layerBits);
        // INT4 default selection: keep layers where 4 bits costs too much (and the output head) at 8 bits.
        const explicitBits = layerBitsFor(o.layerBits, names) !== undefined;
        let note: string | undefined;
        if (layerBits === 4 && !explicitBits && !explicitOps) {
          if (feedsGraphOutput(index, w)) note = "output layer";
          else if (r.sqnr < fallbackDb) note = `INT4 SQNR ${r.sqnr.toFixed(1)} dB < ${fallbackDb} dB`;
          if (note) {
            layerBits = 8;
            r = run(8);
          }
        }
        const { q, granularity } = r;
        if (granularity.kind === "channel") minOpset = Math.max(minOpset, 13);
        if (granularity.kind === "block") minOpset = Math.max(minOpset, 21);
        if (w.dataType !== DataType.FLOAT) minOpset = Math.max(minOpset, 19);
        const constantNode = w.location === "constant" ? w.node : undefined;
        if (constantNode && !isOnnxOp(constantNode, "Constant")) throw new QuantError("E_GRAPH", `weight ${w.name} comes from a ${constantNode.op_type} node`, { target: w.name });
        pending.push(...replaceWithDequantize({ name: w.name, graph: w.graph, constantNode, dataType: w.dataType, dims: w.dims }, q, unique));
        const paramBytes = q.scale.length * (w.dataType === DataType.FLOAT ? 4 : 2) + Math.ceil((q.zeroPoint.length * layerBits) / 8);
        entries.push({
          tensor: w.name,
          action: "quantized",
          kind: "weight",
          reason: note ? `kept at 8 bits: ${note}` : undefined,
          node: w.consumers[0]?.node.name,
          opType: w.consumers[0]?.opType,
          type: q.type,
          granularity: granularity.kind === "tensor" ? "per-tensor" : granularity.kind === "channel" ? `per-channel axis ${granularity.axis}` : `block ${granularity.blockSize} axis ${granularity.axis}`,
          elements,
          bytesBefore: w.bytes,
          bytesAfter: Math.ceil((elements * layerBits) / 8) + paramBytes,
          sqnrDb: r.sqnr,
          relError: 10 ** (-r.sqnr / 20),
        });
      }
      ctx.progress(weights.length, weights.length, "weights");
      return { pending, entries, minOpset };
    },
  });
}
