/**
 * Replays every fuzz reproducer under test/fuzz/corpus (crashes, hangs, memory blow-ups the long fuzz mode found):
 * each must now load + quantize + save, or fail with a QuantError, in bounded time. Then a short structure-aware run
 * of the same mutators, so the fuzzer itself is exercised by the suite (the long mode is `bun run fuzz`).
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCase } from "./case.ts";
import { loadReproducers } from "./corpus.ts";
import { makeCase } from "./mutate.ts";
import { loadSeeds } from "./seeds.ts";

const scratch = mkdtempSync(join(tmpdir(), "quant-fuzz-replay-"));

describe("fuzz reproducers", () => {
  const cases = loadReproducers();
  test("the corpus holds the reproducers found so far", () => {
    expect(cases.length).toBeGreaterThanOrEqual(2);
  });
  for (const r of cases) {
    test(`${r.name} (${r.kind}, ${r.case.mode}): loads and quantizes, or fails with a QuantError`, async () => {
      const t0 = performance.now();
      // runCase throws FuzzCrash for anything that is not a QuantError (or a QuantError wrapping a JS error).
      const outcome = await runCase(r.case, join(scratch, r.name));
      expect(outcome).toMatch(/^(ok|E_[A-Z_]+)$/);
      if (r.expect) expect(outcome).toBe(r.expect);
      expect(performance.now() - t0).toBeLessThan(10_000);
    });
  }
});

describe("structure-aware fuzz smoke (300 cases)", () => {
  test("every case loads + quantizes + saves or fails with a QuantError", async () => {
    const seeds = loadSeeds();
    const outcomes = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      const seed = seeds[i % seeds.length]!;
      const c = makeCase(seed.name, seed.bytes, 7, i);
      let outcome: string;
      try {
        outcome = await runCase(c, join(scratch, "smoke"));
      } catch (e) {
        throw new Error(`case ${i} (${seed.name}, ${c.mode}, ${c.mutations.join("; ")}): ${(e as Error).message}`);
      }
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
    // The mutations must neither be all harmless nor all fatal: both outcomes show up in numbers.
    expect(outcomes.get("ok") ?? 0).toBeGreaterThan(60);
    expect([...outcomes.keys()].filter((k) => k.startsWith("E_LOAD")).length).toBeGreaterThanOrEqual(3);
  }, 120_000);
});
