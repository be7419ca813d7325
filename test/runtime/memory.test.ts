import { describe, expect, test } from "bun:test";
import type { Batch, CalibrationDataset } from "../../src/data/dataset.ts";
import { GraphBuilder } from "../../src/onnx/builder.ts";
import { encodeModelProto } from "../../src/onnx/proto.ts";
import { loadModel } from "../../src/onnx/codec.ts";
import { DataType } from "../../src/tensor/dtypes.ts";
import { calibrate } from "../../src/runtime/calibrate.ts";
import { ctx, randomFloats, testMinMax, testValues } from "./helpers.ts";

const SAMPLE = [16, 64, 64]; // 256 KiB per sample and tensor
const PER = 16 * 64 * 64;

/** x → Relu → r; r + x → s: cheap ops over large tensors, so a run moves a lot of memory quickly. */
function bigElementwise() {
  const b = new GraphBuilder("big");
  b.input("x", DataType.FLOAT, ["N", ...SAMPLE]);
  b.node("Relu", ["x"], {}, ["r"]);
  b.node("Add", ["r", "x"], {}, ["s"]);
  b.output("s", DataType.FLOAT, ["N", ...SAMPLE]);
  return loadModel(encodeModelProto(b.model({ opset: 13 })));
}

/** A dataset of `count` samples that hands out views of one buffer (so the test holds no data per sample). */
function endless(count: number, batchMax: number): CalibrationDataset {
  const buf = randomFloats(batchMax * PER, 77, 3);
  return {
    count,
    inputs: ["x"],
    batch: (_start: number, size: number): Batch => ({ x: { data: buf.subarray(0, size * PER), dims: [size, ...SAMPLE], elemType: DataType.FLOAT } }),
    close() {},
  };
}

describe("memory", () => {
  for (const [mode, plugin] of [["values", testValues], ["minmax", testMinMax]] as const) {
    test(`${mode}: streaming 1000 samples (${mode === "values" ? "1.5 GiB of activations" : "scalars only"}) does not grow the heap or RSS`, async () => {
      const batchSize = 4;
      const samples = 1000;
      const marks: { heap: number; rss: number }[] = [];
      const sample = () => {
        Bun.gc(true);
        const m = process.memoryUsage();
        marks.push({ heap: m.heapUsed, rss: m.rss });
      };
      const r = await calibrate(bigElementwise(), ["x", "r", "s"], [{ plugin, state: plugin.create(ctx) }], endless(samples, batchSize), {
        batchSize,
        onProgress: (done) => {
          if (done === 100 || done === 500 || done === samples) sample();
        },
      });
      expect(r.stats.samples).toBe(samples);
      expect(marks.length).toBe(3);
      const [warm, , end] = marks as [{ heap: number; rss: number }, unknown, { heap: number; rss: number }];
      const mb = (n: number) => n / 2 ** 20;
      if (process.env.QUANT_VERBOSE) console.log(mode, marks.map((m) => `heap ${mb(m.heap).toFixed(1)} MiB rss ${mb(m.rss).toFixed(1)} MiB`).join(" → "));
      // After warm-up nothing accumulates. The batch being observed (3 outputs × 4 samples × 256 KiB = 3 MiB) may still be
      // referenced at a mark; accumulating would add 675 MiB between the marks.
      expect(mb(end.heap - warm.heap)).toBeLessThan(4.5);
      expect(mb(end.rss - warm.rss)).toBeLessThan(24);
    }, 60_000);
  }
});
