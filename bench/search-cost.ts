/**
 * Cost and result of the accuracy search (issue 13): for each model, plain `quant calibrate` (or `quantize`) and the
 * same command with `--target-sqnr DB`, as a user types them, in child processes; wall time and process CPU time
 * (user + system, all threads) of both, their ratio, and the search's own figures from the JSON report (baseline,
 * achieved, float nodes, sessions). The machine is shared: the CPU ratio is the figure to read.
 *
 *   bun bench/search-cost.ts [--models fr_feature,fr_detect,mobilenet_v2] [--mode static|weights] [--target 25]
 *
 * Zoo models (bench/zoo/fetch.ts) get synthetic 1/f-noise images (their package's normalization; calibration as in
 * the zoo table, 4 evaluation images apart); corpus models (../shared/models) get N(0,1) inputs (--shape) with 16
 * calibration samples. Never fails on time.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ZOO, imageInput, writeCalibration, zooPath } from "./zoo/runs.ts";
import { naturalImages } from "./zoo/synthetic.ts";
import { writeNpy } from "../src/data/npy.ts";

const ROOT = resolve(import.meta.dir, "..");
const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
};
const MODELS = arg("models", "fr_feature,fr_detect,fr_liveness,mobilenet_v2").split(",");
const MODE = arg("mode", "static");
const TARGET = arg("target", "25");
const dir = mkdtempSync(join(tmpdir(), "quant-search-cost-"));

function run(args: string[]): { code: number; wall: number; cpu: number; stdout: string; stderr: string } {
  const t0 = performance.now();
  const p = Bun.spawnSync([process.execPath, join(ROOT, "src/cli/main.ts"), ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  const cpu = p.resourceUsage ? Number(p.resourceUsage.cpuTime.user + p.resourceUsage.cpuTime.system) / 1e6 : NaN;
  return { code: p.exitCode ?? -1, wall: (performance.now() - t0) / 1000, cpu, stdout: p.stdout.toString(), stderr: p.stderr.toString() };
}

/** Data flags for one model: calibration and evaluation files. */
function dataFlags(name: string): string[] {
  if (ZOO[name]) {
    const calib = writeCalibration(name, dir);
    const { chw } = imageInput(name);
    const per = chw[0] * chw[1] * chw[2];
    const ev = new Float32Array(4 * per);
    for (let i = 0; i < 4; i++) ev.set(naturalImages(1, ...chw, ZOO[name]!.norm, 1000 + i), i * per);
    const evPath = join(dir, `${name}.eval.npy`);
    writeNpy(evPath, ev, [4, ...chw]);
    return ["--data", calib, "--eval-data", evPath];
  }
  const shape = name === "digits_cnn" ? "1x1x28x28" : "1x3x224x224";
  return ["--shape", shape, "--samples", "16"];
}

const modelPath = (name: string) => (ZOO[name] ? zooPath(name) : resolve(ROOT, `../shared/models/${name}.onnx`));

console.log(`accuracy search cost, ${MODE} INT8, --target-sqnr ${TARGET} (CPU = user+system of the whole command, all threads)`);
console.log("model          plain wall/CPU      target wall/CPU     CPU ratio  baseline → achieved   float nodes   sessions");
try {
  for (const name of MODELS) {
    const path = modelPath(name);
    if (!existsSync(path)) {
      console.log(`${name.padEnd(14)} (not on disk)`);
      continue;
    }
    const cmd = MODE === "static" ? ["calibrate"] : ["quantize", "--per-channel"];
    const data = dataFlags(name);
    const plain = run([...cmd, path, "-o", join(dir, `${name}.plain.onnx`), ...data.filter((_, i, a) => a[i] !== "--eval-data" && a[i - 1] !== "--eval-data"), "--quiet"]);
    const tgt = run([...cmd, path, "-o", join(dir, `${name}.target.onnx`), ...data, "--target-sqnr", TARGET, "--format", "json", "--quiet"]);
    if (plain.code || tgt.code) {
      console.log(`${name.padEnd(14)} failed: ${(plain.code ? plain.stderr : tgt.stderr).trim().split("\n").at(-1)}`);
      continue;
    }
    const s = JSON.parse(tgt.stdout).accuracySearch;
    const cell = (r: { wall: number; cpu: number }) => `${r.wall.toFixed(1)} s / ${r.cpu.toFixed(1)} s`.padEnd(20);
    console.log(`${name.padEnd(14)} ${cell(plain)}${cell(tgt)}${`${(tgt.cpu / plain.cpu).toFixed(1)}×`.padEnd(11)}${`${s.baseline.toFixed(1)} → ${s.achieved.toFixed(1)} dB`.padEnd(22)}${`${s.floatNodes}/${s.totalNodes}`.padEnd(14)}${s.sessions}${s.met ? "" : `  NOT met: ${s.why}`}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
