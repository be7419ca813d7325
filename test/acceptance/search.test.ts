/**
 * Accuracy targets on the real-model zoo (issue 13; skipped when the zoo is not on disk, like zoo.test.ts). Inputs
 * are the zoo's synthetic natural-image-like images (bench/zoo/synthetic.ts): calibration as in the zoo table,
 * 4 evaluation images apart (`--eval-data`, seeds 1000–1003, the zoo table's evaluation image first). Every figure is
 * measured again here in onnxruntime-node on the written file, on the graph outputs (the search itself measures
 * Sigmoid/Softmax outputs on their logits).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ZOO, evalFeeds, imageInput, quantCli, runOutputs, sqnr, writeCalibration, zooPath } from "../../bench/zoo/runs.ts";
import { naturalImages } from "../../bench/zoo/synthetic.ts";
import { writeNpy } from "../../src/data/npy.ts";
import { hasZoo } from "../helpers/zoo.ts";

const dir = mkdtempSync(join(tmpdir(), "quant-search-zoo-"));
const lines: string[] = [];
afterAll(() => {
  if (lines.length) process.stdout.write(`\naccuracy targets on the zoo:\n${lines.join("\n")}\n`);
  rmSync(dir, { recursive: true, force: true });
});

interface Search { met: boolean; achieved: number; baseline: number; floatNodes: number; totalNodes: number; sessions: number; seconds: number; why?: string; decisions: { node: string; action: string }[] }

/** Calibration and evaluation files of a zoo model. */
function files(name: string): { calib: string; evalData: string } {
  const calib = writeCalibration(name, dir);
  const { chw } = imageInput(name);
  const per = chw[0] * chw[1] * chw[2];
  const ev = new Float32Array(4 * per);
  for (let i = 0; i < 4; i++) ev.set(naturalImages(1, ...chw, ZOO[name]!.norm, 1000 + i), i * per);
  const evalData = join(dir, `${name}.eval.npy`);
  writeNpy(evalData, ev, [4, ...chw]);
  return { calib, evalData };
}

/** Run one command with a target; returns the search summary and the SQNR of the written file in ORT. */
async function run(name: string, args: string[], tag: string): Promise<{ s: Search; ort: number }> {
  const { calib, evalData } = files(name);
  const out = join(dir, `${name}.${tag}.onnx`);
  const r = quantCli([...args.slice(0, 1), zooPath(name), "-o", out, ...args.slice(1), "--data", calib, "--eval-data", evalData, "--format", "json", "--quiet"]);
  expect(r.stderr.trim().split("\n").at(-1) ?? "").not.toMatch(/^error/);
  expect(r.code).toBe(0);
  const s = JSON.parse(r.stdout).accuracySearch as Search;
  const feeds = await evalFeeds(name, 4);
  const ort = sqnr(await runOutputs(zooPath(name), feeds), await runOutputs(out, feeds));
  lines.push(`${name.padEnd(13)} ${tag.padEnd(22)} ${s.baseline.toFixed(1).padStart(6)} → ${s.achieved.toFixed(1).padStart(5)} dB (outputs in ORT ${ort.toFixed(1)} dB)  ${s.floatNodes}/${s.totalNodes} nodes  ${s.sessions} sessions ${s.seconds.toFixed(1)} s${s.met ? "" : `  NOT met: ${s.why}`}`);
  return { s, ort };
}

describe.skipIf(!hasZoo)("accuracy targets on the zoo (synthetic 1/f-noise images)", () => {
  let feature: Search | undefined;
  test("fr_feature static INT8 (14 dB as quantized) meets --target-sqnr 25", async () => {
    const { s, ort } = await run("fr_feature", ["calibrate", "--target-sqnr", "25"], "static 25 dB");
    feature = s;
    expect(s.baseline).toBeLessThan(16);
    expect(s.met).toBe(true);
    expect(s.achieved).toBeGreaterThanOrEqual(25);
    expect(ort).toBeGreaterThanOrEqual(25);
  }, 900_000);

  // The issue's figure. Measured: the error is spread over the network (the most sensitive node alone costs 21 dB,
  // the next ninety 29–33 dB each), so node-level fallback alone needs far more than 10 % of the nodes float.
  test.failing("fr_feature static INT8 at 25 dB with ≤ 10 % of nodes float", () => {
    expect(feature!.floatNodes / feature!.totalNodes).toBeLessThanOrEqual(0.1);
  });

  test("fr_feature weight-only INT8 per-channel meets --target-sqnr 25", async () => {
    const { s, ort } = await run("fr_feature", ["quantize", "--per-channel", "--target-sqnr", "25"], "weights pc 25 dB");
    expect(s.met).toBe(true);
    expect(ort).toBeGreaterThanOrEqual(25);
  }, 900_000);

  test("fr_detect: static reaches ≥ 20 dB with --target-sqnr 20, weight-only INT8 ≥ 25 dB with --target-sqnr 25", async () => {
    const st = await run("fr_detect", ["calibrate", "--target-sqnr", "20"], "static 20 dB");
    expect(st.s.met).toBe(true);
    expect(st.ort).toBeGreaterThanOrEqual(20);
    const w = await run("fr_detect", ["quantize", "--target-sqnr", "25"], "weights 25 dB");
    expect(w.s.met).toBe(true);
    expect(w.ort).toBeGreaterThanOrEqual(25);
  }, 900_000);

  test("fr_feature --bits 4 alone: the default 20 dB target holds (2.9 dB without it) and names its 8-bit layers", async () => {
    const { s, ort } = await run("fr_feature", ["quantize", "--bits", "4"], "int4 default");
    expect(s.met).toBe(true);
    expect(ort).toBeGreaterThanOrEqual(20);
    expect(s.decisions.length).toBe(s.floatNodes);
    expect(s.decisions.every((d) => d.action === "int8")).toBe(true);
  }, 900_000);

  // Every fp32 zoo model at 25 dB static: met, or the summary says why with figures.
  for (const name of ["fr_age", "fr_expression", "fr_eye", "fr_gender", "fr_landmark", "fr_liveness", "fr_pose"])
    test(`${name}: static INT8 --target-sqnr 25 is met or says why`, async () => {
      const { s, ort } = await run(name, ["calibrate", "--target-sqnr", "25", "--search-budget", "300s"], "static 25 dB");
      if (s.met) expect(ort).toBeGreaterThanOrEqual(25);
      else expect(s.why).toMatch(/\d+\.\d dB/);
    }, 900_000);
});
