/**
 * Fuzz worker (a child of run.ts): runs cases `start, start+step, …` one after another and reports each on stdout
 * as one line: `S <i>` when it starts (so the parent knows which case hung) and `D <i> <outcome> <ms>` when it ends.
 * A crash is minimized, saved under test/fuzz/corpus, and reported as `C <i> <folder> <signature>`. Each case's own
 * peak resident memory (VmHWM, reset before the case) ends its `D` line; over the limit it is saved and reported
 * as `R <i> <folder> <MiB>` (the runner's polling also kills a worker that grows past it mid-case).
 * Usage: bun test/fuzz/worker.ts <runSeed> <start> <step> <scratchDir> <corpusDir> [rssLimitMiB]
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { FuzzCrash, runCase } from "./case.ts";
import { saveReproducer } from "./corpus.ts";
import { minimize } from "./minimize.ts";
import { type FuzzCase, makeCase } from "./mutate.ts";
import { loadSeeds } from "./seeds.ts";

const [runSeed, start, step] = process.argv.slice(2, 5).map(Number) as [number, number, number];
const scratch = process.argv[5]!;
const corpusDir = process.argv[6]!;
const rssLimitMiB = Number(process.argv[7] ?? 1024);

/** Reset the kernel's peak-RSS counter (Linux clear_refs 5); false where unsupported. */
function resetPeak(): boolean {
  try {
    writeFileSync("/proc/self/clear_refs", "5");
    return true;
  } catch {
    return false;
  }
}
const peakMiB = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? 0) / 1024;
const seeds = loadSeeds();
const write = (line: string) => process.stdout.write(`${line}\n`);

process.on("SIGTERM", () => {
  rmSync(scratch, { recursive: true, force: true });
  process.exit(0);
});

const parent = process.ppid;
for (let i = start; ; i += step) {
  // The runner died without stopping us (SIGKILL): stop too rather than fuzz on, orphaned.
  if (process.ppid !== parent) process.exit(0);
  const seed = seeds[i % seeds.length]!;
  let c: FuzzCase;
  try {
    c = makeCase(seed.name, seed.bytes, runSeed, i);
  } catch (e) {
    // A bug of the mutator, not of quant: reported apart, and the run goes on.
    write(`H ${i} ${String((e as Error)?.message ?? e).replace(/\s+/g, " ")}`);
    continue;
  }
  write(`S ${i}`);
  const measured = resetPeak();
  const t0 = performance.now();
  let outcome: string;
  try {
    outcome = await runCase(c, `${scratch}/case`);
  } catch (e) {
    const sig = e instanceof FuzzCrash ? e.signature : `harness: ${(e as Error)?.message}`;
    write(`M ${i}`); // minimizing: not a hang
    const small = e instanceof FuzzCrash ? await minimize(c, sig, `${scratch}/min`) : c;
    const dir = saveReproducer(small, "crash", sig, corpusDir);
    if (process.env.FUZZ_DEBUG) console.error((e as FuzzCrash).original ?? e);
    write(`C ${i} ${dir} ${sig.replace(/\s+/g, " ")}`);
    outcome = "crash";
  }
  const peak = measured ? peakMiB() : 0;
  if (peak > rssLimitMiB) write(`R ${i} ${saveReproducer(c, "rss", `case peak RSS ${peak.toFixed(0)} MiB`, corpusDir)} ${peak.toFixed(0)}`);
  write(`D ${i} ${outcome} ${(performance.now() - t0).toFixed(1)} ${peak.toFixed(0)}`);
}
