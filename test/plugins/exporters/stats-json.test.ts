/**
 * stats-json exporter: every DequantizeLinear on a constant with its scales and zero points as stored in the model
 * (4-bit zero points unpacked), and the calibrated activation ranges.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { quantizeWeights, runPipeline } from "../../../src/index.ts";
import statsJson from "../../../plugins/exporters/stats-json.ts";
import weightOnly from "../../../plugins/quantizers/weight-only.ts";
import int4 from "../../../plugins/packers/int4.ts";
import int8 from "../../../plugins/packers/int8.ts";
import { quiet } from "../fixtures.ts";
import { K, N, W, bytes, dir, hi, lo, staticRun } from "./fixtures.ts";

describe("stats-json exporter", () => {
  test("scales and zero points of every DequantizeLinear on a constant, as stored; activation ranges", async () => {
    const { r, stats } = await staticRun();
    expect([stats.format, stats.version]).toEqual(["quant-params", 1]);
    const dq = r.model.proto.graph!.node!.filter((n) => n.op_type === "DequantizeLinear");
    const constant = dq.filter((n) => r.model.proto.graph!.initializer!.some((t) => t.name === n.input![0]));
    expect(stats.weights.map((w: { output: string }) => w.output).sort()).toEqual(constant.map((n) => n.output![0]).sort());
    const w = stats.weights.find((e: { dims: number[] }) => e.dims.join() === `${K},${N}`);
    expect(w.axis).toBe(1);
    const q = quantizeWeights(W, [K, N], { type: "int8", symmetric: true, granularity: { kind: "channel", axis: 1 } });
    expect(w.scale).toEqual(Array.from(q.scale));
    expect(w.zeroPoint).toEqual(Array(N).fill(0));
    expect(stats.activations.x).toEqual({ min: Math.fround(lo), max: Math.fround(hi) });
  });

  test("native 4-bit zero points are unpacked (asymmetric INT4 blocks)", async () => {
    const path = join(dir, "s4.json");
    const plugins = [weightOnly({ sensitivity: false, symmetric: false }), int4(), int8(), statsJson({ path })];
    await runPipeline({ model: bytes, plugins, options: { bits: 4, blockSize: 4, nativeInt4: true, layerBits: { W: 4 }, output: join(dir, "m4.onnx") }, logger: quiet });
    const [w] = JSON.parse(readFileSync(path, "utf8")).weights;
    const q = quantizeWeights(W, [K, N], { type: "int4", symmetric: false, granularity: { kind: "block", axis: 0, blockSize: 4 } });
    expect([w.axis, w.blockSize, w.dims]).toEqual([0, 4, [K, N]]);
    expect(w.zeroPoint).toEqual(Array.from(q.zeroPoint));
    expect(w.scale).toEqual(Array.from(q.scale));
    expect(new Set(w.zeroPoint).size).toBeGreaterThan(1); // really per block, not a constant
  });
});
