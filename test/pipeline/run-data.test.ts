/**
 * The run's data (`ctx.data`): data options stay with the runner (never in `ctx.options`), the data is opened on the
 * first request, shared by requests alike, and closed by the runner after the run — also after a failure.
 */
import { describe, expect, test } from "bun:test";
import { defineCalibrator, defineQuantizer, definePass, modelInputs, runPipeline, type CalibrationDataset, type Model, type PluginContext } from "../../src/index.ts";
import { mlpModel } from "../helpers/models.ts";

/** A dataset of `count` samples of x [1, 8] (sample i filled with i), counting batches read and closes. */
function counted(count: number) {
  const seen = { batches: 0, closed: 0 };
  const ds: CalibrationDataset = {
    count,
    inputs: ["x"],
    batch(start, size) {
      seen.batches++;
      return { x: { data: new Float32Array(size * 8).fill(start), dims: [size, 8], elemType: 1 } };
    },
    close: () => void seen.closed++,
  };
  return { ds, seen };
}

/** A pass that opens the run's data twice and records what it saw. */
function reader(log: { ctx?: PluginContext; first?: unknown; same?: boolean; random?: readonly string[] }) {
  return definePass({
    name: "reader",
    async run(model: Model, ctx) {
      log.ctx = ctx;
      const a = await ctx.data!.open(modelInputs(model));
      const b = await ctx.data!.open(modelInputs(model));
      log.same = a.dataset === b.dataset;
      log.random = a.random;
      log.first = Array.from(a.dataset.batch(3, 1).x!.data as Float32Array).slice(0, 2);
    },
  });
}

describe("ctx.data", () => {
  test("data options are the runner's: plugins see them as ctx.data, not in ctx.options", async () => {
    const { ds } = counted(5);
    const log: Parameters<typeof reader>[0] = {};
    await runPipeline({ model: mlpModel(), plugins: [reader(log)], options: { data: ds, samples: 5, seed: 9, statsOut: "never.json", bits: 4 }, write: false });
    const o = log.ctx!.options as unknown as Record<string, unknown>;
    expect(["data", "samples", "seed", "statsOut", "shapes", "inputs"].filter((k) => k in o)).toEqual([]);
    expect(o.bits).toBe(4);
    expect(log.ctx!.data!.given).toBe(true);
    expect(log.ctx!.data!.samples).toBe(5);
    expect(log.ctx!.data!.options.seed).toBe(9);
    expect("statsOut" in log.ctx!.data!.options).toBe(false);
    expect(log.same).toBe(true);
    expect(log.random).toEqual([]);
    expect(log.first).toEqual([3, 3]);
  });

  test("random data without any, named in `random`; same seed, same samples", async () => {
    const runs: number[][] = [];
    for (let i = 0; i < 2; i++) {
      const log: Parameters<typeof reader>[0] = {};
      await runPipeline({ model: mlpModel(), plugins: [reader(log)], options: { seed: 4 }, write: false });
      expect(log.ctx!.data!.given).toBe(false);
      expect(log.random).toEqual(["x"]);
      runs.push(log.first as number[]);
    }
    expect(runs[0]).toEqual(runs[1]!);
    expect(runs[0]!.every((v) => Number.isFinite(v) && v !== 0)).toBe(true);
  });

  test("the runner closes what it opened after the run, and after a failure; a plugin never has to", async () => {
    // A dataset object is the user's: the runner neither closes it nor reads it before a plugin asks.
    const user = counted(4);
    await runPipeline({ model: mlpModel(), plugins: [reader({})], options: { data: user.ds }, write: false });
    expect(user.seen.closed).toBe(0);
    // Values per input are opened by the runner (an ArrayDataset over them) and closed by it, also when a plugin throws.
    let opened: CalibrationDataset | undefined;
    let closes = 0;
    const boom = defineQuantizer({
      name: "boom",
      async quantize(model, _input, ctx) {
        opened = (await ctx.data!.open(modelInputs(model))).dataset;
        const close = opened.close.bind(opened);
        opened.close = () => (closes++, close());
        throw new Error("boom");
      },
    });
    const err = await runPipeline({ model: mlpModel(), plugins: [boom], options: { data: { x: new Float32Array(8).fill(1) } }, write: false }).catch((e) => e);
    expect(String(err)).toContain("boom");
    expect(opened?.count).toBe(1);
    expect(closes).toBe(1);
  });

  test("the calibrate phase reads the run's data through the same object: every sample once", async () => {
    const { ds, seen } = counted(3);
    let created = 0;
    const cal = defineCalibrator({
      name: "probe-cal",
      needs: "minmax",
      create: () => (created++, { observe() {}, merge() {}, finalize: () => new Map(), toJSON: () => ({}) }),
    });
    const q = defineQuantizer({ name: "wants", activations: () => ["y"], quantize: () => ({ pending: [], entries: [] }) });
    await runPipeline({ model: mlpModel(), plugins: [cal, q], options: { data: ds }, write: false });
    expect(created).toBe(1);
    expect(seen.batches).toBe(3); // three samples, batch size 1
  });
});
