/**
 * static-qdq biases without an int32 grid: a trained-to-zero weight row (subnormal values, as in the zoo's SSR-Net
 * heads) makes s_x·s_w underflow, and a tiny-weight row with a real bias lands past ±2³¹ steps. Saturating or
 * zero-scaling the bias changed outputs (a whole output channel read 0); such biases now stay float, reported.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GraphBuilder } from "../../../../src/onnx/builder.ts";
import { encodeModelProto } from "../../../../src/onnx/proto.ts";
import { DataType } from "../../../../src/tensor/dtypes.ts";
import { sqnrDb } from "../../../../src/tensor/quantize.ts";
import { quant } from "../../../cli/helpers.ts";
import { randomFloats } from "../../../helpers/random.ts";
import { f32, randomFeeds, run } from "../../../onnx/ort.ts";

const dir = mkdtempSync(join(tmpdir(), "quant-biasgrid-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("a bias whose int32 grid underflows or overflows stays float; the outputs stay right", async () => {
  const b = new GraphBuilder();
  b.input("x", DataType.FLOAT, [1, 16]);
  b.initializer("w1", DataType.FLOAT, [16, 16], randomFloats(256, 1, 0.5));
  b.initializer("b1", DataType.FLOAT, [16], randomFloats(16, 2, 0.1));
  const w2 = randomFloats(48, 3, 0.5);
  w2.fill(1e-12, 16, 32); // row 1: tiny weights, bias −0.5 → −0.5 / (s_x · 1e-14) ≫ 2³¹
  w2.fill(1e-40, 32, 48); // row 2: subnormal weights → s_x · s_w underflows
  b.initializer("w2", DataType.FLOAT, [3, 16], w2);
  b.initializer("b2", DataType.FLOAT, [3], new Float32Array([0.1, -0.5, 0.3]));
  const h = b.node("Relu", [b.node("Gemm", ["x", "w1", "b1"], {}, ["h0"], { name: "fc1" })], {}, ["h"]);
  b.node("Tanh", [b.node("Gemm", [h, "w2", "b2"], { transB: 1 }, ["z"], { name: "head" })], {}, ["y"]);
  b.output("y", DataType.FLOAT, [1, 3]);
  const proto = b.model({ opset: 13 });
  const p = join(dir, "heads.onnx");
  writeFileSync(p, encodeModelProto(proto));
  const out = join(dir, "heads.qdq.onnx");
  const r = quant(["calibrate", p, "-o", out, "--samples", "16", "--format", "json", "--quiet"]);
  expect(r.code).toBe(0);
  const rep = JSON.parse(r.stdout);
  expect(rep.tensors.find((t: { tensor: string }) => t.tensor === "b2")).toMatchObject({ action: "skipped", reason: "bias scale s_x·s_w underflows float32 (weights ~0)" });
  expect(rep.tensors.find((t: { tensor: string }) => t.tensor === "b1")).toMatchObject({ action: "quantized", type: "int32" });
  for (let seed = 1; seed <= 3; seed++) {
    const feeds = randomFeeds(proto, seed);
    const ref = f32((await run(p, feeds)).y);
    const got = f32((await run(out, feeds)).y);
    expect(Math.abs(got[1]! - Math.tanh(-0.5))).toBeLessThan(1e-3);
    expect(Math.abs(got[2]! - Math.tanh(0.3))).toBeLessThan(1e-3);
    expect(sqnrDb(ref, got)).toBeGreaterThan(20);
  }
  // Only the tiny (not subnormal) row: the bias overflows its grid instead.
  w2.fill(0.01, 32, 48);
  writeFileSync(p, encodeModelProto(proto));
  const r2 = quant(["calibrate", p, "-o", out, "--samples", "16", "--format", "json", "--quiet"]);
  expect(JSON.parse(r2.stdout).tensors.find((t: { tensor: string }) => t.tensor === "b2")).toMatchObject({ action: "skipped", reason: "bias exceeds the int32 range of scale s_x·s_w (tiny weights)" });
  const feeds = randomFeeds(proto, 9);
  expect(Math.abs(f32((await run(out, feeds)).y)[1]! - Math.tanh(-0.5))).toBeLessThan(1e-3);
});
