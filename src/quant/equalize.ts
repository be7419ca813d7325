/**
 * Cross-layer equalization (Nagel et al. 2019, "Data-Free Quantization Through Weight Equalization and Bias
 * Correction"): for a Conv P whose output channel i reaches a Conv C only through ops that commute with a positive
 * per-channel scale, dividing P's output channel i by s_i and multiplying C's input channel i by s_i computes the same
 * function, while the per-tensor activation between them and C's weights see equalized channel ranges. On depthwise →
 * pointwise pairs the depthwise outputs' channel ranges can be 50× apart, leaving the narrow channels a few codes.
 *
 * Scale-equivariant ops on the way (f(x/s) = f(x)/s for s > 0, exactly): Relu, PRelu, LeakyRelu, MaxPool,
 * AveragePool, GlobalAveragePool, Identity, a Clip whose bounds are 0 or ±∞, a Mul by a per-channel constant; an Add/Sub
 * of a per-channel constant β commutes once β is divided by s too. A Clip with another bound (Relu6) does not scale:
 * such pairs are left alone (exactness first). The value may fan out to several Convs; every reader must be one.
 *
 * Scales: `weights` (data-free, Nagel): r1_i = max|W_P[i]|, r2_i = max|W_C[:, i]|, s_i = √(r1_i / r2_i), iterated over
 * all pairs (each pair changes its neighbours' ranges). `data`: r1_i = the measured max|x_i| of the activation the
 * quantizer will see (channel stats from calibration data), which also accounts for biases.
 */
import { GraphIndex, isOnnxOp } from "../onnx/graph.ts";
import type { Model } from "../onnx/model.ts";
import type { NodeProto } from "../onnx/types.ts";
import { ConstWriter, floatConst, intAttr, perChannelValues, type FloatConst } from "./conv-consts.ts";

/** One equalizable pair: producer Conv, the ops between, the reading Convs, and the activation the quantizer sees. */
export interface EqualizePair {
  readonly producer: NodeProto;
  /** Nodes between producer and readers, in order. */
  readonly between: NodeProto[];
  readonly readers: NodeProto[];
  /** The value the readers read (the activation that gets quantized). */
  readonly activation: string;
  /**
   * Every value between the two Convs a quantizer may quantize — all scaled by the same 1/s_i: the producer's output
   * (unless a Relu/Clip follows, which fuses into the Conv) and each op's output. A PRelu's input matters: a channel
   * that is mostly negative has a small output range but a large input range.
   */
  readonly values: string[];
  /** Its rank (the producer weight's). */
  readonly rank: number;
  readonly channels: number;
}

const HOMOGENEOUS = new Set(["Relu", "PRelu", "LeakyRelu", "MaxPool", "AveragePool", "GlobalAveragePool", "Identity"]);

/** Whether `node` (reading the value at input 0) commutes with a positive per-channel scale, possibly after rescaling a constant. */
function commutes(model: Model, index: GraphIndex, node: NodeProto, rank: number, channels: number): "yes" | "shift" | false {
  if (node.domain && node.domain !== "ai.onnx") return false;
  const op = node.op_type ?? "";
  if (HOMOGENEOUS.has(op)) {
    if (op === "PRelu") {
      const slope = floatConst(model, index, node.input?.[1]);
      return slope && perChannelValues(slope, rank, channels) ? "yes" : false;
    }
    return "yes";
  }
  if (op === "Clip") {
    const bound = (slot: number, attr: string, inf: number): number | undefined => {
      const name = node.input?.[slot];
      if (name) {
        const c = floatConst(model, index, name);
        return c && c.data.length === 1 ? c.data[0]! : undefined;
      }
      const a = node.attribute?.find((x) => x.name === attr);
      return a ? (a.f ?? inf) : inf;
    };
    const lo = bound(1, "min", -Infinity);
    const hi = bound(2, "max", Infinity);
    const ok = (v: number | undefined) => v === 0 || v === Infinity || v === -Infinity || (v !== undefined && Math.abs(v) >= 3.4e38);
    return ok(lo) && ok(hi) ? "yes" : false;
  }
  if (op === "Mul" || op === "Add" || op === "Sub") {
    const k = floatConst(model, index, node.input?.[1]);
    if (!k || !perChannelValues(k, rank, channels)) return false;
    return op === "Mul" ? "yes" : "shift";
  }
  return false;
}

/** Equalizable pairs of the main graph (each producer at most once). */
export function findEqualizePairs(model: Model, index = new GraphIndex(model)): EqualizePair[] {
  const g = index.main.graph;
  const pairs: EqualizePair[] = [];
  for (const p of g.node ?? []) {
    if (!isOnnxOp(p, "Conv") || (p.output ?? []).length !== 1) continue;
    const w = floatConst(model, index, p.input?.[1], g);
    if (!w) continue;
    const rank = w.dims.length;
    const channels = w.dims[0]!;
    if (p.input?.[2] && !floatConst(model, index, p.input[2], g)) continue;
    const between: NodeProto[] = [];
    let value = p.output![0]!;
    let readers: NodeProto[] | undefined;
    for (;;) {
      if (index.isGraphOutput(value, g)) break;
      const cs = index.consumers(value, g);
      if (!cs.length) break;
      if (cs.every((c) => isOnnxOp(c.node, "Conv") && c.input === 0)) {
        readers = cs.map((c) => c.node);
        break;
      }
      if (cs.length !== 1 || cs[0]!.input !== 0) break;
      const n = cs[0]!.node;
      if (!commutes(model, index, n, rank, channels) || (n.output ?? []).filter(Boolean).length !== 1) break;
      between.push(n);
      value = n.output![0]!;
    }
    if (!readers) continue;
    const fits = readers.every((c) => {
      const cw = floatConst(model, index, c.input?.[1], g);
      if (!cw || cw.dims.length !== rank) return false;
      const group = intAttr(c, "group", 1);
      return cw.dims[1]! * group === channels && cw.dims[0]! % group === 0 && (!c.input?.[2] || !!floatConst(model, index, c.input[2], g));
    });
    const values = [...(between[0] && ["Relu", "Clip"].includes(between[0].op_type ?? "") ? [] : [p.output![0]!]), ...between.map((n) => n.output![0]!)];
    if (fits) pairs.push({ producer: p, between, readers, activation: value, values, rank, channels });
  }
  return pairs;
}

/** Options of {@link equalize}. */
export interface EqualizeOptions {
  /** Rounds over all pairs (each pair changes its neighbours' weight ranges). Default 8. */
  rounds?: number;
  /** Measured max|x| per channel of the values between each pair (keyed by value, see {@link EqualizePair.values}): the `data` method. */
  activationStats?: ReadonlyMap<string, Pick<ActivationStats, "absMax">>;
  /**
   * `data` only: leave a pair alone when its activation's channel ranges are within this factor of each other
   * (max / median of the measured max|x_i|). Default 8: within a few ×, the per-tensor activation already resolves every
   * channel and scaling the reader's input columns costs its per-channel weights more than it gains (measured: see
   * the README's remedies table). 0 equalizes every pair.
   */
  minSpread?: number;
  /**
   * Strength: s_i = (r1_i / r2_i)^alpha. 0.5 (default) makes both ranges √(r1_i·r2_i); lower leaves more of the spread
   * in the activation, higher moves more of it into the reader's weights.
   */
  alpha?: number;
  /** Bound on each scale factor, both ways (default 1e4): keeps weights away from subnormals. */
  maxScale?: number;
}

/** Per-channel statistics of an activation (from {@link probeChannels}). */
export interface ActivationStats {
  readonly min: Float64Array;
  readonly max: Float64Array;
  readonly absMax: Float64Array;
  readonly meanSquare: Float64Array;
}

/** How far apart channel ranges are: max / median of the non-zero ones (1 when none). */
export function spread(ranges: ArrayLike<number>): number {
  const v = Array.from(ranges).filter((x) => x > 0).sort((a, b) => a - b);
  return v.length ? v[v.length - 1]! / v[v.length >> 1]! : 1;
}

/** Element-wise max of per-channel arrays. */
function maxOver(arrays: readonly ArrayLike<number>[], n: number): Float64Array {
  const out = new Float64Array(n);
  for (const a of arrays) for (let i = 0; i < n; i++) out[i] = Math.max(out[i]!, a[i]!);
  return out;
}

/** max |w| over the input channel i of a reader Conv (every output channel of i's group). */
function inputChannelRange(w: FloatConst, group: number, i: number): number {
  const [cout, cinG] = w.dims as [number, number];
  const k = w.data.length / (cout * cinG);
  const coutG = cout / group;
  const gi = Math.floor(i / cinG);
  const li = i % cinG;
  let r = 0;
  for (let o = gi * coutG; o < (gi + 1) * coutG; o++) {
    const base = (o * cinG + li) * k;
    for (let t = 0; t < k; t++) r = Math.max(r, Math.abs(w.data[base + t]!));
  }
  return r;
}

/** Equalize every pair in place; returns the pairs and the cumulative scale each activation channel was divided by. */
export function equalize(model: Model, options: EqualizeOptions = {}): { pairs: number; scales: Map<string, Float64Array> } {
  const rounds = options.rounds ?? 8;
  const maxScale = options.maxScale ?? 1e4;
  const alpha = options.alpha ?? 0.5;
  const scales = new Map<string, Float64Array>();
  const left = new Set<string>();
  let count = 0;
  for (let round = 0; round < rounds; round++) {
    const index = new GraphIndex(model);
    const g = index.main.graph;
    const writer = new ConstWriter(g, index);
    const pairs = findEqualizePairs(model, index);
    // Constants rewritten earlier in this round (a Conv is often one pair's reader and the next pair's producer).
    const fresh = new Map<string, FloatConst>();
    const get = (name: string) => fresh.get(name) ?? floatConst(model, index, name, g)!;
    const put = (node: NodeProto, slot: number, c: FloatConst, prefix: string) => {
      const name = writer.set(node, slot, c.data, c.dims, prefix);
      fresh.set(name, { tensor: c.tensor, dims: c.dims, data: c.data });
    };
    count = pairs.length;
    if (!pairs.length) break;
    let moved = 0;
    for (const pair of pairs) {
      const { producer, readers, channels } = pair;
      const w1 = get(producer.input![1]!);
      const b1 = producer.input?.[2] ? get(producer.input[2]) : undefined;
      const ws = readers.map((c) => ({ node: c, w: get(c.input![1]!), group: intAttr(c, "group", 1) }));
      const per1 = w1.data.length / channels;
      const cumulative = scales.get(pair.activation) ?? new Float64Array(channels).fill(1);
      const stats = options.activationStats;
      const measured = stats && pair.values.every((v) => stats.has(v)) ? maxOver(pair.values.map((v) => stats.get(v)!.absMax), channels) : undefined;
      const ratio = new Float64Array(channels);
      for (let i = 0; i < channels; i++) {
        let r1 = 0;
        if (measured) r1 = measured[i]! / cumulative[i]!;
        else for (let t = i * per1; t < (i + 1) * per1; t++) r1 = Math.max(r1, Math.abs(w1.data[t]!));
        let r2 = 0;
        for (const r of ws) r2 = Math.max(r2, inputChannelRange(r.w, r.group, i));
        ratio[i] = r1 > 0 && r2 > 0 ? r1 / r2 : 1;
      }
      if (measured && round === 0 && spread(measured) < (options.minSpread ?? 8)) left.add(pair.activation);
      const s = left.has(pair.activation) ? new Float64Array(channels).fill(1) : ratio.map((v) => Math.min(maxScale, Math.max(1 / maxScale, v ** alpha)));
      for (let i = 0; i < channels; i++) if (Math.abs(Math.log(s[i]!)) > 1e-3) moved++;
      for (let i = 0; i < channels; i++) {
        for (let t = i * per1; t < (i + 1) * per1; t++) w1.data[t] = w1.data[t]! / s[i]!;
        if (b1) b1.data[i] = b1.data[i]! / s[i]!;
        cumulative[i]! *= s[i]!;
      }
      scales.set(pair.activation, cumulative);
      put(producer, 1, w1, `${producer.input![1]}_eq`);
      if (b1) put(producer, 2, b1, `${producer.input![2]}_eq`);
      for (const n of pair.between) {
        if (n.op_type !== "Add" && n.op_type !== "Sub") continue;
        const k = get(n.input![1]!);
        const v = perChannelValues(k, pair.rank, channels)!;
        for (let i = 0; i < channels; i++) v[i] = v[i]! / s[i]!;
        put(n, 1, { tensor: k.tensor, dims: [channels, ...Array(pair.rank - 2).fill(1)], data: v }, `${n.input![1]}_eq`);
      }
      for (const r of ws) {
        const [cout, cinG] = r.w.dims as [number, number];
        const k = r.w.data.length / (cout * cinG);
        const coutG = cout / r.group;
        for (let o = 0; o < cout; o++) {
          const gi = Math.floor(o / coutG);
          for (let li = 0; li < cinG; li++) {
            const sc = s[gi * cinG + li]!;
            const base = (o * cinG + li) * k;
            for (let t = 0; t < k; t++) r.w.data[base + t] = r.w.data[base + t]! * sc;
          }
        }
        put(r.node, 1, r.w, `${r.node.input![1]}_eq`);
      }
    }
    writer.finish();
    if (!moved) break;
  }
  return { pairs: count - left.size, scales };
}
