/**
 * Calibration cost on mobilenet_v2 (issue 5): time of N plain fp32 inferences vs a calibration over the same N random
 * N(0,1) samples, one onnxruntime intra-op thread on both sides, and peak RSS with 512 samples vs 64 (child processes).
 *
 *   bun bench/calibrate-cost.ts [--model path] [--samples 64] [--rounds 3] [--rss 64,512] [--methods minmax,percentile,entropy,mse]
 *
 * Tensor sets: `all` = every float node output; `static` = what the static-qdq quantizer asks for (inputs of the ops it
 * quantizes). Each round times, back to back, the plain side (create a session + N inferences) and one calibration.
 * Columns (medians over rounds): end-to-end wall time (type probe, sessions, batches, finalize) and its ratio to the
 * plain side including its session; the batch loop alone and its ratio to the N inferences alone; process CPU time
 * (all threads) and its ratio. Targets: MinMax ≤ 1.5×, histogram methods ≤ 3×, peak RSS(512) ≤ 1.15 × peak RSS(64).
 * Never fails on time. The machine is shared: read the medians, and the CPU column when the wall ones are noisy.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { loadModel } from "../src/onnx/codec.ts";
import type { Model } from "../src/onnx/model.ts";
import { defaultOptions } from "../src/kernel/options.ts";
import type { CalibratorPlugin, PluginContext } from "../src/kernel/types.ts";
import { openDataset, type Batch, type CalibrationDataset } from "../src/data/dataset.ts";
import { calibrate } from "../src/runtime/calibrate.ts";
import { RuntimeSession, SINGLE_THREAD, modelInputs } from "../src/runtime/session.ts";
import minmax from "../plugins/calibrators/minmax.ts";
import percentile from "../plugins/calibrators/percentile.ts";
import entropy from "../plugins/calibrators/entropy.ts";
import mse from "../plugins/calibrators/mse.ts";

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
};
const MODEL = resolve(arg("model", resolve(import.meta.dir, "../../shared/models/mobilenet_v2.onnx")));
const SAMPLES = Number(arg("samples", "64"));
const ROUNDS = Number(arg("rounds", "3"));
const RSS = arg("rss", "64,512").split(",").filter(Boolean).map(Number);
const METHODS = arg("methods", "minmax,percentile,entropy,mse").split(",");

const silent = { debug() {}, info() {}, warn() {}, error() {}, log() {}, withTag: () => silent } as unknown as PluginContext["logger"];
const ctx: PluginContext = { logger: silent, options: defaultOptions, progress() {}, at() {} };
const FACTORIES: Record<string, () => CalibratorPlugin> = { minmax, percentile: () => percentile(), entropy: () => entropy(), mse: () => mse() };

/** Every float-typed node output is decided by the observation builder; here: every node output but Constant's. */
function allOutputs(model: Model): string[] {
  return (model.proto.graph?.node ?? []).filter((n) => n.op_type !== "Constant").flatMap((n) => n.output ?? []).filter(Boolean);
}

/** What the static quantizer observes (falls back to inputs of the usual ops if the plugin is unavailable). */
async function staticSet(model: Model): Promise<string[]> {
  try {
    const { default: staticQdq } = await import("../plugins/quantizers/static-qdq/index.ts");
    return await staticQdq().activations!(model, ctx);
  } catch {
    const ops = new Set(["Conv", "ConvTranspose", "Gemm", "MatMul", "Add", "Concat", "MaxPool", "AveragePool", "GlobalAveragePool"]);
    return [...new Set((model.proto.graph?.node ?? []).filter((n) => ops.has(n.op_type!)).flatMap((n) => (n.op_type === "Add" || n.op_type === "Concat" ? n.input! : [n.input![0]!])))];
  }
}

/** The first `n` samples of a dataset held in memory, so neither side of a ratio pays for generating data. */
function cached(ds: CalibrationDataset, n: number): CalibrationDataset {
  const one = ds.batch(0, 1);
  const arrays: Record<string, Float32Array> = {};
  for (const [k, v] of Object.entries(one)) arrays[k] = new Float32Array(v.data.length * n);
  for (let i = 0; i < n; i++) for (const [k, v] of Object.entries(ds.batch(i, 1))) arrays[k]!.set(v.data as Float32Array, i * v.data.length);
  return {
    count: n,
    inputs: ds.inputs,
    batch(start: number, size: number): Batch {
      const out: Batch = {};
      for (const [k, v] of Object.entries(one)) {
        const per = v.data.length;
        out[k] = { data: arrays[k]!.subarray(start * per, (start + size) * per), dims: [size, ...v.dims.slice(1)], elemType: v.elemType };
      }
      return out;
    },
    close() {},
  };
}

/** Peak resident set of this process in bytes (VmHWM), or the rusage max. */
function peakRss(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
    if (m) return Number(m[1]) * 1024;
  } catch {}
  return process.resourceUsage().maxRSS * 1024;
}

const cpuMs = (since: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1000;
};
const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Child mode: one calibration over streamed random samples, then print timing and peak RSS as JSON. */
async function child(method: string, samples: number) {
  const model = loadModel(MODEL);
  const ds = openDataset({ samples, seed: 0 }, modelInputs(model));
  const tensors = await staticSet(model);
  const plugin = FACTORIES[method]!();
  const t0 = performance.now();
  const r = await calibrate(model, tensors, [{ plugin, state: plugin.create(ctx) }], ds, { runtime: SINGLE_THREAD });
  console.log(JSON.stringify({ method, samples, seconds: (performance.now() - t0) / 1000, observed: r.ranges.size, peakRss: peakRss() }));
}

async function main() {
  const model = loadModel(MODEL);
  const inputs = modelInputs(model);
  const data = cached(openDataset({ samples: SAMPLES, seed: 0 }, inputs), SAMPLES);
  const sets: Record<string, string[]> = { all: allOutputs(model), static: await staticSet(model) };
  console.log(`model ${MODEL.split("/").pop()}, ${SAMPLES} random N(0,1) samples, batch 1, 1 intra-op thread, ${ROUNDS} interleaved rounds`);
  console.log(`tensor sets: all = ${sets.all!.length} node outputs, static = ${sets.static!.length} (static-qdq activations)`);

  const plain = await RuntimeSession.create(model, SINGLE_THREAD);
  const feeds = Array.from({ length: SAMPLES }, (_, i) => plain.feeds(data.batch(i, 1)));
  for (let i = 0; i < 3; i++) await plain.run(feeds[i % SAMPLES]!);

  type Row = { name: string; wall: number[]; loop: number[]; cpu: number[]; ratio: number[]; loopRatio: number[]; cpuRatio: number[]; fused?: boolean; pipelined?: boolean; observed?: number };
  const configs: { name: string; set: string; method: string; fused: boolean; pipeline: boolean; batch: number; whole?: boolean }[] = [];
  for (const m of METHODS) {
    const c = { set: "static", method: m, fused: true, pipeline: true, batch: 1 };
    configs.push({ ...c, name: `${m} static` });
    if (m === "minmax") configs.push({ ...c, name: "minmax static, no fused graph", fused: false });
    if (m !== "minmax") configs.push({ ...c, name: `${m} static, no worker`, pipeline: false });
    if (m === "minmax" || m === "percentile") configs.push({ ...c, name: `${m} static, whole batches of 8`, batch: 8, whole: true });
    configs.push({ ...c, name: `${m} all`, set: "all" });
  }
  const rows: Row[] = configs.map((c) => ({ name: c.name, wall: [], loop: [], cpu: [], ratio: [], loopRatio: [], cpuRatio: [] }));
  const plainRow = { wall: [] as number[], runs: [] as number[], cpu: [] as number[] };
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < configs.length; k++) {
      // The plain side right before each calibration, so both sides of a ratio see the same machine load.
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const s = await RuntimeSession.create(model, SINGLE_THREAD);
      const t0r = performance.now();
      for (const f of feeds) await s.run(f);
      const pRuns = performance.now() - t0r;
      const pWall = performance.now() - t0;
      const pCpu = cpuMs(c0);
      await s.release();
      plainRow.wall.push(pWall);
      plainRow.runs.push(pRuns);
      plainRow.cpu.push(pCpu);
      const c = configs[k]!;
      const plugin = FACTORIES[c.method]!();
      const c1 = process.cpuUsage();
      const t1 = performance.now();
      const r = await calibrate(model, sets[c.set]!, [{ plugin, state: plugin.create(ctx) }], data, { runtime: SINGLE_THREAD, fused: c.fused, pipeline: c.pipeline, batchSize: c.batch, wholeBatches: c.whole });
      const wall = performance.now() - t1;
      const cpu = cpuMs(c1);
      const loop = wall - r.stats.setupSeconds * 1000;
      const row = rows[k]!;
      row.wall.push(wall);
      row.loop.push(loop);
      row.cpu.push(cpu);
      row.ratio.push(wall / pWall);
      row.loopRatio.push(loop / pRuns);
      row.cpuRatio.push(cpu / pCpu);
      row.fused = r.stats.fused;
      row.pipelined = r.stats.pipelined;
      row.observed = r.ranges.size;
    }
  }
  await plain.release();
  if (ROUNDS > 0) {
    const f = (x: number) => x.toFixed(0).padStart(7);
    const x = (v: number) => `${v.toFixed(2)}×`.padStart(7);
    console.log(
      `\nplain fp32: session + ${SAMPLES} inferences ${median(plainRow.wall).toFixed(0)} ms, the ${SAMPLES} inferences ${median(plainRow.runs).toFixed(0)} ms (${(median(plainRow.runs) / SAMPLES).toFixed(2)} ms each), cpu ${median(plainRow.cpu).toFixed(0)} ms`,
    );
    console.log(`${"calibration".padEnd(31)} ${"tensors".padStart(7)} ${"e2e ms".padStart(7)} ${"ratio".padStart(7)} ${"loop ms".padStart(7)} ${"ratio".padStart(7)} ${"cpu ms".padStart(7)} ${"ratio".padStart(7)}  path`);
    for (const r of rows)
      console.log(
        `${r.name.padEnd(31)} ${String(r.observed).padStart(7)} ${f(median(r.wall))} ${x(median(r.ratio))} ${f(median(r.loop))} ${x(median(r.loopRatio))} ${f(median(r.cpu))} ${x(median(r.cpuRatio))}  ${r.fused ? "fused graph" : r.pipelined ? "worker" : "plain"}`,
      );
    console.log("targets: minmax ≤ 1.50×, histogram methods ≤ 3.00× (medians of per-round ratios to the plain side measured just before)");
  }

  if (RSS.length) {
    console.log(`\npeak RSS of a whole calibration in a child process (static set, streamed random data):`);
    for (const method of METHODS.filter((m) => m === "minmax" || m === "percentile")) {
      const peaks: number[] = [];
      for (const n of RSS) {
        const p = spawnSync(process.execPath, [import.meta.path, "--child", method, String(n), "--model", MODEL], { encoding: "utf8" });
        const line = p.stdout.trim().split("\n").pop() ?? "";
        if (p.status !== 0 || !line.startsWith("{")) {
          console.log(`  ${method} ${n}: child failed: ${p.stderr.trim().split("\n").pop()}`);
          continue;
        }
        const j = JSON.parse(line) as { peakRss: number; seconds: number };
        peaks.push(j.peakRss);
        console.log(`  ${method.padEnd(10)} ${String(n).padStart(4)} samples: peak RSS ${(j.peakRss / 2 ** 20).toFixed(0)} MiB, ${j.seconds.toFixed(1)} s`);
      }
      if (peaks.length === 2) console.log(`  ${method.padEnd(10)} ratio ${RSS[1]}/${RSS[0]}: ${(peaks[1]! / peaks[0]!).toFixed(3)}× (target ≤ 1.15×)`);
    }
  }
}

if (process.argv.includes("--child")) {
  const i = process.argv.indexOf("--child");
  await child(process.argv[i + 1]!, Number(process.argv[i + 2]));
} else await main();
