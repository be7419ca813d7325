/**
 * Static quantization's second pass over weights: the ones Q/DQ placement does not rewire because no integer kernel
 * reads them directly — weights behind data-movement chains (an LSTMCell's packed weights → Slice → MatMul), the
 * W/R inputs of LSTM/GRU/RNN, embedding tables read by Gather. Each gets a DequantizeLinear at the weight itself
 * (before its chain), per-channel on the consumer's output-channel axis traced back through the chain, else
 * per-tensor. The ops keep running in float; the file stores them as integers.
 */
import {
  DataType, GraphIndex, agreedAxis, granularityLabel, explicitPerms, findWeights, matchesAny, quantizeWeights, readsShapeOnly, replaceWithDequantize, tensorFloat32, weightUse,
  type Model, type PendingTensor, type QuantType, type ReportEntry, type Weight, type WeightUse,
} from "../../../src/index.ts";

/** Consumers whose weights only this pass quantizes (placement has no integer kernel for them). */
export const WEIGHT_ONLY_OPS: ReadonlySet<string> = new Set(["LSTM", "GRU", "RNN", "Gather"]);

/** What the pass may do. */
export interface ChainWeightOptions {
  readonly weightType: "int8" | "uint8";
  readonly symmetric: boolean;
  readonly perChannel: boolean;
  /** Op types whose weights may be quantized. */
  readonly opTypes: ReadonlySet<string>;
  /** Weight or node names (exact or globs) to keep float. */
  readonly exclude: readonly string[];
}

/** What {@link quantizeChainWeights} returns. */
export interface ChainWeightResult {
  pending: PendingTensor[];
  entries: ReportEntry[];
  /** 13 when a per-channel DequantizeLinear was written, else 0. */
  minOpset: number;
}

/** True when this pass (not placement) owns the weight: a use through a chain, or by a weight-only op. */
function ownedHere(uses: readonly WeightUse[]): boolean {
  return uses.some((u) => WEIGHT_ONLY_OPS.has(u.opType) || u.steps.some((s) => s.node.op_type !== "Identity"));
}

/**
 * Quantize, in the main graph of `model` (already rewritten by placement), the float32 weights only reached through
 * chains or read by LSTM/GRU/RNN/Gather. Weights with any other reader (a bias, an elementwise op) stay float.
 */
export function quantizeChainWeights(model: Model, opts: ChainWeightOptions): ChainWeightResult {
  const index = new GraphIndex(model);
  const main = index.main.graph;
  const result: ChainWeightResult = { pending: [], entries: [], minOpset: 0 };
  const skip = (w: Weight, uses: readonly WeightUse[], reason: string) =>
    result.entries.push({ tensor: w.name, action: "skipped", kind: "weight", reason, node: uses[0]?.node.name ?? "", opType: uses[0]?.opType ?? "" });
  for (const w of findWeights(model, index)) {
    if (w.shadowed || w.graph !== main || w.outerScope || w.dataType !== DataType.FLOAT) continue;
    const uses: WeightUse[] = [];
    let other = false;
    for (const c of w.consumers) {
      if (readsShapeOnly(c)) continue;
      const u = weightUse(c, w.dims);
      if (u) uses.push(u);
      else other = true;
    }
    if (!uses.length || !ownedHere(uses)) continue;
    if (other) continue; // also read as a bias or by an elementwise op: not a weight, left as placement left it
    const off = uses.find((u) => !opts.opTypes.has(u.opType));
    if (off) {
      skip(w, uses, `op type ${off.opType} not selected`);
      continue;
    }
    const names = [w.name, ...uses.flatMap((u) => [u.node.name, ...u.steps.map((s) => s.node.name)])];
    const excluded = opts.exclude.length ? matchesAny(opts.exclude, names) : undefined;
    if (excluded) {
      skip(w, uses, `excluded (${excluded})`);
      continue;
    }
    const axis = opts.perChannel ? agreedAxis(uses.map((u) => u.role), "channelAxis") : undefined;
    const data = tensorFloat32(model, w.tensor);
    const q = quantizeWeights(data, w.dims, {
      type: opts.weightType as QuantType,
      symmetric: opts.symmetric,
      granularity: axis === undefined ? { kind: "tensor" } : { kind: "channel", axis },
      measure: true,
    }, w.name);
    if (axis !== undefined) result.minOpset = 13;
    const constantNode = w.location === "constant" ? w.node : undefined;
    for (const c of w.consumers) explicitPerms(c.steps);
    result.pending.push(...replaceWithDequantize({ name: w.name, graph: w.graph, constantNode, dataType: w.dataType, dims: w.dims }, q, (p) => index.uniqueName(p)));
    const chain = uses.find((u) => u.steps.some((s) => s.node.op_type !== "Identity"));
    const rep = chain ?? uses[0]!; // the use the report names: the one through a chain when there is one
    const untraced = opts.perChannel && axis === undefined ? uses.find((u) => u.untraced) : undefined;
    result.entries.push({
      tensor: w.name, action: "quantized", kind: "weight", node: rep.node.name ?? "", opType: rep.opType, type: opts.weightType,
      ...(chain ? { via: chain.steps.map((s) => s.node.op_type ?? "").join(" → ") } : {}),
      ...(untraced ? { reason: `per-tensor: ${untraced.steps.map((s) => s.node.op_type).join(" → ")} mixes the channel axis of ${untraced.opType}` } : {}),
      granularity: granularityLabel(axis !== undefined ? { kind: "channel", axis } : { kind: "tensor" }), elements: data.length,
      bytesBefore: w.bytes, bytesAfter: data.length + q.scale.length * 5, sqnrDb: q.sqnrDb!, relError: 10 ** (-q.sqnrDb! / 20),
    });
  }
  return result;
}
