/**
 * The output opset is decided before anything is inserted: models of every opset from 7 to 12 go through
 * `quantize` (per-tensor, per-channel, INT4 blocks), `calibrate`, `batch` and `config --dry-run`, reach the lowest
 * opset their output needs, load in onnxruntime-node and stay close to the float model. A model that cannot be
 * converted is refused up front with one E_OPSET naming its own ops, and nothing is written.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { definePacker, defineQuantizer, runPipeline } from "../../src/index.ts";
import { loadModel } from "../../src/onnx/codec.ts";
import { encodeModelProto } from "../../src/onnx/proto.ts";
import { num } from "../../src/onnx/types.ts";
import { sqnrDb } from "../../src/tensor/quantize.ts";
import { quant } from "../cli/helpers.ts";
import { oldOpsetCnn } from "../helpers/old-opset.ts";
import { f32, randomFeeds, run } from "../onnx/ort.ts";
import weightOnly from "../../plugins/quantizers/weight-only.ts";
import int8 from "../../plugins/packers/int8.ts";
import int4 from "../../plugins/packers/int4.ts";
import onnx from "../../plugins/exporters/onnx.ts";

const dir = mkdtempSync(join(tmpdir(), "quant-opset-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const OPSETS = [7, 8, 9, 10, 11, 12];
const modelPath = (opset: number) => {
  const p = join(dir, `cnn${opset}.onnx`);
  if (!existsSync(p)) writeFileSync(p, encodeModelProto(oldOpsetCnn(opset)));
  return p;
};

const opsetOf = (path: string) => num(loadModel(path).proto.opset_import!.find((o) => !o.domain)!.version);

/** SQNR (dB) of the quantized model's output against the float model's, on 4 seeded random inputs, in ORT. */
async function outputSqnr(float: string, quantized: string): Promise<number> {
  const proto = loadModel(float).proto;
  const ref: number[] = [];
  const got: number[] = [];
  for (let seed = 1; seed <= 4; seed++) {
    const feeds = randomFeeds(proto, seed);
    ref.push(...f32((await run(float, feeds)).y));
    got.push(...f32((await run(quantized, feeds)).y));
  }
  return sqnrDb(Float32Array.from(ref), Float32Array.from(got));
}

// [flags, output opset for a model below it, lowest acceptable output SQNR in dB]
const MODES: [name: string, args: string[], need: number, minDb: number][] = [
  ["quantize (per-tensor INT8)", ["quantize"], 10, 30],
  ["quantize --per-channel", ["quantize", "--per-channel"], 13, 30],
  ["quantize --bits 4 --block-size 32", ["quantize", "--bits", "4", "--block-size", "32"], 21, 14],
  ["calibrate (static INT8, random data)", ["calibrate", "--samples", "8"], 13, 20],
];

describe("models at opset 7–12, every command and bit width", () => {
  for (const opset of OPSETS)
    for (const [name, args, need, minDb] of MODES) {
      test(`opset ${opset}: ${name} → opset ${Math.max(opset, need)}, loads in ORT, output SQNR ≥ ${minDb} dB`, async () => {
        const input = modelPath(opset);
        const out = join(dir, `out-${opset}-${args.join("_")}.onnx`);
        const r = quant([args[0]!, input, "-o", out, ...args.slice(1), "--format", "json", "--quiet"]);
        expect(r.stderr).toBe("");
        expect(r.code).toBe(0);
        const rep = JSON.parse(r.stdout);
        const to = Math.max(opset, need);
        expect(rep.opset.from).toBe(opset);
        expect(rep.opset.to).toBe(to);
        expect(opsetOf(out)).toBe(to);
        expect(rep.weights.quantized).toBe(2); // conv.weight and fc.weight
        // IR-3 exports list every initializer as an input: constants, dropped from the output's inputs.
        const inputs = loadModel(out).proto.graph!.input!.map((v) => v.name);
        expect(inputs).toEqual(["x"]);
        if (opset < 9) expect(rep.notes[0]).toContain("8 initializer(s) listed as graph inputs treated as constants");
        else expect(rep.notes).toEqual([]);
        expect(await outputSqnr(input, out)).toBeGreaterThanOrEqual(minDb);
      }, 30_000);
    }
});

describe("the human summary says what the opset decision was", () => {
  test("opset 9 → 13 (per-channel weights), truthfully", () => {
    const r = quant(["quantize", modelPath(9), "-o", join(dir, "h.onnx"), "--per-channel"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("opset 9 → 13 (per-channel weights)");
    expect(opsetOf(join(dir, "h.onnx"))).toBe(13);
  });
  test("a model already above the need keeps its opset", () => {
    const r = quant(["quantize", modelPath(12), "-o", join(dir, "h12.onnx"), "--format", "json"]);
    expect(JSON.parse(r.stdout).opset).toEqual({ from: 12, to: 12, needs: [{ plugin: "weight-only", opset: 10, reason: "per-tensor weights" }] });
  });
});

describe("batch and config --dry-run over opsets 7–12", () => {
  test("batch: every model converted once and quantized", async () => {
    const outDir = join(dir, "batch");
    const r = quant(["batch", ...OPSETS.map(modelPath), "-o", outDir, "--per-channel", "--format", "json", "--quiet"]);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.models.map((m: { status: string }) => m.status)).toEqual(OPSETS.map(() => "ok"));
    for (const o of OPSETS) {
      expect(opsetOf(join(outDir, `cnn${o}.onnx`))).toBe(13);
      expect(await outputSqnr(modelPath(o), join(outDir, `cnn${o}.onnx`))).toBeGreaterThanOrEqual(30);
    }
  }, 60_000);
  test("config --dry-run shows each model's opset decision and writes nothing", () => {
    const cfgDir = join(dir, "cfg");
    rmSync(cfgDir, { recursive: true, force: true });
    require("node:fs").mkdirSync(cfgDir);
    const cfg = join(cfgDir, "quant.config.json");
    writeFileSync(cfg, JSON.stringify({ bits: 4, block_size: 32, models: OPSETS.map((o) => ({ input: modelPath(o), output: join(cfgDir, `o${o}.onnx`) })) }));
    const human = quant(["config", cfg, "--dry-run"]);
    expect(human.code).toBe(0);
    for (const o of OPSETS) expect(human.stdout).toContain(`opset ${o} → 21 (32-element weight blocks need 21 [weight-only]`);
    const json = JSON.parse(quant(["config", cfg, "--dry-run", "--format", "json"]).stdout);
    expect(json.jobs.map((j: { opset: { to: number } }) => j.opset.to)).toEqual(OPSETS.map(() => 21));
    expect(readdirSync(cfgDir)).toEqual(["quant.config.json"]);
    // And for real: every model at 21, loadable.
    const run = quant(["config", cfg, "--format", "json", "--quiet"]);
    expect(run.code).toBe(0);
    const rep = JSON.parse(run.stdout);
    expect(rep.models.map((m: { opset: { from: number; to: number } }) => m.opset.from)).toEqual(OPSETS);
    for (const o of OPSETS) expect(opsetOf(join(cfgDir, `o${o}.onnx`))).toBe(21);
  }, 60_000);
});

describe("refusals come first and name the user's ops", () => {
  test("a model that cannot reach the needed opset: one E_OPSET naming its Dropout, not our Q/DQ; nothing written", () => {
    const p = join(dir, "mask.onnx");
    writeFileSync(p, encodeModelProto(oldOpsetCnn(9, { maskRead: true })));
    const out = join(dir, "mask-out");
    require("node:fs").mkdirSync(out);
    for (const args of [["quantize"], ["quantize", "--per-channel"], ["calibrate", "--samples", "2"], ["quantize", "--bits", "4", "--block-size", "32"]]) {
      const r = quant([args[0]!, p, "-o", join(out, "o.onnx"), ...args.slice(1)]);
      expect(r.code).toBe(1);
      const lines = r.stderr.trim().split("\n").filter((l) => l.startsWith("error"));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain("E_OPSET");
      expect(lines[0]).toContain('Dropout "dropout": its mask output "mask" is read');
      expect(lines[0]).not.toMatch(/QuantizeLinear|DequantizeLinear/);
      expect(lines[0]).toMatch(/the output needs opset (10|13|21)/);
    }
    expect(readdirSync(out)).toEqual([]);
  });
  test("the refusal happens before calibration: no inference, E_OPSET first", () => {
    const p = join(dir, "mask.onnx");
    const r = quant(["calibrate", p, "-o", join(dir, "never.onnx"), "--samples", "100000", "--format", "json"]);
    expect(r.code).toBe(1);
    // Only the CLI's up-front note about random data, then the refusal: no calibration warning or progress.
    const lines = r.stderr.trim().split("\n").filter((l) => !l.startsWith("⚠ no --data given"));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toStartWith("error E_OPSET");
    expect(existsSync(join(dir, "never.onnx"))).toBe(false);
  });
  test("--opset below the declared need fails before any work", () => {
    const r = quant(["quantize", modelPath(9), "-o", join(dir, "low.onnx"), "--per-channel", "--opset", "11"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("E_OPSET");
    expect(r.stderr).toContain("--opset 11 is too low: this output needs opset 13 (per-channel weights need 13 [weight-only])");
  });
});

describe("the plugin contract", () => {
  test("packers declare storage needs: native INT4 makes the kernel convert to 21 before the rewrite", async () => {
    const out = join(dir, "lib-int4.onnx");
    const r = await runPipeline({ model: loadModel(modelPath(9)), plugins: [weightOnly({ bits: 4, sensitivity: false }), int4(), int8(), onnx()], options: { output: out } });
    expect(r.opset.from).toBe(9);
    expect(r.opset.to).toBe(21);
    expect(r.opset.needs).toEqual([
      { plugin: "int4", opset: 21, reason: "int4 storage" },
      { plugin: "weight-only", opset: 10, reason: "per-tensor weights" },
    ]);
    expect(await outputSqnr(modelPath(9), out)).toBeGreaterThan(10);
  });
  test("a quantizer that declares nothing still gets a valid output when the model can be converted afterwards", async () => {
    // Same rewrite as weight-only, but without `requires`: on an opset-10 model, the kernel converts after the rewrite.
    const inner = weightOnly({ perChannel: true });
    const silent = defineQuantizer({ name: "silent", quantize: (m, i, c) => inner.quantize(m, i, c) });
    const warnings: string[] = [];
    const logger = { ...console, warn: (m: string) => warnings.push(m), withTag: () => logger, info: () => {}, debug: () => {} } as never;
    const out = join(dir, "silent.onnx");
    const r = await runPipeline({ model: loadModel(modelPath(10)), plugins: [silent, int8(), onnx()], options: { output: out }, logger });
    expect(r.opset).toEqual({ from: 10, to: 13, needs: [] });
    expect(warnings.join("\n")).toContain("plugins without requires/minOpset: silent");
    expect(await outputSqnr(modelPath(10), out)).toBeGreaterThan(30);
  });
  test("a packer's minOpset is asked only for the declared types; the first packer answering decides", async () => {
    const asked: string[] = [];
    const spy = definePacker({ name: "spy", accepts: () => false, pack: () => {}, minOpset: (t) => (asked.push(t), undefined) });
    await runPipeline({ model: loadModel(modelPath(9)), plugins: [weightOnly(), spy, int8()], write: false });
    expect(asked).toEqual(["int8"]);
  });
});
