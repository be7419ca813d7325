/**
 * Calibrators whose state is one {@link HistogramObserver} per tensor (percentile, entropy, mse, and the recorder the
 * runner adds for `--stats-out`): the mergeable, saveable state and the factory. The histogram itself is plain math
 * (src/tensor/histogram.ts); this is the part that speaks the calibrator contract.
 */
import { QuantError } from "../errors/errors.ts";
import { defineCalibrator, type CalibratorPlugin, type CalibratorState, type Observation, type PluginContext, type Range, type RangeMap } from "../kernel/types.ts";
import { DEFAULT_BINS, HistogramObserver, checkBins, type HistogramJSON } from "../tensor/histogram.ts";

export interface HistogramSetJSON {
  calibrator: string;
  bins: number;
  tensors: Record<string, HistogramJSON>;
}

/**
 * The calibrator state shared by the histogram calibrators: one {@link HistogramObserver} per tensor, and a function that
 * turns a histogram into a range. Ranges and JSON list tensors in sorted order, so neither depends on observation order.
 */
export class HistogramSet implements CalibratorState {
  readonly histograms = new Map<string, HistogramObserver>();

  constructor(
    /** Calibrator name, checked on merge and restore. */
    readonly calibrator: string,
    readonly bins: number,
    private readonly rangeOf: (h: HistogramObserver, tensor: string) => Range,
  ) {}

  observe(o: Observation): void {
    if (!o.values)
      throw new QuantError("E_PLUGIN", `calibrator ${this.calibrator} needs the values of ${o.tensor} but the runtime passed only min/max`);
    let h = this.histograms.get(o.tensor);
    if (!h) this.histograms.set(o.tensor, (h = new HistogramObserver(this.bins)));
    h.observe(o.values, o.min, o.max);
  }

  merge(other: CalibratorState): void {
    if (!(other instanceof HistogramSet) || other.calibrator !== this.calibrator)
      throw new QuantError("E_CALIB_STATS", `cannot merge a ${describe(other)} state into a ${this.calibrator} state`);
    for (const [name, h] of other.histograms) {
      const mine = this.histograms.get(name);
      if (mine) mine.merge(h);
      else this.histograms.set(name, h.clone());
    }
  }

  finalize(): RangeMap {
    const out: RangeMap = new Map();
    for (const name of [...this.histograms.keys()].sort()) {
      const h = this.histograms.get(name)!;
      if (h.total > 0) out.set(name, this.rangeOf(h, name));
    }
    return out;
  }

  toJSON(): HistogramSetJSON {
    const tensors: Record<string, HistogramJSON> = {};
    for (const name of [...this.histograms.keys()].sort()) tensors[name] = this.histograms.get(name)!.toJSON();
    return { calibrator: this.calibrator, bins: this.bins, tensors };
  }

  /** Rebuild a state saved by {@link toJSON} (its own `bins` win over the plugin's option). */
  static restore(json: unknown, calibrator: string, rangeOf: (h: HistogramObserver, tensor: string) => Range): HistogramSet {
    const j = json as Partial<HistogramSetJSON> | null;
    if (typeof j !== "object" || j === null || typeof j.tensors !== "object" || j.tensors === null)
      throw new QuantError("E_CALIB_STATS", `${calibrator} state: expected { calibrator, bins, tensors } in the stats file`);
    if (j.calibrator !== calibrator)
      throw new QuantError("E_CALIB_STATS", `the stats file holds a ${String(j.calibrator)} state, not ${calibrator}; use --method ${String(j.calibrator)} or re-calibrate`);
    const set = new HistogramSet(calibrator, typeof j.bins === "number" ? j.bins : DEFAULT_BINS, rangeOf);
    for (const [name, hj] of Object.entries(j.tensors)) {
      const h = HistogramObserver.fromJSON(hj, `${calibrator} histogram of ${name}`);
      if (h.bins !== set.bins) throw new QuantError("E_CALIB_STATS", `${calibrator} histogram of ${name} has ${h.bins} bins, the state ${set.bins}`);
      set.histograms.set(name, h);
    }
    return set;
  }
}

function describe(s: CalibratorState): string {
  return s instanceof HistogramSet ? s.calibrator : (s as { calibrator?: string }).calibrator ?? s.constructor?.name ?? "foreign";
}

/**
 * A calibrator whose state is one histogram per tensor and whose range comes from `rangeOf(ctx)(histogram)` — the
 * shape shared by percentile, entropy and mse (and any user method that works from a histogram).
 * @example export default (o = {}) => histogramCalibrator("p999", o, 4096, () => (h) => percentileRange(h, 99.9));
 */
export function histogramCalibrator(
  name: string,
  options: object,
  bins: number,
  rangeOf: (ctx: PluginContext) => (h: HistogramObserver) => Range,
): CalibratorPlugin {
  checkBins(bins); // at factory time, so a bad option fails before any inference
  return defineCalibrator({
    name,
    needs: "values",
    options: { ...options } as Record<string, unknown>,
    create: (ctx) => new HistogramSet(name, bins, rangeOf(ctx)),
    restore: (json, ctx) => HistogramSet.restore(json, name, rangeOf(ctx)),
  });
}
