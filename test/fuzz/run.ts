/**
 * Long fuzz mode: `bun run fuzz -- --seconds N [--workers W] [--seed S] [--case-timeout T] [--rss-mb M]`.
 * Structure-aware mutations of the seed models (mutate.ts) go through load → quantize (weight-only INT8, INT4 block
 * 32, opset 21, external data, static on random data) → save in worker processes. This parent watches them:
 * - crash: a non-QuantError (or a QuantError that wraps one) — the worker minimizes and saves it;
 * - hang: a case running over --case-timeout seconds — the worker is killed, the case regenerated and saved here;
 * - rss: a worker over --rss-mb (default 1024) resident — killed, the case saved;
 * - exit: a worker that died by itself (native crash) — the case saved.
 * Killed workers restart at the next case. Exit code 1 when anything failed. Prints a JSON summary last.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CORPUS, type FailureKind, saveReproducer } from "./corpus.ts";
import { makeCase } from "./mutate.ts";
import { loadSeeds } from "./seeds.ts";

function flag(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : def;
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${name} must be a number`);
  return v;
}
const seconds = flag("seconds", 60);
const workers = Math.max(1, flag("workers", 2));
const runSeed = flag("seed", 1);
const caseTimeout = flag("case-timeout", 10) * 1000;
const rssLimit = flag("rss-mb", 1024) * 2 ** 20;
const corpusDir = process.argv.includes("--corpus") ? process.argv[process.argv.indexOf("--corpus") + 1]! : CORPUS;

const seeds = loadSeeds();
const scratchRoot = mkdtempSync(join(tmpdir(), "quant-fuzz-"));
const outcomes = new Map<string, number>();
const failures: { kind: FailureKind; index: number; dir: string; signature: string }[] = [];
let cases = 0;
let maxRss = 0;
const t0 = performance.now();
const deadline = t0 + seconds * 1000;

interface Worker {
  id: number;
  proc: ReturnType<typeof Bun.spawn>;
  /** Case in progress and when it started. */
  current?: number;
  startedAt: number;
  next: number;
  dead: boolean;
}

function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function recordFailure(kind: FailureKind, index: number, signature: string): void {
  const seed = seeds[index % seeds.length]!;
  const dir = saveReproducer(makeCase(seed.name, seed.bytes, runSeed, index), kind, signature, corpusDir);
  failures.push({ kind, index, dir, signature });
  console.error(`${kind} at case ${index}: ${signature} → ${dir}`);
}

function start(id: number, from: number): Worker {
  const proc = Bun.spawn([process.execPath, join(import.meta.dir, "worker.ts"), String(runSeed), String(from), String(workers), join(scratchRoot, `w${id}`), corpusDir], {
    stdout: "pipe",
    stderr: process.env.FUZZ_DEBUG ? "inherit" : "ignore", // onnxruntime logs every refused model
  });
  const w: Worker = { id, proc, startedAt: performance.now(), next: from, dead: false };
  void readLines(w);
  return w;
}

async function readLines(w: Worker): Promise<void> {
  const decoder = new TextDecoder();
  let buf = "";
  for await (const chunk of w.proc.stdout as ReadableStream<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const [tag, idx, a, ...rest] = line.split(" ");
      const i = Number(idx);
      if (tag === "S") (w.current = i), (w.startedAt = performance.now());
      else if (tag === "M") w.current = undefined;
      else if (tag === "D") {
        cases++;
        outcomes.set(a!, (outcomes.get(a!) ?? 0) + 1);
        w.current = undefined;
        w.next = i + workers;
      } else if (tag === "C") {
        failures.push({ kind: "crash", index: i, dir: a!, signature: rest.join(" ") });
        console.error(`crash at case ${i}: ${rest.join(" ")} → ${a}`);
      }
    }
  }
}

let pool = Array.from({ length: workers }, (_, id) => start(id, id));

function restart(w: Worker, kind: FailureKind, why: string): Worker {
  w.dead = true;
  w.proc.kill("SIGKILL");
  const at = w.current ?? w.next;
  recordFailure(kind, at, why);
  return start(w.id, at + workers);
}

let lastPrint = performance.now();
while (performance.now() < deadline) {
  await Bun.sleep(100);
  pool = pool.map((w) => {
    const rss = rssOf(w.proc.pid);
    maxRss = Math.max(maxRss, rss);
    if (rss > rssLimit) return restart(w, "rss", `worker resident memory ${(rss / 2 ** 20).toFixed(0)} MiB over ${(rssLimit / 2 ** 20).toFixed(0)} MiB`);
    if (w.current !== undefined && performance.now() - w.startedAt > caseTimeout) return restart(w, "hang", `case ran over ${caseTimeout / 1000} s`);
    if (w.proc.exitCode !== null || w.proc.signalCode) return restart(w, "exit", `worker died (exit ${w.proc.exitCode}, signal ${w.proc.signalCode})`);
    return w;
  });
  if (performance.now() - lastPrint > 30_000) {
    lastPrint = performance.now();
    const s = (lastPrint - t0) / 1000;
    console.error(`${s.toFixed(0)} s: ${cases} cases (${(cases / s).toFixed(1)}/s), ${failures.length} failures, max RSS ${(maxRss / 2 ** 20).toFixed(0)} MiB`);
  }
}
for (const w of pool) (w.dead = true), w.proc.kill("SIGTERM");
await Promise.all(pool.map((w) => w.proc.exited));
rmSync(scratchRoot, { recursive: true, force: true });

const elapsed = (performance.now() - t0) / 1000;
const count = (k: FailureKind) => failures.filter((f) => f.kind === k).length;
const summary = {
  seconds: Math.round(elapsed),
  workers,
  seed: runSeed,
  cases,
  casesPerSecond: Number((cases / elapsed).toFixed(1)),
  crashes: count("crash") + count("exit"),
  hangs: count("hang"),
  overRss: count("rss"),
  maxWorkerRssMiB: Math.round(maxRss / 2 ** 20),
  outcomes: Object.fromEntries([...outcomes].sort((a, b) => b[1] - a[1])),
  failures,
};
console.log(JSON.stringify(summary, null, 2));
process.exit(failures.length ? 1 : 0);
