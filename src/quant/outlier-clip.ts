/**
 * Outlier weights: one weight of 1.22 among others ≤ 0.021 in a channel sets that channel's int8 step to 0.0096, and
 * the other weights keep 2–4 codes (weight-only INT8 then caps near 23.6 dB). Clipping the channel at c < max trades
 * the outlier's clipping error for finer steps everywhere else. Which c is best depends on what the layer's output
 * loses, not on the weight error: an outlier on an input channel that carries much signal must stay.
 *
 * Criterion per output channel o, with measured per-input-channel statistics of the layer's input (mean μ_i,
 * variance σ²_i): the output error Σ_i,k Δw_ik² σ²_i (inputs taken as uncorrelated), Δw = Q_c(w) − w where Q_c is
 * symmetric int8 with step c/127 and clamping at ±c. The mean part of the clipping error, Σ (clip(w) − w)_ik μ_i, is
 * folded into the bias, so it does not count. The chosen clip is written into the float weight itself: a quantizer
 * that scales by max-abs (static-qdq, weight-only) then uses exactly step c/127.
 * Only channels with max|w| ≥ `ratio` × the rms of their other weights are searched (Gaussian-like ones are not).
 */
import { GraphIndex, isOnnxOp } from "../onnx/graph.ts";
import type { Model } from "../onnx/model.ts";
import type { NodeProto } from "../onnx/types.ts";
import { ConstWriter, floatConst, intAttr, type FloatConst } from "./conv-consts.ts";

/** A Conv or Gemm whose weight has outlier channels, and the input whose statistics decide. */
export interface OutlierTarget {
  readonly node: NodeProto;
  /** The layer's input (channel axis 1). */
  readonly input: string;
  readonly rank: number;
  /** Output channels with max|w| ≥ ratio × the rms of their other weights. */
  readonly channels: number[];
}

/** Options of {@link findOutlierTargets} and {@link clipOutliers}. */
export interface OutlierClipOptions {
  /** A channel is searched when max|w| ≥ ratio × the rms of its other weights. Default 6. */
  ratio?: number;
  /** Clip candidates per channel, geometric between max|w| and the rms of the other weights. Default 32. */
  candidates?: number;
}

/** Weight layout of a target: output channel o, input channel i, tap k → flat index; counts. */
interface Layout {
  out: number;
  inPerGroup: number;
  taps: number;
  groupOut: number;
  index(o: number, li: number, t: number): number;
}

function layoutOf(node: NodeProto, w: FloatConst): Layout | undefined {
  if (isOnnxOp(node, "Conv")) {
    const [out, inPerGroup] = w.dims as [number, number];
    const taps = w.data.length / (out * inPerGroup);
    const group = intAttr(node, "group", 1);
    return { out, inPerGroup, taps, groupOut: out / group, index: (o, li, t) => (o * inPerGroup + li) * taps + t };
  }
  if (isOnnxOp(node, "Gemm") && w.dims.length === 2 && intAttr(node, "transA", 0) === 0) {
    const [r, c] = w.dims as [number, number];
    // transB: B is [N, K] (row o); else [K, N] (column o).
    return intAttr(node, "transB", 0)
      ? { out: r, inPerGroup: c, taps: 1, groupOut: r, index: (o, li) => o * c + li }
      : { out: c, inPerGroup: r, taps: 1, groupOut: c, index: (o, li) => li * c + o };
  }
  return undefined;
}

function outlierChannels(w: FloatConst, l: Layout, ratio: number): number[] {
  const found: number[] = [];
  const n = l.inPerGroup * l.taps;
  for (let o = 0; o < l.out; o++) {
    let mx = 0;
    let sq = 0;
    for (let li = 0; li < l.inPerGroup; li++)
      for (let t = 0; t < l.taps; t++) {
        const v = Math.abs(w.data[l.index(o, li, t)]!);
        if (v > mx) mx = v;
        sq += v * v;
      }
    // Against the rms of the other weights: a single outlier dominates the channel's own rms.
    if (n > 8 && mx > 0 && mx >= ratio * Math.sqrt(Math.max(0, sq - mx * mx) / (n - 1))) found.push(o);
  }
  return found;
}

/** Conv/Gemm nodes of the main graph with float weights holding outlier channels. */
export function findOutlierTargets(model: Model, options: OutlierClipOptions = {}): OutlierTarget[] {
  const index = new GraphIndex(model);
  const g = index.main.graph;
  const out: OutlierTarget[] = [];
  for (const node of g.node ?? []) {
    const w = floatConst(model, index, node.input?.[1], g);
    if (!w || !node.input?.[0]) continue;
    const l = layoutOf(node, w);
    if (!l) continue;
    const channels = outlierChannels(w, l, options.ratio ?? 6);
    if (channels.length) out.push({ node, input: node.input[0], rank: isOnnxOp(node, "Conv") ? w.dims.length : 2, channels });
  }
  return out;
}

const node = (t: OutlierTarget) => t.node;

/** Output error (up to a constant) of channel o quantized with clip c: Σ Δw² σ². */
function clipError(w: Float32Array, l: Layout, o: number, c: number, variance: ArrayLike<number>, firstIn: number): number {
  const step = c / 127;
  let e = 0;
  for (let li = 0; li < l.inPerGroup; li++) {
    const v = variance[firstIn + li]!;
    for (let t = 0; t < l.taps; t++) {
      const x = w[l.index(o, li, t)]!;
      const q = Math.max(-128, Math.min(127, Math.round(x / step))) * step;
      e += (q - x) * (q - x) * v;
    }
  }
  return e;
}

/**
 * Clip the outlier channels of `targets` where the measured output error says so, fold the mean of the clipping error
 * into the bias, in place. `stats` holds per-channel mean and mean square of each target's input.
 */
export function clipOutliers(
  model: Model,
  targets: readonly OutlierTarget[],
  stats: ReadonlyMap<string, { readonly mean: ArrayLike<number>; readonly meanSquare: ArrayLike<number> }>,
  options: OutlierClipOptions = {},
): { channels: number; nodes: number; errorBefore: number; errorAfter: number } {
  const index = new GraphIndex(model);
  const g = index.main.graph;
  const writer = new ConstWriter(g, index);
  const steps = options.candidates ?? 32;
  let channels = 0;
  let nodes = 0;
  let errorBefore = 0;
  let errorAfter = 0;
  for (const t of targets) {
    const s = stats.get(t.input);
    const w = floatConst(model, index, t.node.input![1], g);
    const l = w && layoutOf(t.node, w);
    if (!s || !w || !l) continue;
    const variance = Float64Array.from(s.meanSquare, (m2, i) => Math.max(0, m2 - Number(s.mean[i]) ** 2));
    const biasName = t.node.input?.[2];
    const b = biasName ? floatConst(model, index, biasName, g) : undefined;
    if (biasName && (!b || b.data.length !== l.out)) continue;
    const bias = b?.data ?? new Float32Array(l.out);
    // Gemm: y = α·A·B + β·C, so a shift of the product moves C by α/β of it.
    const f = (name: string, d: number) => node(t).attribute?.find((a) => a.name === name)?.f ?? d;
    const toBias = isOnnxOp(t.node, "Gemm") ? f("alpha", 1) / f("beta", 1) : 1;
    if (!Number.isFinite(toBias)) continue;
    let clipped = 0;
    for (const o of t.channels) {
      const firstIn = Math.floor(o / l.groupOut) * l.inPerGroup;
      let mx = 0;
      let sq = 0;
      for (let li = 0; li < l.inPerGroup; li++)
        for (let k = 0; k < l.taps; k++) {
          const v = Math.abs(w.data[l.index(o, li, k)]!);
          mx = Math.max(mx, v);
          sq += v * v;
        }
      const floor = Math.sqrt(Math.max(0, sq - mx * mx) / (l.inPerGroup * l.taps - 1)) || mx / 128;
      const none = clipError(w.data, l, o, mx, variance, firstIn);
      let best = none;
      let bestC = mx;
      for (let k = 1; k <= steps; k++) {
        const c = mx * (floor / mx) ** (k / steps);
        const e = clipError(w.data, l, o, c, variance, firstIn);
        if (e < best) (best = e), (bestC = c);
      }
      errorBefore += none;
      errorAfter += best;
      if (bestC >= mx || best > none * 0.99) continue;
      let shift = 0;
      for (let li = 0; li < l.inPerGroup; li++)
        for (let k = 0; k < l.taps; k++) {
          const at = l.index(o, li, k);
          const x = w.data[at]!;
          const c = Math.max(-bestC, Math.min(bestC, x));
          shift += (c - x) * Number(s.mean[firstIn + li]);
          w.data[at] = c;
        }
      bias[o] = bias[o]! - shift * toBias;
      clipped++;
    }
    if (!clipped) continue;
    channels += clipped;
    nodes++;
    writer.set(t.node, 1, w.data, w.dims, `${t.node.input![1]}_clipped`);
    if (isOnnxOp(t.node, "Conv") || b) writer.set(t.node, 2, bias, [l.out], `${biasName || `${t.node.name || "node"}_bias`}_clipped`);
  }
  writer.finish();
  return { channels, nodes, errorBefore, errorAfter };
}
