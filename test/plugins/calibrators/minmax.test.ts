import { describe, expect, test } from "bun:test";
import minmax, { MinMaxState } from "../../../plugins/calibrators/minmax.ts";
import { isQuantError } from "../../../src/index.ts";
import { calibrate, ctx, normal } from "./fixtures.ts";

describe("minmax", () => {
  test("running min/max over batches and tensors, exact", () => {
    const x = normal(10_000, 3);
    const y = new Float32Array([0, 0.5, 7.25]);
    const r = calibrate(minmax(), [
      { tensor: "x", values: x.subarray(0, 5000) },
      { tensor: "y", values: y },
      { tensor: "x", values: x.subarray(5000) },
    ]);
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of x) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    expect(r.get("x")).toEqual({ min: lo, max: hi });
    expect(r.get("y")).toEqual({ min: 0, max: 7.25 });
    expect([...r.keys()]).toEqual(["x", "y"]);
  });

  test("needs only the reduced min/max (no values)", () => {
    const p = minmax();
    expect(p.needs).toBe("minmax");
    const s = p.create(ctx);
    s.observe({ tensor: "t", min: -2, max: 3 });
    s.observe({ tensor: "t", min: -1, max: 4 });
    expect(s.finalize().get("t")).toEqual({ min: -2, max: 4 });
  });

  test("-0 is kept as 0 so a saved state restores bit-identically", () => {
    const s = minmax().create(ctx);
    s.observe({ tensor: "t", min: -0, max: -0 });
    expect(Object.is(s.finalize().get("t")!.min, 0)).toBe(true);
  });

  test("non-finite batches and damaged state files are coded errors", () => {
    const s = minmax().create(ctx);
    const code = (f: () => void) => {
      try {
        f();
      } catch (e) {
        return isQuantError(e) ? e.code : String(e);
      }
      return "none";
    };
    expect(code(() => s.observe({ tensor: "t", min: NaN, max: 1 }))).toBe("E_CALIB_NONFINITE");
    expect(code(() => s.observe({ tensor: "t", min: 0, max: Infinity }))).toBe("E_CALIB_NONFINITE");
    expect(code(() => MinMaxState.restore({ calibrator: "minmax", tensors: { t: { min: 2, max: 1 } } }))).toBe("E_CALIB_STATS");
    expect(code(() => MinMaxState.restore({ calibrator: "mse", tensors: {} }))).toBe("E_CALIB_STATS");
    expect(code(() => MinMaxState.restore("nope"))).toBe("E_CALIB_STATS");
  });
});
