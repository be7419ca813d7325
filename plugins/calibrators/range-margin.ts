/**
 * `range-margin` calibrator: widens the ranges of 1×1 tensors, whose extremes a few calibration samples do not pin
 * down. An SE block's pooled vector and the two 1×1 Convs after it have only C values per sample, so their per-sample
 * maximum swings from sample to sample and new inputs exceed the calibrated range (and get clipped); a 112×112 feature
 * map's per-sample maximum barely moves. For every tensor whose dims after the channel axis are all 1 the range becomes
 *   [min − k·σ(per-sample min), max + k·σ(per-sample max)]
 * (a side at exactly 0, e.g. after Relu, stays) and overrides the calibrators before this one in the chain; every other
 * tensor keeps their range. It reads shapes from the observations (`needs: "values"`, so calibration streams values).
 * Put it after the main calibrator: `plugins: [normalize, minmax, ["range-margin", { k: 2 }], static-qdq, int8]`.
 * Measured (bench/remedies.ts, fr_liveness's three SE blocks): see the README's remedies table.
 */
import { QuantError, defineCalibrator, type CalibratorState, type Observation, type OptionKeys, type RangeMap } from "../../src/index.ts";

/** Options of `range-margin`. */
export interface RangeMarginOptions {
  /** Standard deviations of the per-sample extremes added beyond the observed range. Default 2. */
  k?: number;
  /** Also widen tensors with more than one value per channel when this plugin widens them by more than this fraction (default: never). */
  minWiden?: number;
}

/** The options this plugin takes: a config giving any other key is refused (E_CONFIG). */
export const optionKeys: OptionKeys<RangeMarginOptions> = { k: true, minWiden: true };

/** Per tensor: count, extremes, and sums of the per-observation extremes and their squares. */
type Acc = { n: number; min: number; max: number; sMin: number; qMin: number; sMax: number; qMax: number };

/** Running per-sample extreme statistics. */
export class RangeMarginState implements CalibratorState {
  readonly calibrator = "range-margin";
  readonly acc = new Map<string, Acc>();
  /** Tensors seen with every dim after the channel axis equal to 1. */
  readonly tiny = new Set<string>();
  constructor(
    readonly k: number,
    readonly minWiden: number,
  ) {}

  observe(o: Observation): void {
    if (!Number.isFinite(o.min) || !Number.isFinite(o.max))
      throw new QuantError("E_CALIB_NONFINITE", `activation ${o.tensor} is not finite (batch min ${o.min}, max ${o.max}); check the calibration data`);
    if (o.dims && o.dims.length >= 3 && o.dims.slice(2).every((d) => d === 1)) this.tiny.add(o.tensor);
    this.fold(o.tensor, { n: 1, min: o.min, max: o.max, sMin: o.min, qMin: o.min * o.min, sMax: o.max, qMax: o.max * o.max });
  }

  private fold(t: string, b: Acc): void {
    const a = this.acc.get(t);
    if (!a) return void this.acc.set(t, { ...b });
    a.n += b.n;
    a.min = Math.min(a.min, b.min);
    a.max = Math.max(a.max, b.max);
    a.sMin += b.sMin;
    a.qMin += b.qMin;
    a.sMax += b.sMax;
    a.qMax += b.qMax;
  }

  merge(other: CalibratorState): void {
    if (!(other instanceof RangeMarginState)) throw new QuantError("E_CALIB_STATS", "cannot merge a foreign state into a range-margin state");
    for (const [t, a] of other.acc) this.fold(t, a);
    for (const t of other.tiny) this.tiny.add(t);
  }

  finalize(): RangeMap {
    const out: RangeMap = new Map();
    const std = (s: number, q: number, n: number) => Math.sqrt(Math.max(0, q / n - (s / n) ** 2) * (n / (n - 1)));
    for (const t of [...this.acc.keys()].sort()) {
      const a = this.acc.get(t)!;
      if (a.n < 2) continue;
      const lo = a.min < 0 ? a.min - this.k * std(a.sMin, a.qMin, a.n) : a.min;
      const hi = a.max > 0 ? a.max + this.k * std(a.sMax, a.qMax, a.n) : a.max;
      const before = Math.max(a.max, 0) - Math.min(a.min, 0);
      const after = Math.max(hi, 0) - Math.min(lo, 0);
      if (before > 0 && after > before && (this.tiny.has(t) || after > before * (1 + this.minWiden))) out.set(t, { min: lo, max: hi });
    }
    return out;
  }

  toJSON() {
    return { calibrator: "range-margin", k: this.k, minWiden: this.minWiden, tiny: [...this.tiny].sort(), tensors: Object.fromEntries(this.acc) };
  }

  /** Rebuild a state saved by {@link toJSON}. */
  static restore(json: unknown, k: number, minWiden: number): RangeMarginState {
    const j = json as { calibrator?: string; tiny?: string[]; tensors?: Record<string, Acc> } | null;
    if (!j || j.calibrator !== "range-margin" || typeof j.tensors !== "object" || !j.tensors)
      throw new QuantError("E_CALIB_STATS", `expected a range-margin state { calibrator: "range-margin", tensors } in the stats file`);
    const s = new RangeMarginState(k, minWiden);
    for (const t of Array.isArray(j.tiny) ? j.tiny : []) if (typeof t === "string") s.tiny.add(t);
    for (const [t, a] of Object.entries(j.tensors)) {
      if (![a.n, a.min, a.max, a.sMin, a.qMin, a.sMax, a.qMax].every(Number.isFinite)) throw new QuantError("E_CALIB_STATS", `range-margin state of "${t}" is not numeric`);
      s.acc.set(t, { ...a });
    }
    return s;
  }
}

/** `range-margin` calibrator factory. */
export default function rangeMargin(opts: RangeMarginOptions = {}) {
  const k = opts.k ?? 2;
  const minWiden = opts.minWiden ?? Infinity;
  if (!(k >= 0) || !(minWiden >= 0)) throw new QuantError("E_CONFIG", `range-margin: k and minWiden must be ≥ 0 (got ${k}, ${minWiden})`);
  return defineCalibrator({
    name: "range-margin",
    options: opts as Record<string, unknown>,
    needs: "values",
    create: () => new RangeMarginState(k, minWiden),
    restore: (json) => RangeMarginState.restore(json, k, minWiden),
  });
}
