/**
 * The README's zoo table: every zoo model × the four modes of the zoo test (bench/zoo/runs.ts), with the output's
 * file-size ratio, its SQNR against the float model on synthetic 1/f-noise images (all outputs together), and its
 * single-thread speedup (median CPU time of interleaved runs, batch 1, same input; see `speedup`).
 *
 *   bun bench/zoo/fetch.ts && nice -n 10 bun bench/zoo/table.ts [--runs N (minimum timing runs, default 5)] [model …]
 *
 * Prints a Markdown table on stdout (progress on stderr). Takes minutes: the ISNet models run at 1024×1024.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTimingSession } from "../../src/runtime/latency.ts";
import { fetchZoo } from "./fetch.ts";
import { MODES, ZOO, evalFeeds, formatRow, runOutputs, runZoo, writeCalibration, zooPath, type ZooRow } from "./runs.ts";

const argv = process.argv.slice(2);
const runsAt = argv.indexOf("--runs");
const runs = runsAt >= 0 ? Number(argv.splice(runsAt, 2)[1]) : 5;
const names = argv.length ? argv : Object.keys(ZOO);

/** Median of an array (sorted in place). */
function median(a: Float64Array): number {
  a.sort();
  const m = a.length >> 1;
  return a.length % 2 ? a[m]! : (a[m - 1]! + a[m]!) / 2;
}

/**
 * Median per-inference time ratio float / quantized, one thread, batch 1, interleaved runs. Timed as process CPU time
 * (`process.cpuUsage`), not wall time: this machine is shared (load averages near 18 on 2 cores while these figures
 * were taken), and waiting for a core made sub-millisecond wall-clock medians swing 0.1–50×; with one intra-op thread
 * and nothing else running in the process, CPU time is the inference's own work. The run count fills about
 * `budgetMs` of float inference (at least `minRuns`, at most 400).
 */
async function speedup(float: string, quantized: string, feeds: Awaited<ReturnType<typeof evalFeeds>>[number], minRuns: number, budgetMs = 3000): Promise<number> {
  const sessions = [await createTimingSession(float), await createTimingSession(quantized)];
  try {
    const cpu = async (k: number) => {
      const t0 = process.cpuUsage();
      await sessions[k]!.session.run(feeds);
      const d = process.cpuUsage(t0);
      return (d.user + d.system) / 1000;
    };
    let first = 0;
    for (let i = 0; i < 3; i++) first += await cpu(0);
    const runs = Math.max(minRuns, Math.min(400, Math.round(budgetMs / Math.max(first / 3, 0.01))));
    const times = [new Float64Array(runs), new Float64Array(runs)];
    for (let w = 0; w < Math.max(2, runs / 10); w++) for (const k of [0, 1]) await cpu(k);
    for (let r = 0; r < runs; r++) for (const k of [0, 1]) times[k]![r] = await cpu(k);
    return median(times[0]!) / median(times[1]!);
  } finally {
    for (const s of sessions) await s.release();
  }
}

fetchZoo();
const dir = mkdtempSync(join(tmpdir(), "quant-zoo-table-"));
const rows: ZooRow[] = [];
try {
  for (const name of names) {
    const spec = ZOO[name];
    if (!spec) throw new Error(`unknown zoo model ${name} (known: ${Object.keys(ZOO).join(", ")})`);
    const calib = writeCalibration(name, dir);
    const feeds = await evalFeeds(name, 1);
    const reference = spec.refused ? undefined : await runOutputs(zooPath(name), feeds);
    for (const mode of MODES) {
      const r = await runZoo(name, mode, join(dir, name), calib, feeds, reference);
      if (r.code === 0) r.speedup = await speedup(zooPath(name), r.output, feeds[0]!, runs);
      rows.push(r);
      process.stderr.write(`${formatRow(r)}\n`);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const opset = (r: ZooRow) => (r.opset ? `${r.opset.from} → ${r.opset.to}` : "");
const lines = ["| model | opset | mode | size | SQNR | speedup |", "|---|---|---|---|---|---|"];
for (const r of rows) {
  const extra = ZOO[r.model]!.extra ? ` (${ZOO[r.model]!.extra!.args.join(" ")})` : "";
  if (r.code !== 0) lines.push(`| ${r.model} | | ${r.mode}${extra} | ${(r.error ?? "").replace(/^error /, "").split(":")[0]} | | |`);
  else lines.push(`| ${r.model} | ${opset(r)} | ${r.mode}${extra} | ${r.bytes!.ratio.toFixed(3)}× | ${r.sqnrDb!.toFixed(1)} dB | ${r.speedup!.toFixed(2)}× |`);
}
process.stdout.write(`${lines.join("\n")}\n`);
