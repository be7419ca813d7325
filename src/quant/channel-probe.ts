/**
 * Per-channel statistics of float activations over calibration data, reduced inside the graph: a copy of the model
 * gets, per probed tensor, `ReduceMax(Abs(x))`, `ReduceMin(x)`, `ReduceMax(x)` and `ReduceMean(x)` over every axis
 * but the channel axis (1) as extra outputs, so only C numbers per tensor and sample leave onnxruntime. Used by the
 * data-aware remedies (equalization from measured ranges, empirical bias correction), which need channel-resolved
 * numbers the calibrators do not keep.
 */
import { QuantError } from "../errors/errors.ts";
import { cloneModel } from "../onnx/codec.ts";
import { makeAttribute } from "../onnx/builder.ts";
import { opsetVersion } from "../onnx/graph.ts";
import { makeTensor } from "../onnx/tensor-data.ts";
import type { Model } from "../onnx/model.ts";
import type { NodeProto } from "../onnx/types.ts";
import { DataType } from "../tensor/dtypes.ts";
import type { CalibrationDataset } from "../data/dataset.ts";
import { RuntimeSession, SINGLE_THREAD } from "../runtime/session.ts";

/** Per-channel statistics of one tensor over every sample and position. */
export interface ChannelStats {
  /** max |x| per channel. */
  readonly absMax: Float64Array;
  readonly min: Float64Array;
  readonly max: Float64Array;
  /** Mean per channel (over samples and positions). */
  readonly mean: Float64Array;
  /** Mean of squares per channel. */
  readonly meanSquare: Float64Array;
  /** Samples seen. */
  readonly samples: number;
}

/** A tensor to probe: its name and rank (channel axis 1). */
export interface ProbeTarget {
  readonly tensor: string;
  readonly rank: number;
}

/** The statistics {@link probeChannels} can reduce. */
export type ChannelStat = "absMax" | "min" | "max" | "mean" | "meanSquare";

/** Options of {@link probeChannels}. */
export interface ProbeOptions {
  /** Samples run (default: all the dataset has). */
  samples?: number;
  /** Extra nodes and targets added to the probed copy. */
  extend?: ProbeExtension;
  /** Statistics to reduce (default all); the others come back as NaN. Fewer reductions, faster runs. */
  stats?: readonly ChannelStat[];
}

/**
 * Extra nodes computed from the probed values before reduction (e.g. a Conv of the input with a weight-error kernel):
 * `build(model)` adds nodes to the copy and returns `{ tensor, rank }` targets whose statistics are wanted.
 */
export type ProbeExtension = (copy: Model, fresh: (prefix: string) => string) => ProbeTarget[];

/**
 * Run `model` (float) over `samples` samples of `dataset` one at a time and return per-channel statistics of each
 * target (and of the targets `extend` adds to the copy). The model itself is not modified.
 */
export async function probeChannels(model: Model, targets: readonly ProbeTarget[], dataset: CalibrationDataset, options: ProbeOptions = {}): Promise<Map<string, ChannelStats>> {
  const want = new Set<ChannelStat>(options.stats ?? ["absMax", "min", "max", "mean", "meanSquare"]);
  const copy = cloneModel(model);
  const g = copy.proto.graph!;
  const taken = new Set<string>();
  for (const n of g.node ?? []) for (const o of n.output ?? []) taken.add(o);
  for (const t of g.initializer ?? []) taken.add(t.name!);
  for (const i of g.input ?? []) taken.add(i.name!);
  let k = 0;
  const fresh = (p: string) => {
    let name: string;
    do name = `${p}__probe${k++}`;
    while (taken.has(name));
    taken.add(name);
    return name;
  };
  const all = [...targets, ...(options.extend?.(copy, fresh) ?? [])];
  const opset = opsetVersion(copy.proto) ?? 13;
  const outs = new Map<string, { absMax: string; min: string; max: string; mean: string; sq: string }>();
  g.output = [...(g.output ?? [])];
  for (const t of all) {
    if (outs.has(t.tensor)) continue;
    if (t.rank < 2) throw new QuantError("E_GRAPH", `cannot probe channels of "${t.tensor}": rank ${t.rank}`, { target: t.tensor });
    const axes = [0, ...Array.from({ length: t.rank - 2 }, (_, i) => i + 2)];
    const reduce = (op: string, x: string): string => {
      const y = fresh(`${t.tensor}_${op}`);
      const node: NodeProto = { op_type: op, name: fresh(`${op}_node`), input: [x], output: [y], attribute: [makeAttribute("keepdims", 0)] };
      // ReduceMean/ReduceMax/ReduceMin take axes as an input from opset 18.
      if (opset >= 18) {
        const a = fresh("axes");
        g.initializer!.push(makeTensor(a, DataType.INT64, [axes.length], BigInt64Array.from(axes.map(BigInt))));
        node.input!.push(a);
      } else node.attribute!.push(makeAttribute("axes", axes));
      g.node!.push(node);
      g.output!.push({ name: y, type: { tensor_type: { elem_type: DataType.FLOAT } } });
      return y;
    };
    const none = "";
    let abs = none;
    if (want.has("absMax")) {
      abs = fresh(`${t.tensor}_abs`);
      g.node!.push({ op_type: "Abs", name: fresh("Abs_node"), input: [t.tensor], output: [abs] });
    }
    let sq = none;
    if (want.has("meanSquare")) {
      sq = fresh(`${t.tensor}_sq`);
      g.node!.push({ op_type: "Mul", name: fresh("Mul_node"), input: [t.tensor, t.tensor], output: [sq] });
    }
    outs.set(t.tensor, {
      absMax: abs && reduce("ReduceMax", abs),
      min: want.has("min") ? reduce("ReduceMin", t.tensor) : none,
      max: want.has("max") ? reduce("ReduceMax", t.tensor) : none,
      mean: want.has("mean") ? reduce("ReduceMean", t.tensor) : none,
      sq: sq && reduce("ReduceMean", sq),
    });
  }
  const session = await RuntimeSession.create(copy, { ...SINGLE_THREAD, optimization: "basic" });
  const acc = new Map<string, { absMax: Float64Array; min: Float64Array; max: Float64Array; sum: Float64Array; sq: Float64Array }>();
  const n = Math.min(options.samples ?? dataset.count, dataset.count);
  if (n <= 0) throw new QuantError("E_CALIB_SAMPLES", "no samples to probe channel statistics with");
  try {
    const fetches = [...outs.values()].flatMap((o) => [o.absMax, o.min, o.max, o.mean, o.sq]).filter(Boolean);
    for (let s = 0; s < n; s++) {
      const batch = dataset.batch(s, 1);
      const r = await session.run(session.feeds(batch), fetches);
      dataset.release?.(batch);
      for (const [tensor, o] of outs) {
        const nan = (k: string) => (k ? (r[k]!.data as Float32Array) : undefined);
        const [am, mn, mx, me, sq] = [nan(o.absMax), nan(o.min), nan(o.max), nan(o.mean), nan(o.sq)];
        const channels = (am ?? mn ?? mx ?? me ?? sq)!.length;
        let a = acc.get(tensor);
        if (!a) acc.set(tensor, (a = { absMax: new Float64Array(channels), min: new Float64Array(channels).fill(Infinity), max: new Float64Array(channels).fill(-Infinity), sum: new Float64Array(channels), sq: new Float64Array(channels) }));
        for (let c = 0; c < channels; c++) {
          if (am && am[c]! > a.absMax[c]!) a.absMax[c] = am[c]!;
          if (mn && mn[c]! < a.min[c]!) a.min[c] = mn[c]!;
          if (mx && mx[c]! > a.max[c]!) a.max[c] = mx[c]!;
          if (me) a.sum[c]! += me[c]!;
          if (sq) a.sq[c]! += sq[c]!;
        }
      }
    }
  } finally {
    await session.release();
  }
  const result = new Map<string, ChannelStats>();
  for (const [tensor, a] of acc) {
    const or = (k: ChannelStat, v: Float64Array) => (want.has(k) ? v : v.fill(NaN));
    result.set(tensor, { absMax: or("absMax", a.absMax), min: or("min", a.min), max: or("max", a.max), mean: or("mean", a.sum.map((v) => v / n)), meanSquare: or("meanSquare", a.sq.map((v) => v / n)), samples: n });
  }
  return result;
}
