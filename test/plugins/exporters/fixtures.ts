/**
 * One calibrated static run of a small MatMul model that writes both JSON exporters' files (shared by their tests).
 */
import { afterAll } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runPipeline } from "../../../src/index.ts";
import report from "../../../plugins/exporters/report.ts";
import statsJson from "../../../plugins/exporters/stats-json.ts";
import minmax from "../../../plugins/calibrators/minmax.ts";
import staticQdq from "../../../plugins/quantizers/static-qdq/index.ts";
import int8 from "../../../plugins/packers/int8.ts";
import { matmulModel, quiet } from "../fixtures.ts";

export const dir = mkdtempSync(join(tmpdir(), "quant-json-exporters-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
export const K = 8, N = 4, S = 16;
export const { bytes, W } = matmulModel(K, N, 21);
export const data = Float32Array.from({ length: S * K }, (_, i) => Math.sin(i * 1.3) * (1 + (i % 5)));
export const [lo, hi] = [Math.min(...data), Math.max(...data)];

/** minmax → static-qdq → int8 → report (r.json) → stats-json (s.json); the run and both parsed files. */
export async function staticRun() {
  const plugins = [minmax(), staticQdq(), int8(), report({ path: join(dir, "r.json") }), statsJson({ path: join(dir, "s.json") })];
  const r = await runPipeline({ model: bytes, plugins, options: { data: { x: { dims: [S, K], data } }, output: join(dir, "m.onnx") }, logger: quiet });
  return { r, rep: JSON.parse(readFileSync(join(dir, "r.json"), "utf8")), stats: JSON.parse(readFileSync(join(dir, "s.json"), "utf8")) };
}
