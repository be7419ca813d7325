/**
 * Whole-process time of `quant quantize` (issue 3: resnet18 INT8 per-channel ≤ 0.5 s on this 2-core machine), next to
 * the floor measured in the same run: starting bun itself, and copying the same file.
 *
 *   bun bench/cli-speed.ts [--runs 7] [model]
 */
import { copyFileSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const runsArg = process.argv.indexOf("--runs");
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 7;
const model = process.argv.slice(2).find((a) => a.endsWith(".onnx")) ?? resolve(import.meta.dir, "../../shared/models/resnet18.onnx");
const main = resolve(import.meta.dir, "../src/cli/main.ts");
const dir = mkdtempSync(join(tmpdir(), "quant-cli-speed-"));

function time(cmd: string[]): number {
  const t0 = performance.now();
  const p = Bun.spawnSync(cmd, { stdout: "ignore", stderr: "pipe" });
  const ms = performance.now() - t0;
  if (p.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed: ${p.stderr.toString()}`);
  return ms;
}
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;

const cases: [string, () => number][] = [
  ["bun startup (bun -e '')", () => time([process.execPath, "-e", ""])],
  ["copy the file (cp)", () => {
    const t0 = performance.now();
    copyFileSync(model, join(dir, "copy.onnx"));
    return performance.now() - t0;
  }],
  ["quant info", () => time([process.execPath, main, "info", model])],
  ["quant quantize --bits 8 --per-channel", () => time([process.execPath, main, "quantize", model, "-o", join(dir, "q8.onnx"), "--bits", "8", "--per-channel", "--quiet"])],
  ["quant quantize --bits 4 --block-size 32 --native-int4 (no sensitivity probe)", () =>
    time([process.execPath, main, "quantize", model, "-o", join(dir, "q4.onnx"), "--bits", "4", "--block-size", "32", "--native-int4", "--op-types", "Conv,Gemm,MatMul", "--quiet"])],
];
const results = cases.map(([name]) => ({ name, ms: [] as number[] }));
for (let r = 0; r < RUNS; r++) cases.forEach(([, fn], i) => results[i]!.ms.push(fn()));
console.log(`${model} (${(statSync(model).size / 2 ** 20).toFixed(1)} MiB), ${RUNS} interleaved runs, medians`);
console.log("| case | median ms | min ms |\n|---|---|---|");
for (const r of results) console.log(`| ${r.name} | ${median(r.ms).toFixed(0)} | ${Math.min(...r.ms).toFixed(0)} |`);
rmSync(dir, { recursive: true, force: true });
