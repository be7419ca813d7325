/**
 * Calibrator cost, in-process (no onnxruntime): how fast each calibrator's `observe` folds a batch of float32
 * activations into its state, against a plain JS loop computing min/max over the same data in the same run, and how
 * long `finalize` takes per tensor (the searches of entropy, mse and percentile).
 *
 *   bun bench/calibrators.ts [--elements 1048576] [--batch 65536] [--rounds 9]
 *
 * Data: N(0,1) (signed, pre-activation), ReLU of it (half exact zeros), Laplace (long tail). Figures are medians of
 * interleaved rounds (the machine is shared: other processes add noise). `minmax` receives only the reduced min/max,
 * as from the runtime (the reduction runs inside the ONNX graph), so its row is the per-batch bookkeeping alone.
 * Never fails on time.
 */
import { defaultOptions, type CalibratorPlugin, type PluginContext } from "../src/index.ts";
import { HistogramObserver } from "../src/tensor/histogram.ts";
import minmax from "../plugins/calibrators/minmax.ts";
import percentile, { percentileRange } from "../plugins/calibrators/percentile.ts";
import entropy, { entropyRange } from "../plugins/calibrators/entropy.ts";
import mse, { mseRange } from "../plugins/calibrators/mse.ts";

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return Number(i >= 0 ? process.argv[i + 1]! : fallback);
};
const ELEMENTS = arg("elements", "1048576");
const BATCH = arg("batch", "65536");
const ROUNDS = arg("rounds", "9");

const silent = { debug() {}, info() {}, warn() {}, error() {}, log() {}, withTag: () => silent } as unknown as PluginContext["logger"];
const ctx: PluginContext = { logger: silent, options: defaultOptions, progress() {}, at() {} };

let seed = 12345;
const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) + 0.5) / 4294967296;
const gauss = new Float32Array(ELEMENTS);
for (let i = 0; i < ELEMENTS; i++) gauss[i] = Math.sqrt(-2 * Math.log(rnd())) * Math.cos(2 * Math.PI * rnd());
const relu = gauss.map((v) => (v > 0 ? v : 0));
const lap = new Float32Array(ELEMENTS);
for (let i = 0; i < ELEMENTS; i++) {
  const u = rnd() - 0.5;
  lap[i] = -Math.sign(u) * Math.log(1 - 2 * Math.abs(u));
}
const datasets: [string, Float32Array][] = [["N(0,1)", gauss], ["ReLU", relu], ["Laplace", lap]];

/** Per-batch min/max as the runtime reports them (precomputed: the graph reduces them). */
function reductions(x: Float32Array): { min: number; max: number }[] {
  const out: { min: number; max: number }[] = [];
  for (let i = 0; i < x.length; i += BATCH) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let j = i; j < Math.min(i + BATCH, x.length); j++) {
      const v = x[j]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    out.push({ min: lo, max: hi });
  }
  return out;
}

/** The baseline: a plain loop computing min and max of every batch. */
function plainMinMax(x: Float32Array): number {
  let acc = 0;
  for (let i = 0; i < x.length; i += BATCH) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let j = i, e = Math.min(i + BATCH, x.length); j < e; j++) {
      const v = x[j]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    acc += lo + hi;
  }
  return acc;
}

function observeAll(p: CalibratorPlugin, x: Float32Array, red: { min: number; max: number }[]): void {
  const s = p.create(ctx);
  for (let i = 0, b = 0; i < x.length; i += BATCH, b++) {
    const r = red[b]!;
    s.observe({ tensor: "t", min: r.min, max: r.max, values: p.needs === "values" ? x.subarray(i, i + BATCH) : undefined });
  }
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
const mbps = (ms: number) => (ELEMENTS * 4) / 1e6 / (ms / 1e3);

console.log(`observe: ${ELEMENTS} float32 per round (${((ELEMENTS * 4) / 1e6).toFixed(1)} MB), batches of ${BATCH}, median of ${ROUNDS} interleaved rounds`);
const plugins: [string, CalibratorPlugin][] = [["minmax", minmax()], ["percentile", percentile()], ["entropy", entropy()], ["mse", mse()]];
for (const [name, x] of datasets) {
  const red = reductions(x);
  const times: Record<string, number[]> = { "plain min/max loop": [] };
  for (const [p] of plugins) times[p] = [];
  let sink = 0;
  for (let r = 0; r < ROUNDS + 2; r++) {
    const t0 = performance.now();
    sink += plainMinMax(x);
    if (r >= 2) times["plain min/max loop"]!.push(performance.now() - t0); // two warm-up rounds
    for (const [pn, p] of plugins) {
      const t = performance.now();
      observeAll(p, x, red);
      if (r >= 2) times[pn]!.push(performance.now() - t);
    }
  }
  const base = median(times["plain min/max loop"]!);
  console.log(`\n${name}${sink === 42 ? " " : ""}`);
  for (const [k, ts] of Object.entries(times)) {
    const m = median(ts);
    console.log(`  ${k.padEnd(20)} ${mbps(m).toFixed(0).padStart(6)} MB/s   ${(m / base).toFixed(2)}× the plain loop's time`);
  }
}

console.log(`\nfinalize per tensor (histogram of ${ELEMENTS} values, 4096 bins), median of ${ROUNDS}`);
const searches: [string, (h: HistogramObserver) => unknown][] = [
  ["percentile", (h) => percentileRange(h, 99.99)],
  ["entropy", (h) => entropyRange(h)],
  ["mse", (h) => mseRange(h)],
];
for (const [name, x] of datasets) {
  const h = new HistogramObserver();
  h.observe(x);
  const row = searches.map(([sn, f]) => {
    for (let k = 0; k < 3; k++) f(h);
    const ts: number[] = [];
    for (let k = 0; k < ROUNDS; k++) {
      const t = performance.now();
      f(h);
      ts.push(performance.now() - t);
    }
    return `${sn} ${median(ts).toFixed(2)} ms`;
  });
  console.log(`  ${name.padEnd(8)} (${h.used} bins used)  ${row.join("   ")}`);
}
