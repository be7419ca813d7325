import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import minmax from "../../plugins/calibrators/minmax.ts";
import percentile from "../../plugins/calibrators/percentile.ts";
import type { CalibratorPlugin } from "../../src/kernel/types.ts";
import { calibrate } from "../../src/runtime/calibrate.ts";
import { graphFingerprint, loadStats, mergeStats, parseStats, rangesFromStats, readStats, saveStats, statsFromCalibration, statsRanges, writeStats, STATS_FORMAT } from "../../src/runtime/stats.ts";
import { convReluMatMul, twoInputs } from "./models.ts";
import { ctx, memoryDataset, randomFloats } from "./helpers.ts";

const X = [2, 6, 6];
const PER = 72;
const tensors = ["x", "conv", "relu", "flat", "y"];
const chain = (): CalibratorPlugin[] => [minmax(), percentile({ percentile: 99.9 })];
const x = randomFloats(8 * PER, 51, 2);

async function run(from: number, to: number, batchSize = 2) {
  const model = convReluMatMul();
  const plugins = chain();
  const calibrators = plugins.map((plugin) => ({ plugin, state: plugin.create(ctx) }));
  const ds = memoryDataset({ x: { data: x.subarray(from * PER, to * PER), sampleDims: X } }, to - from);
  const r = await calibrate(model, tensors, calibrators, ds, { batchSize });
  return { r, stats: statsFromCalibration({ ranges: r.ranges, calibrators, samples: r.stats.samples, unobservable: r.unobservable, model }) };
}

describe("stats files", () => {
  test("write → read → the same ranges, and the same ranges again from the restored states (no inference)", async () => {
    const { r, stats } = await run(0, 8);
    expect(stats).toMatchObject({ format: STATS_FORMAT, version: 1, samples: 8, model: { fingerprint: graphFingerprint(convReluMatMul()) } });
    expect(stats.calibrators.map((c) => [c.name, c.options])).toEqual([["minmax", undefined], ["percentile", { percentile: 99.9 }]]);
    const dir = mkdtempSync(join(tmpdir(), "quant-stats-"));
    try {
      writeStats(join(dir, "ranges.json"), stats);
      const back = readStats(join(dir, "ranges.json"));
      expect([...statsRanges(back)]).toEqual([...r.ranges].sort(([a], [b]) => (a < b ? -1 : 1)));
      expect([...rangesFromStats(back, chain(), ctx)]).toEqual([...r.ranges]);
      // The percentile chain clips: its ranges (last in the chain) are inside the min/max ones.
      const mm = rangesFromStats(back, [minmax()], ctx);
      for (const t of tensors) {
        expect(r.ranges.get(t)!.max).toBeLessThanOrEqual(mm.get(t)!.max);
        expect(r.ranges.get(t)!.min).toBeGreaterThanOrEqual(mm.get(t)!.min);
      }
      // Another percentile re-quantizes from the same file.
      const wider = rangesFromStats(back, [minmax(), percentile({ percentile: 100 })], ctx);
      expect([...wider]).toEqual([...mm]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("two shards merge into exactly what one run over all samples gives", async () => {
    const whole = await run(0, 8, 4);
    const a = await run(0, 3, 1);
    const b = await run(3, 8, 5);
    const merged = mergeStats(a.stats, b.stats, chain(), ctx);
    expect(merged.samples).toBe(8);
    expect(JSON.stringify(merged)).toBe(JSON.stringify(whole.stats));
    // Merging is symmetric in its result.
    expect(JSON.stringify(mergeStats(b.stats, a.stats, chain(), ctx).ranges)).toBe(JSON.stringify(whole.stats.ranges));
  });

  test("non-finite range ends survive the JSON round trip", () => {
    const plugin = minmax();
    const s = statsFromCalibration({ ranges: new Map([["t", { min: -Infinity, max: 3 }], ["u", { min: -0, max: Infinity }]]), calibrators: [{ plugin, state: plugin.create(ctx) }], samples: 1 });
    expect(s.ranges).toEqual({ t: ["-Infinity", 3], u: [0, "Infinity"] });
    expect([...statsRanges(parseStats(JSON.parse(JSON.stringify(s))))]).toEqual([["t", { min: -Infinity, max: 3 }], ["u", { min: 0, max: Infinity }]]);
  });

  test("bad files and mismatched shards are E_CALIB_STATS with a reason", async () => {
    const { stats } = await run(0, 2);
    const code = { code: "E_CALIB_STATS" };
    expect(() => parseStats({ ranges: {} })).toThrow(expect.objectContaining({ ...code, message: expect.stringContaining("not a quant stats file") }));
    expect(() => parseStats({ ...stats, version: 2 })).toThrow(expect.objectContaining({ message: expect.stringContaining("newer quant") }));
    expect(() => parseStats({ ...stats, ranges: { a: [2, 1] } })).toThrow(expect.objectContaining(code));
    expect(() => parseStats({ ...stats, ranges: { a: [null, 1] } })).toThrow(expect.objectContaining(code));
    const dir = mkdtempSync(join(tmpdir(), "quant-stats-"));
    try {
      writeFileSync(join(dir, "bad.json"), "{ nope");
      expect(() => readStats(join(dir, "bad.json"))).toThrow(expect.objectContaining({ ...code, site: { file: join(dir, "bad.json") } }));
      expect(() => readStats(join(dir, "missing.json"))).toThrow(expect.objectContaining({ ...code, message: expect.stringContaining("ENOENT") }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const onlyMinmax = { ...stats, calibrators: stats.calibrators.slice(0, 1) };
    expect(() => mergeStats(stats, onlyMinmax, chain(), ctx)).toThrow(expect.objectContaining({ message: expect.stringContaining("different calibrator chains") }));
    const other = { ...stats, model: { fingerprint: graphFingerprint(twoInputs()) } };
    expect(() => mergeStats(stats, other, chain(), ctx)).toThrow(expect.objectContaining({ message: expect.stringContaining("different models") }));
    expect(() => rangesFromStats(onlyMinmax, chain(), ctx)).toThrow(expect.objectContaining({ ...code, message: expect.stringContaining("no percentile state") }));
  });
});

describe("loadStats / saveStats (the kernel's --stats-in / --stats-out)", () => {
  test("save after calibration, load with the chain: same ranges, restored states, per-plugin contexts", async () => {
    const { r } = await run(0, 4);
    const plugins = chain();
    const calibrators = plugins.map((plugin) => ({ plugin, state: plugin.create(ctx) }));
    const model = convReluMatMul();
    const again = await calibrate(model, tensors, calibrators, memoryDataset({ x: { data: x.subarray(0, 4 * PER), sampleDims: X } }, 4), { batchSize: 4 });
    const dir = mkdtempSync(join(tmpdir(), "quant-stats-"));
    try {
      const file = join(dir, "ranges.json");
      saveStats(file, { ranges: again.ranges, calibrators, samples: again.stats.samples, model });
      const asked: string[] = [];
      const loaded = loadStats(file, chain(), (p) => (asked.push(p.name), ctx));
      expect(asked).toEqual(["minmax", "percentile"]);
      expect([...loaded.ranges]).toEqual([...r.ranges]);
      expect(loaded.states.map((s) => s.plugin)).toEqual(["minmax", "percentile"]);
      expect(loaded.stats.samples).toBe(4);
      expect(() => loadStats(file, [minmax(), percentile(), (() => ({ ...minmax(), name: "mse" }))()], ctx)).toThrow(expect.objectContaining({ code: "E_CALIB_STATS", site: expect.objectContaining({ file }) }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
