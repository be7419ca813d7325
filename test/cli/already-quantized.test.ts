/**
 * One definition of "already quantized" across the commands: `info` reports it (exit 0), `quantize`, `calibrate`,
 * `batch` and `config` refuse a fully quantized model with one E_QUANT_ALREADY line and write nothing; a partly
 * quantized model gets its float weights quantized by `quantize` (and the summary says so), while `calibrate`
 * refuses it, naming what to do instead.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadModel } from "../../src/onnx/codec.ts";
import { encodeModelProto } from "../../src/onnx/proto.ts";
import { isQuantized } from "../../src/onnx/quantized.ts";
import { sqnrDb } from "../../src/tensor/quantize.ts";
import { twoMatMuls } from "../helpers/quantized-models.ts";
import { f32, randomFeeds, run } from "../onnx/ort.ts";
import { quant } from "./helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "quant-already-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const save = (name: string, proto: ReturnType<typeof twoMatMuls>) => {
  const p = join(dir, name);
  writeFileSync(p, encodeModelProto(proto));
  return p;
};
const full = save("full.onnx", twoMatMuls(true, true));
const partial = save("partial.onnx", twoMatMuls(true, false));
const errorLines = (stderr: string) => stderr.trim().split("\n").filter((l) => l.startsWith("error") || l.startsWith("✖"));

describe("a fully quantized model", () => {
  test("info reports it and exits 0", () => {
    const r = quant(["info", full]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("quantized    yes, fully: DequantizeLinear 2, 2 integer weight(s) (28 B)");
    const j = JSON.parse(quant(["info", full, "--format", "json"]).stdout);
    expect(j.quantized.state).toBe("full");
  });
  for (const args of [["quantize"], ["quantize", "--bits", "4", "--block-size", "32"], ["calibrate", "--samples", "2"]])
    test(`${args.join(" ")}: one E_QUANT_ALREADY line, exit 1, nothing written`, () => {
      const out = join(dir, "out-full");
      rmSync(out, { recursive: true, force: true });
      require("node:fs").mkdirSync(out);
      const r = quant([args[0]!, full, "-o", join(out, "o.onnx"), ...args.slice(1)]);
      expect(r.code).toBe(1);
      expect(errorLines(r.stderr)).toEqual([expect.stringContaining("E_QUANT_ALREADY")]);
      expect(r.stderr).toContain("the model is already quantized (DequantizeLinear 2) and has no float weights left to quantize");
      expect(readdirSync(out)).toEqual([]);
    });
  test("batch (both modes) and config: E_QUANT_ALREADY per model, exit 1, nothing written", () => {
    const out = join(dir, "batch-out");
    for (const mode of ["weights", "static"]) {
      const r = quant(["batch", full, "-o", out, "--mode", mode, "--format", "json", "--quiet"]);
      expect(r.code).toBe(1);
      expect(JSON.parse(r.stdout).models[0].error).toContain("E_QUANT_ALREADY");
    }
    const cfg = join(dir, "c.json");
    writeFileSync(cfg, JSON.stringify({ models: [{ input: full, output: join(out, "c.onnx") }] }));
    const c = quant(["config", cfg]);
    expect(c.code).toBe(1);
    expect(c.stderr).toContain("E_QUANT_ALREADY");
    const dry = quant(["config", cfg, "--dry-run"]);
    expect(dry.code).toBe(0); // a plan: the refusal is shown, the run itself exits 1
    expect(dry.stderr).toContain("1 model(s) would be refused");
    expect(dry.stdout).toContain("refused: E_QUANT_ALREADY");
    expect(readdirSync(dir)).not.toContain("batch-out");
  });
});

describe("a partly quantized model", () => {
  test("info: partly, with the float weights left", () => {
    expect(quant(["info", partial]).stdout).toContain("quantized    partly: DequantizeLinear 1, 1 integer weight(s) (16 B); 1 float weight(s) (48 B) left to quantize");
  });
  test("quantize quantizes only the float part, says so, and the output runs close to the input", async () => {
    const out = join(dir, "partial.q.onnx");
    const r = quant(["quantize", partial, "-o", out, "--per-channel", "--format", "json"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("the model is partly quantized (DequantizeLinear 1): its quantized parts are kept, its 1 float weight(s) are quantized now");
    const rep = JSON.parse(r.stdout);
    expect(rep.weights.quantized).toBe(1);
    expect(rep.tensors.find((t: { tensor: string }) => t.tensor === "W2")).toMatchObject({ action: "quantized", granularity: "per-channel axis 1" });
    expect(rep.skippedReasons["already quantized"]).toBe(1);
    expect(isQuantized(loadModel(out)).state).toBe("full");
    const feeds = randomFeeds(loadModel(partial).proto, 3);
    expect(sqnrDb(f32((await run(partial, feeds)).y), f32((await run(out, feeds)).y))).toBeGreaterThan(35);
    const human = quant(["quantize", partial, "-o", join(dir, "partial.h.onnx")]);
    expect(human.stdout).toContain("note: the model was partly quantized; its quantized weights were kept, its float weights quantized");
  });
  test("calibrate refuses it: static quantization needs the float model", () => {
    const r = quant(["calibrate", partial, "-o", join(dir, "never.onnx"), "--samples", "2"]);
    expect(r.code).toBe(1);
    expect(errorLines(r.stderr)).toEqual([expect.stringContaining("E_QUANT_ALREADY")]);
    expect(r.stderr).toContain("the model is partly quantized (DequantizeLinear 1; 1 float weight(s) left): static quantization needs the float model (`quant quantize` quantizes the float weights left)");
  });
});
