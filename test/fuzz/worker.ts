/**
 * Fuzz worker (a child of run.ts): runs cases `start, start+step, …` one after another and reports each on stdout
 * as one line: `S <i>` when it starts (so the parent knows which case hung) and `D <i> <outcome> <ms>` when it ends.
 * A crash is minimized, saved under test/fuzz/corpus, and reported as `C <i> <folder> <signature>`.
 * Usage: bun test/fuzz/worker.ts <runSeed> <start> <step> <scratchDir> <corpusDir>
 */
import { rmSync } from "node:fs";
import { FuzzCrash, runCase } from "./case.ts";
import { saveReproducer } from "./corpus.ts";
import { minimize } from "./minimize.ts";
import { makeCase } from "./mutate.ts";
import { loadSeeds } from "./seeds.ts";

const [runSeed, start, step] = process.argv.slice(2, 5).map(Number) as [number, number, number];
const scratch = process.argv[5]!;
const corpusDir = process.argv[6]!;
const seeds = loadSeeds();
const write = (line: string) => process.stdout.write(`${line}\n`);

process.on("SIGTERM", () => {
  rmSync(scratch, { recursive: true, force: true });
  process.exit(0);
});

for (let i = start; ; i += step) {
  const seed = seeds[i % seeds.length]!;
  const c = makeCase(seed.name, seed.bytes, runSeed, i);
  write(`S ${i}`);
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
  write(`D ${i} ${outcome} ${(performance.now() - t0).toFixed(1)}`);
}
