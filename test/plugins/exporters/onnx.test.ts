/**
 * onnx exporter: the written file is the run's model byte for byte and loads back losslessly; with external data the
 * tensors go to a `<output>.<hash>.data` file beside it and ONNX Runtime computes the same outputs; no path refuses.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadModel, runPipeline, serializeModel } from "../../../src/index.ts";
import onnx from "../../../plugins/exporters/onnx.ts";
import int8 from "../../../plugins/packers/int8.ts";
import weightOnly from "../../../plugins/quantizers/weight-only.ts";
import { matmulModel, quiet, runY } from "../fixtures.ts";

const dir = mkdtempSync(join(tmpdir(), "quant-onnx-exporter-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const K = 64, N = 32, B = 2;
const { bytes } = matmulModel(K, N, 11);
const x = Float32Array.from({ length: B * K }, (_, i) => Math.sin(i * 0.3));

describe("onnx exporter", () => {
  test("writes the run's model byte for byte, at the exporter's path over the run's output", async () => {
    const path = join(dir, "plain.onnx");
    const r = await runPipeline({ model: bytes, plugins: [weightOnly({ sensitivity: false }), int8(), onnx({ path })], options: { output: join(dir, "ignored.onnx") }, logger: quiet });
    const written = readFileSync(path);
    expect(r.artifacts.map((a) => [a.path, a.kind, a.bytes])).toEqual([[path, "onnx", written.length]]);
    expect(Buffer.from(serializeModel(r.model)).equals(written)).toBe(true);
    expect(Buffer.from(serializeModel(loadModel(path))).equals(written)).toBe(true);
    expect(readdirSync(dir)).not.toContain("ignored.onnx");
  });

  test("externalData: tensors in one data file beside the model, same ORT outputs as the inline model", async () => {
    const inline = join(dir, "inline.onnx");
    const ext = join(dir, "ext.onnx");
    await runPipeline({ model: bytes, plugins: [weightOnly({ sensitivity: false }), int8(), onnx()], options: { output: inline }, logger: quiet });
    const r = await runPipeline({ model: bytes, plugins: [weightOnly({ sensitivity: false }), int8(), onnx({ externalData: true, threshold: 0 })], options: { output: ext }, logger: quiet });
    const data = readdirSync(dir).filter((f) => f.startsWith("ext.onnx.") && f.endsWith(".data"));
    expect(data).toHaveLength(1);
    // The K×N int8 weight (and its scales) live in the data file; the model file keeps only the graph.
    expect(statSync(join(dir, data[0]!)).size).toBeGreaterThanOrEqual(K * N);
    expect(statSync(ext).size).toBeLessThan(statSync(inline).size / 4);
    expect(r.artifacts[0]!.bytes).toBe(statSync(ext).size + statSync(join(dir, data[0]!)).size);
    expect(Array.from(await runY(ext, x, [B, K]))).toEqual(Array.from(await runY(inline, x, [B, K])));
  });

  test("no path and no run output: E_CONFIG, nothing written", async () => {
    const before = readdirSync(dir).length;
    const err = await runPipeline({ model: bytes, plugins: [weightOnly({ sensitivity: false }), int8(), onnx()], logger: quiet }).catch((e) => e);
    expect([err.code, err.message]).toEqual(["E_CONFIG", "no output path: pass -o/--output (or give the onnx exporter a path)"]);
    expect(readdirSync(dir).length).toBe(before);
  });
});
