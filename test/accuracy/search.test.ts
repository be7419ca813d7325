/**
 * The accuracy search on a detector-like model built in code with issue 13's failure (a depthwise Conv whose output
 * channels differ 50× in range, amplified by a float affine Mul/Add): static INT8 ruins it, `--target-sqnr` finds the
 * one node to keep float, ONNX Runtime does not quantize that node again (no QLinearConv for it in its optimized
 * graph), the result is deterministic, and bad target flags are one-line usage errors.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RuntimeSession, encodeModelProto, loadModel, writeNpy } from "../../src/index.ts";
import { loadOrt } from "../../src/runtime/session.ts";
import { quant } from "../cli/helpers.ts";
import { hostileDetector } from "../helpers/hostile-detector.ts";
import { randf } from "../onnx/fixtures.ts";

// Every test runs the CLI (one or more quantizations with ORT sessions): minutes on a loaded 2-core machine.
setDefaultTimeout(180_000);
const dir = mkdtempSync(join(tmpdir(), "quant-search-"));
const model = join(dir, "det.onnx");
const calib = join(dir, "calib.npy");
const evalData = join(dir, "eval.npy");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Logits-free check: SQNR of the 'prob' output of `q` against the float model on the evaluation samples, in ORT. */
async function sqnrOnEval(q: string): Promise<number> {
  const ort = await loadOrt();
  const data = randf(4 * 3 * 32 * 32, 77);
  const f = await RuntimeSession.create(model), s = await RuntimeSession.create(q);
  let sig = 0, noise = 0;
  for (let i = 0; i < 4; i++) {
    const x = new ort.Tensor("float32", data.subarray(i * 3072, (i + 1) * 3072), [1, 3, 32, 32]);
    const a = (await f.run({ x })).prob!.data as Float32Array, b = (await s.run({ x })).prob!.data as Float32Array;
    for (let k = 0; k < a.length; k++) {
      sig += a[k]! * a[k]!;
      noise += (a[k]! - b[k]!) ** 2;
    }
  }
  await f.release();
  await s.release();
  return 10 * Math.log10(sig / noise);
}

beforeAll(() => {
  writeFileSync(model, encodeModelProto(hostileDetector()));
  writeNpy(calib, randf(16 * 3072, 5), [16, 3, 32, 32]);
  writeNpy(evalData, randf(4 * 3072, 77), [4, 3, 32, 32]);
});

describe("--target-sqnr on a detector with one ruinous tensor", () => {
  test("plain static INT8 ruins it (< 20 dB on the probability map; its logits: < 5 dB, below)", async () => {
    const out = join(dir, "plain.onnx");
    expect(quant(["calibrate", model, "--data", calib, "-o", out, "--quiet"]).code).toBe(0);
    expect(await sqnrOnEval(out)).toBeLessThan(20);
  });

  let report: { accuracySearch: { met: boolean; achieved: number; baseline: number; floatNodes: number; totalNodes: number; decisions: { node: string; opType: string; isolatedSqnrDb: number; action: string; reason: string }[]; evalSource: string; metric: string; sessions: number } };
  const out = join(dir, "target.onnx");
  test("--target-sqnr 30 keeps exactly the depthwise Conv float and meets 30 dB in ORT", async () => {
    const r = quant(["calibrate", model, "--data", calib, "--eval-data", evalData, "-o", out, "--target-sqnr", "30", "--format", "json", "--quiet"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    report = JSON.parse(r.stdout);
    const s = report.accuracySearch;
    expect(s.met).toBe(true);
    expect(s.baseline).toBeLessThan(5);
    expect(s.achieved).toBeGreaterThanOrEqual(30);
    expect(s.decisions.map((d) => [d.node, d.opType, d.action])).toEqual([["dw", "Conv", "float"]]);
    expect(s.decisions[0]!.isolatedSqnrDb).toBeLessThan(10);
    expect(s.floatNodes).toBe(1);
    expect(s.totalNodes).toBe(4);
    expect(s.metric).toBe("output SQNR (dB) on pre-Sigmoid logits of 'prob'");
    expect(s.evalSource).toContain(`--eval-data ${evalData}`);
    // Measured independently on the probability map (the sigmoid only compresses the logits' error).
    expect(await sqnrOnEval(out)).toBeGreaterThanOrEqual(30);
  });

  test("ONNX Runtime does not quantize the excluded node again: no QLinearConv for dw, the other Convs fused", async () => {
    const opt = join(dir, "opt.onnx");
    const s = await RuntimeSession.create(out, { optimization: "extended", optimizedModelFilePath: opt });
    await s.release();
    const nodes = loadModel(opt).proto.graph!.node!.map((n) => `${n.op_type}:${n.name}`);
    expect(nodes.filter((n) => n.startsWith("QLinearConv:")).sort()).toEqual(["QLinearConv:head", "QLinearConv:pw1", "QLinearConv:pw2"]);
    expect(nodes).toContain("Conv:dw");
    // Nothing quantizes dw's input or reads a DQ into it: its input is the float stem output.
    const q = loadModel(out).proto.graph!.node!.find((n) => n.name === "dw")!;
    expect(q.input).toEqual(["stem_relu", "dw_w", "dw_b"]);
  });

  test("the human summary lists the target, the metric, the evaluation data and each decision", () => {
    const r = quant(["calibrate", model, "--data", calib, "--eval-data", evalData, "-o", join(dir, "h.onnx"), "--target-sqnr", "30"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/accuracy target 30 dB: met, \d+\.\d dB \(as quantized -?\d+\.\d dB\); 1 of 4 nodes kept float/);
    expect(r.stdout).toContain("metric: output SQNR (dB) on pre-Sigmoid logits of 'prob'");
    expect(r.stdout).toMatch(/float dw \(Conv\): isolated \d+\.\d dB \(rank 1 of 4\)/);
  });

  test("deterministic: the same flags give the same bytes", () => {
    const again = join(dir, "again.onnx");
    expect(quant(["calibrate", model, "--data", calib, "--eval-data", evalData, "-o", again, "--target-sqnr", "30", "--quiet"]).code).toBe(0);
    expect(Buffer.compare(readFileSync(again), readFileSync(out))).toBe(0);
  });

  test("without --eval-data the evaluation samples are held out of --data and the summary says which", () => {
    const r = quant(["calibrate", model, "--data", calib, "-o", join(dir, "held.onnx"), "--target-sqnr", "30", "--format", "json", "--quiet"]);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout).accuracySearch;
    expect(s.evalSource).toBe(`samples 12–15 of ${calib}, held out: calibration used samples 0–11`);
    expect(s.met).toBe(true);
  });

  test("a target already met changes nothing: same bytes as without it", () => {
    const a = join(dir, "easy.onnx"), b = join(dir, "none.onnx");
    const r = quant(["calibrate", model, "--data", calib, "--eval-data", evalData, "-o", a, "--target-sqnr", "30", "--exclude", "dw", "--format", "json", "--quiet"]);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout).accuracySearch;
    expect([s.met, s.floatNodes, s.decisions]).toEqual([true, 0, []]);
    expect(quant(["calibrate", model, "--data", calib, "-o", b, "--exclude", "dw", "--quiet"]).code).toBe(0);
    expect(Buffer.compare(readFileSync(a), readFileSync(b))).toBe(0);
  });
});

describe("accuracy target flags: bad input is one line, nothing written", () => {
  const cases: [string[], RegExp][] = [
    [["--target-sqnr", "abc"], /E_USAGE.*--target-sqnr/],
    [["--target-sqnr", "-3"], /E_USAGE.*--target-sqnr/],
    [["--target-accuracy", "0.01"], /E_USAGE.*--labels/],
    [["--target-sqnr", "20", "--target-accuracy", "0.01", "--labels", "x.npy"], /E_USAGE.*either/],
    [["--target-sqnr", "20", "--search-budget", "soon"], /E_USAGE.*--search-budget/],
  ];
  for (const [flags, re] of cases)
    test(flags.join(" "), () => {
      const o = join(dir, "bad.onnx");
      const r = quant(["calibrate", model, "--data", calib, "-o", o, ...flags]);
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(re);
      expect(existsSync(o)).toBe(false);
    });

  test("one calibration sample cannot be split: E_CALIB_SAMPLES naming --eval-data", () => {
    const one = join(dir, "one.npy");
    writeNpy(one, randf(3072, 9), [1, 3, 32, 32]);
    const r = quant(["calibrate", model, "--data", one, "-o", join(dir, "one.onnx"), "--target-sqnr", "20"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error E_CALIB_SAMPLES.*--eval-data/);
  });
});

describe("validate --detailed: isolated per-node sensitivity", () => {
  test("names the one ruinous node first, with its isolated SQNR, in JSON and in the human report", () => {
    const plain = join(dir, "plain-v.onnx");
    expect(quant(["calibrate", model, "--data", calib, "-o", plain, "--quiet"]).code).toBe(0);
    const r = quant(["validate", model, plain, "--data", evalData, "--detailed", "--format", "json"]);
    const rep = JSON.parse(r.stdout);
    const rows = rep.sensitivity as { node: string; opType: string; isolatedSqnrDb: number }[];
    expect(rows.map((x) => x.node)).toEqual(["dw", ...rows.slice(1).map((x) => x.node)]);
    expect(rows.map((x) => x.node).sort()).toEqual(["dw", "head", "pw1", "pw2"]);
    expect(rows[0]!.isolatedSqnrDb).toBeLessThan(10);
    for (const x of rows.slice(1)) expect(x.isolatedSqnrDb).toBeGreaterThan(30);
    const h = quant(["validate", model, plain, "--data", evalData, "--detailed"]);
    expect(h.stdout).toMatch(/isolated per-node sensitivity \(output SQNR with only that node quantized; 4, worst first\):\n\s+-?\d+\.\d\d dB  dw \(Conv\)/);
  });
});

describe("library API and config", () => {
  test("runPipeline with options.targetSqnr returns the search on the result", async () => {
    const { loadQuantConfig, resolveChain, runPipeline } = await import("../../src/index.ts");
    const { builtinPlugins } = await import("../../src/cli/registry.ts");
    const { planJob } = await import("../../src/config/plan.ts");
    const loaded = await loadQuantConfig({ noConfig: true, registry: builtinPlugins });
    const job = planJob(loaded, "static", model, join(dir, "lib.onnx"), { data: calib, evalData, targetSqnr: 30 });
    const r = await runPipeline({ model, plugins: await resolveChain(job.chain, { cwd: job.cwd, registry: builtinPlugins }), options: job.options, write: false });
    expect(r.accuracySearch!.met).toBe(true);
    expect(r.accuracySearch!.decisions.map((d) => d.node)).toEqual(["dw"]);
    expect(r.accuracySearch!.target).toEqual({ kind: "sqnr", db: 30 });
  });

  test("a config file's targetSqnr and searchBudget are honoured by `quant config`", () => {
    const cfg = join(dir, "quant.config.json");
    writeFileSync(cfg, JSON.stringify({ mode: "static", models: [{ input: model, output: join(dir, "cfg.onnx"), data: calib, evalData, targetSqnr: 30, searchBudget: "50sessions" }] }));
    const r = quant(["config", cfg, "--format", "json", "--quiet"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('"accuracySearch"');
    expect(JSON.parse(r.stdout).models[0].accuracySearch.decisions.map((d: { node: string }) => d.node)).toEqual(["dw"]);
  });
});

describe("report exporter", () => {
  test("the JSON report carries the search and its decisions", () => {
    const cfg = join(dir, "report.config.json");
    const out = join(dir, "rep.onnx");
    writeFileSync(cfg, JSON.stringify({ plugins: ["normalize", "minmax", "static-qdq", "int8", "onnx", "report"], models: [{ input: model, output: out, data: calib, evalData, targetSqnr: 30 }] }));
    const r = quant(["config", cfg, "--quiet"]);
    expect(r.code).toBe(0);
    const rep = JSON.parse(readFileSync(join(dir, "rep.report.json"), "utf8"));
    expect(rep.accuracySearch.met).toBe(true);
    expect(rep.accuracySearch.decisions.map((d: { node: string; action: string }) => [d.node, d.action])).toEqual([["dw", "float"]]);
  });
});

describe("batch", () => {
  test("forwards the target to each model and reports the search per model", () => {
    const r = quant(["batch", model, "-o", join(dir, "batch"), "--mode", "static", "--data", calib, "--eval-data", evalData, "--target-sqnr", "30", "--format", "json", "--quiet"]);
    expect(r.code).toBe(0);
    const m = JSON.parse(r.stdout).models[0];
    expect([m.status, m.accuracySearch.met, m.accuracySearch.decisions.map((d: { node: string }) => d.node)]).toEqual(["ok", true, ["dw"]]);
  });
});

describe("--target-accuracy with --labels", () => {
  test("labels = the float model's top-1 (of the 1024-pixel map): a zero drop keeps dw float, agreement 4/4", async () => {
    const ort = await loadOrt();
    const s = await RuntimeSession.create(model);
    const data = randf(4 * 3072, 77);
    const labels = new Int32Array(4);
    for (let i = 0; i < 4; i++) {
      const y = (await s.run({ x: new ort.Tensor("float32", data.subarray(i * 3072, (i + 1) * 3072), [1, 3, 32, 32]) })).prob!.data as Float32Array;
      labels[i] = y.indexOf(Math.max(...y));
    }
    await s.release();
    const lab = join(dir, "labels.npy");
    writeNpy(lab, labels, [4]);
    const r = quant(["calibrate", model, "--data", calib, "--eval-data", evalData, "--labels", lab, "--target-accuracy", "0", "-o", join(dir, "acc.onnx"), "--format", "json", "--quiet"]);
    expect(r.code).toBe(0);
    const a = JSON.parse(r.stdout).accuracySearch;
    expect(a.target).toEqual({ kind: "accuracy", drop: 0 });
    expect(a.metric).toBe("top-1 accuracy on pre-Sigmoid logits of 'prob'");
    expect(a.evalSource).toContain("float accuracy 1.0000");
    expect(a.baseline).toBeLessThan(1);
    expect(a.achieved).toBe(1);
    expect(a.decisions.map((d: { node: string }) => d.node)).toEqual(["dw"]);
  });
});

describe("--search-budget", () => {
  test("a spent budget stops the ranking early, says so, and still writes the best set found, verified", () => {
    const r = quant(["calibrate", model, "--data", calib, "--eval-data", evalData, "-o", join(dir, "budget.onnx"), "--target-sqnr", "30", "--search-budget", "1sessions", "--format", "json"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("search budget spent after measuring 1 of 4 nodes");
    const s = JSON.parse(r.stdout).accuracySearch;
    // dw is first in graph order, so even a one-node ranking finds it; the fused model is still measured.
    expect([s.met, s.decisions.map((d: { node: string }) => d.node)]).toEqual([true, ["dw"]]);
    expect(s.sessions).toBe(4);
  });
});
