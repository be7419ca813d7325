/**
 * `minmax` calibrator: the running min and max of every tensor. It only needs each batch's min/max, which the runtime
 * reduces inside the graph (ReduceMin/ReduceMax), so no tensor crosses into JS. Exact, order-independent and mergeable.
 */
import { defineCalibrator, QuantError, type CalibratorState, type Observation, type RangeMap } from "../../src/index.ts";

/** Serialized {@link MinMaxState}. */
export interface MinMaxJSON {
  calibrator: "minmax";
  tensors: Record<string, { min: number; max: number }>;
}

/** Running min/max per tensor. */
export class MinMaxState implements CalibratorState {
  readonly calibrator = "minmax";
  readonly ranges = new Map<string, { min: number; max: number }>();

  observe(o: Observation): void {
    if (!Number.isFinite(o.min) || !Number.isFinite(o.max) || o.min > o.max)
      throw new QuantError("E_CALIB_NONFINITE", `activation ${o.tensor} is not finite (batch min ${o.min}, max ${o.max}); check the calibration data`);
    this.fold(o.tensor, o.min + 0, o.max + 0); // + 0 turns -0 into 0, which JSON keeps
  }

  private fold(tensor: string, min: number, max: number): void {
    const r = this.ranges.get(tensor);
    if (!r) this.ranges.set(tensor, { min, max });
    else {
      if (min < r.min) r.min = min;
      if (max > r.max) r.max = max;
    }
  }

  merge(other: CalibratorState): void {
    if (!(other instanceof MinMaxState))
      throw new QuantError("E_CALIB_STATS", `cannot merge a ${(other as { calibrator?: string }).calibrator ?? "foreign"} state into a minmax state`);
    for (const [t, r] of other.ranges) this.fold(t, r.min, r.max);
  }

  finalize(): RangeMap {
    const out: RangeMap = new Map();
    for (const t of [...this.ranges.keys()].sort()) {
      const r = this.ranges.get(t)!;
      out.set(t, { min: r.min, max: r.max });
    }
    return out;
  }

  toJSON(): MinMaxJSON {
    const tensors: MinMaxJSON["tensors"] = {};
    for (const [t, r] of this.finalize()) tensors[t] = { min: r.min, max: r.max };
    return { calibrator: "minmax", tensors };
  }

  /** Rebuild a state saved by {@link toJSON}. */
  static restore(json: unknown): MinMaxState {
    const j = json as Partial<MinMaxJSON> | null;
    if (typeof j !== "object" || j === null || j.calibrator !== "minmax" || typeof j.tensors !== "object" || j.tensors === null)
      throw new QuantError("E_CALIB_STATS", `expected a minmax state { calibrator: "minmax", tensors } in the stats file`);
    const s = new MinMaxState();
    for (const [t, r] of Object.entries(j.tensors)) {
      const { min, max } = (r ?? {}) as { min?: unknown; max?: unknown };
      if (typeof min !== "number" || typeof max !== "number" || !Number.isFinite(min) || !Number.isFinite(max) || min > max)
        throw new QuantError("E_CALIB_STATS", `minmax state of ${t}: bad range [${String(min)}, ${String(max)}]`);
      s.ranges.set(t, { min, max });
    }
    return s;
  }
}

/** This plugin takes no options: a config giving any is refused (E_CONFIG). */
export const optionKeys = {};

/** `minmax` calibrator factory. */
export default function minmax() {
  return defineCalibrator({
    name: "minmax",
    needs: "minmax",
    create: () => new MinMaxState(),
    restore: (json) => MinMaxState.restore(json),
  });
}
