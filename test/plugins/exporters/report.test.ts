/**
 * report exporter: the run's decisions as the run returned them and the calibrated ranges (minmax: exactly the data's
 * min and max), at its path or beside the output.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { runPipeline } from "../../../src/index.ts";
import report from "../../../plugins/exporters/report.ts";
import weightOnly from "../../../plugins/quantizers/weight-only.ts";
import int8 from "../../../plugins/packers/int8.ts";
import { quiet } from "../fixtures.ts";
import { K, N, bytes, dir, hi, lo, staticRun } from "./fixtures.ts";

describe("report exporter", () => {
  test("the run's decisions and calibrated ranges, as returned by the run", async () => {
    const { r, rep } = await staticRun();
    expect([rep.format, rep.version, rep.output]).toEqual(["quant-report", 1, join(dir, "m.onnx")]);
    expect(rep.tensors).toEqual(JSON.parse(JSON.stringify(r.entries)));
    const w = rep.tensors.find((e: { tensor: string }) => e.tensor === "W");
    expect([w.action, w.type, w.granularity, w.elements]).toEqual(["quantized", "int8", "per-channel axis 1", K * N]);
    expect(w.sqnrDb).toBeGreaterThan(35);
    // minmax over the data, widened to include 0 by nothing (the data straddles 0)
    expect(rep.activationRanges.x).toEqual({ min: Math.fround(lo), max: Math.fround(hi) });
    expect(r.artifacts.map((a) => a.kind)).toEqual(["report", "stats-json"]);
  });

  test("default path: <output without .onnx>.report.json", async () => {
    const plugins = [weightOnly({ sensitivity: false }), int8(), report()];
    const r = await runPipeline({ model: bytes, plugins, options: { output: join(dir, "w.onnx") }, logger: quiet });
    expect(r.artifacts.map((a) => a.path)).toEqual([join(dir, "w.report.json")]);
    expect(JSON.parse(readFileSync(join(dir, "w.report.json"), "utf8")).tensors).toEqual(JSON.parse(JSON.stringify(r.entries)));
  });
});

