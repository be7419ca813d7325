/**
 * Large-model benchmark: a ≥ 3 GB Llama-shaped external-data model (4 layers of q/k/v/o 4096×4096, gate/up 4096×11008,
 * down 11008×4096; random weights, written chunk by chunk, never held in memory) quantized by the CLI exactly as a
 * user runs it, each mode in its own process:
 *
 *   nice bun bench/large.ts                  # INT8 per-channel, INT4 block 32, INT4 block 32 + clip search, fp16
 *   bun bench/large.ts --layers 1            # 0.8 GB, quicker
 *   bun bench/large.ts --modes int8 --threads 1,2   # also checks the output bytes do not depend on the thread count
 *   bun bench/large.ts --dir /big/disk --keep
 *
 * For each: wall time, throughput of fp32 input per second (whole process, and quantize phase alone), the process's
 * peak RSS as a fraction of the model (its own maxRSS, test/helpers/peak-rss.ts; cross-checked against VmHWM sampled
 * from /proc), the output's size, and a separate process creating an onnxruntime-node session on the output with
 * ORT's defaults (time and peak RSS). The model and outputs go to a temporary folder, removed at the end.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, statSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { writeLlamaStack } from "../test/helpers/large-model.ts";

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const layers = Number(arg("layers", "4"));
const dim = Number(arg("dim", "4096"));
const ffn = Number(arg("ffn", "11008"));
const threadList = arg("threads", "").split(",").filter(Boolean);
const keep = process.argv.includes("--keep");
const ROOT = join(import.meta.dir, "..");

const MODES: Record<string, string[]> = {
  int8: ["--bits", "8", "--per-channel"],
  int4: ["--bits", "4", "--block-size", "32", "--no-clip-search"],
  "int4-clip": ["--bits", "4", "--block-size", "32", "--clip-search"],
  fp16: ["-c", "fp16.json"],
};
const modes = arg("modes", Object.keys(MODES).join(",")).split(",");

const base = arg("dir", tmpdir());
const need = layers * (4 * dim * dim + 3 * dim * ffn) * 4 * 2.2; // model + the largest outputs
const free = (() => {
  const s = statfsSync(base);
  return s.bavail * s.bsize;
})();
if (free < need) {
  console.error(`needs ${(need / 1e9).toFixed(1)} GB free in ${base}, has ${(free / 1e9).toFixed(1)} GB (--dir elsewhere, or --layers 1)`);
  process.exit(1);
}
const dir = mkdtempSync(join(base, "quant-large-"));
const MB = 1e6;
const gb = (b: number) => `${(b / 1e9).toFixed(2)} GB`;

/** Run a command in a child; its wall time, exit code, stdout and peak RSS (own maxRSS and sampled VmHWM). */
function child(argv: string[]): { ms: number; code: number; stdout: string; stderr: string; peak: number; cpuMs: number } {
  const peakFile = join(dir, "peak");
  rmSync(peakFile, { force: true });
  const t0 = performance.now();
  const r = spawnSync("/bin/sh", ["-c", `"$@" & pid=$!; hwm=0; while kill -0 $pid 2>/dev/null; do h=$(awk '/VmHWM/{print $2}' /proc/$pid/status 2>/dev/null); [ -n "$h" ] && hwm=$h; sleep 0.05; done; wait $pid; rc=$?; echo "$hwm" > ${peakFile}.hwm; exit $rc`, "sh", ...argv], {
    cwd: dir,
    env: { ...process.env, QUANT_PEAK_FILE: peakFile },
    encoding: "utf8",
    maxBuffer: 1 << 28,
  });
  const ms = performance.now() - t0;
  let peak = 0;
  let cpuMs = NaN;
  try {
    const [rss, user, sys] = readFileSync(peakFile, "utf8").split(" ").map(Number);
    peak = rss!;
    cpuMs = user! + sys!;
  } catch {
    // the child did not get to write it
  }
  const hwm = Number(readFileSync(`${peakFile}.hwm`, "utf8")) * 1024;
  return { ms, code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, peak: Math.max(peak, hwm), cpuMs };
}

console.log(`load average before: ${loadavg().map((l) => l.toFixed(2)).join(" ")} (${navigator.hardwareConcurrency} cores)`);
const t0 = performance.now();
const model = join(dir, "llama.onnx");
const { bytes, weightBytes } = writeLlamaStack(model, { layers, dim, ffn });
console.log(`model: ${layers} layers, dim ${dim}, ffn ${ffn}: ${gb(bytes)} (${gb(weightBytes)} of fp32 weights), written in ${((performance.now() - t0) / 1000).toFixed(1)} s to ${dir}`);
writeFileSync(join(dir, "fp16.json"), JSON.stringify({ plugins: ["normalize", "fp16", "onnx"] }));
writeFileSync(join(dir, "ort.ts"), `
import * as ort from ${JSON.stringify(join(ROOT, "node_modules/onnxruntime-node/dist/index.js"))};
const t0 = performance.now();
const s = await ort.InferenceSession.create(process.argv[2], { intraOpNumThreads: 1 });
console.log(JSON.stringify({ ms: performance.now() - t0 }));
await s.release();
`);

const rows: string[] = [];
const hashes = new Map<string, string>();
try {
  for (const mode of modes) {
    for (const threads of threadList.length ? threadList : [""]) {
      const out = join(dir, `${mode}${threads ? `-t${threads}` : ""}.onnx`);
      const flags = [...MODES[mode]!, ...(threads ? ["--threads", threads] : [])];
      const r = child([process.execPath, join(ROOT, "test/helpers/peak-rss.ts"), "quantize", model, "-o", out, ...flags, "--format", "json"]);
      if (r.code !== 0) {
        console.log(`${mode}: failed (${r.code}): ${r.stderr.trim().split("\n").pop()}`);
        continue;
      }
      const rep = JSON.parse(r.stdout) as { timings: Record<string, number>; bytes: { output: number }; diagnostics: { code: string; message: string }[] };
      const q = (rep.timings.quantize ?? 0) + (rep.timings.pack ?? 0);
      const check = rep.diagnostics.find((d) => d.code === "ort-check")?.message ?? "no ORT check";
      const data = readdirSync(dir).find((n) => n.startsWith(`${out.split("/").pop()}.`) && n.endsWith(".data"));
      if (threads) hashes.set(`${mode}-${threads}`, data?.split(".").at(-2) ?? "");
      const ortRun = child([process.execPath, join(dir, "ort.ts"), out]);
      const ortMs = ortRun.code === 0 ? (JSON.parse(ortRun.stdout) as { ms: number }).ms : NaN;
      rows.push(
        `| ${mode}${threads ? ` (${threads} thr)` : ""} | \`${flags.join(" ")}\` | ${(r.ms / 1000).toFixed(1)} s | ${(r.cpuMs / 1000).toFixed(1)} s | ${(weightBytes / MB / (r.ms / 1000)).toFixed(0)} MB/s | ` +
          `${(weightBytes / MB / (q / 1000)).toFixed(0)} MB/s | ${(r.peak / MB).toFixed(0)} MB = **${(r.peak / bytes).toFixed(3)}×** | ${(rep.bytes.output / bytes).toFixed(3)}× | ` +
          `${ortRun.code === 0 ? `${(ortMs / 1000).toFixed(1)} s, ${(ortRun.peak / MB).toFixed(0)} MB` : `FAILED: ${ortRun.stderr.trim().split("\n").pop()}`} |`,
      );
      console.log(rows.at(-1));
      console.log(`   phases (ms): ${Object.entries(rep.timings).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(", ")}; ${check}; load ${loadavg()[0]!.toFixed(2)}`);
      for (const f of readdirSync(dir)) if (f.startsWith(`${out.split("/").pop()}`)) rmSync(join(dir, f));
    }
  }
  console.log(`\n| mode | flags | wall | CPU (user+sys, all threads) | fp32 in/s (process) | fp32 in/s (quantize+pack) | peak RSS / model | output / model | ORT session (defaults) |\n|---|---|---|---|---|---|---|---|---|\n${rows.join("\n")}`);
  if (threadList.length > 1)
    for (const mode of modes) {
      const hs = threadList.map((t) => hashes.get(`${mode}-${t}`));
      console.log(`${mode}: data file hash per thread count ${threadList.map((t, i) => `${t}: ${hs[i]}`).join(", ")} → ${new Set(hs).size === 1 ? "identical" : "DIFFERENT"}`);
    }
  console.log(`load average after: ${loadavg().map((l) => l.toFixed(2)).join(" ")}; model ${gb(statSync(`${model}.data`).size)}`);
} finally {
  if (!keep) rmSync(dir, { recursive: true, force: true });
}
