import { describe, expect, test } from "bun:test";
import { builtinPlugins } from "../../../plugins/registry.ts";
import rangeMargin, { RangeMarginState } from "../../../plugins/calibrators/range-margin.ts";
import { resolveChain } from "../../../src/index.ts";

const ctx = {} as never;

function feed(s: RangeMarginState) {
  // Per-sample extremes of a 1×1 SE vector (max swings 2, 3, 4) and of a 8×8 map (max swings the same).
  for (const [mn, mx] of [[0, 2], [0, 3], [0, 4]] as const) s.observe({ tensor: "se", min: mn, max: mx, values: new Float32Array(4), dims: [1, 4, 1, 1] });
  for (const [mn, mx] of [[-1, 2], [-2, 3], [-3, 4]] as const) s.observe({ tensor: "map", min: mn, max: mx, values: new Float32Array(256), dims: [1, 4, 8, 8] });
}

describe("range-margin", () => {
  test("a 1×1 tensor's range grows by k·σ of its per-sample extremes; a side at 0 stays; other tensors are left to the earlier calibrator", () => {
    const s = rangeMargin({ k: 2 }).create(ctx) as RangeMarginState;
    feed(s);
    const r = s.finalize();
    expect([...r.keys()]).toEqual(["se"]);
    // σ of {2, 3, 4} (sample) = 1 → max 4 + 2·1 = 6; min stays 0.
    expect(r.get("se")!.min).toBe(0);
    expect(r.get("se")!.max).toBeCloseTo(6, 12);
  });

  test("minWiden also widens larger tensors; states merge and restore to the same ranges", () => {
    const a = rangeMargin({ k: 1, minWiden: 0.1 }).create(ctx) as RangeMarginState;
    feed(a);
    const r = a.finalize();
    expect(r.get("map")).toEqual({ min: -4, max: 5 });
    const b = RangeMarginState.restore(JSON.parse(JSON.stringify(a.toJSON())), 1, 0.1);
    expect(b.finalize()).toEqual(r);
    const c = rangeMargin({ k: 1, minWiden: 0.1 }).create(ctx) as RangeMarginState;
    const d = rangeMargin({ k: 1, minWiden: 0.1 }).create(ctx) as RangeMarginState;
    c.observe({ tensor: "se", min: 0, max: 2, values: new Float32Array(4), dims: [1, 4, 1, 1] });
    for (const mx of [3, 4]) d.observe({ tensor: "se", min: 0, max: mx, values: new Float32Array(4), dims: [1, 4, 1, 1] });
    c.merge(d);
    expect(c.finalize().get("se")).toEqual(r.get("se")!);
  });

  test("bad options and foreign states are refused with coded errors", async () => {
    expect(() => rangeMargin({ k: -1 })).toThrow(/E_CONFIG|k and minWiden/);
    expect(() => RangeMarginState.restore({ calibrator: "minmax", tensors: {} }, 2, 0)).toThrow(/range-margin state/);
    const [p] = await resolveChain([["range-margin", { k: 3 }]], { registry: builtinPlugins });
    expect(p!.kind).toBe("calibrator");
  });
});
