/**
 * The fallback search: which nodes to keep float (or at 8 bits) so the model meets its accuracy target with as few
 * of them as possible. Lessons from a real detector (issue 13): forward greedy from scratch stalls, ranking by the
 * *isolated* sensitivity (only this node quantized) then taking the top k and pruning by leave-one-out works.
 *
 * 1. the real quantized model (ORT, fused) is measured; if it meets the target nothing is kept float;
 * 2. every unit's isolated noise is measured in the probe (one session, one run per unit and sample);
 * 3. the smallest top-k of the ranking that meets the target in the probe (doubling, then bisection);
 * 4. leave-one-out: each chosen unit, least sensitive first, is quantized again when the target still holds;
 * 5. the set is verified on the real model; when the fused model misses where the probe met, the probe's optimism
 *    (in dB) is added to its target and 3–4 run again, then the ranking is walked on the real model.
 * Deterministic: rankings break ties by graph order, every run uses the same samples.
 */
import type { ConsolaInstance } from "consola";
import type { EvalOutputs, Scorer } from "./evaluate.ts";
import type { FallbackDecision } from "../kernel/accuracy.ts";
import type { ProbeUnit } from "./probe.ts";

/** Leave-one-out tries per selection. */
export const LOO_TRIES = 16;

/** What the search needs measured. */
export interface SearchDeps {
  units: readonly ProbeUnit[];
  scorer: Scorer;
  /** Probe outputs with every unit quantized except `off` (cheap: same session). */
  probe(off: ReadonlySet<number>): Promise<EvalOutputs>;
  /** Probe outputs with only unit `i` quantized. */
  isolated(i: number): Promise<EvalOutputs>;
  /** The real model with the units `off` kept float (one session each). */
  real(off: readonly number[]): Promise<EvalOutputs>;
  /** True when the budget is spent (checked between steps). */
  exhausted(): boolean;
  action: FallbackDecision["action"];
  logger?: ConsolaInstance;
}

/** What the search found. */
export interface SearchOutcome {
  off: number[];
  achieved: number;
  decisions: FallbackDecision[];
  met: boolean;
  why?: string;
  /** Isolated output SQNR per unit (dB). */
  isolatedDb: number[];
}

/** Run steps 2–5 (the caller has measured the baseline and found it short of the target). */
export async function searchFallback(d: SearchDeps): Promise<SearchOutcome> {
  const { units, scorer } = d;
  const n = units.length;
  const iso = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    iso[i] = scorer.noise(await d.isolated(i));
    if (d.exhausted() && i < n - 1) {
      // The ranking is incomplete: the rest count as insensitive (ranked last), and the summary says so.
      d.logger?.warn(`search budget spent after measuring ${i + 1} of ${n} nodes`);
      break;
    }
  }
  const isolatedDb = Array.from(iso, (v) => scorer.sqnrOf(v));
  const rank = Array.from({ length: n }, (_, i) => i).sort((a, b) => iso[b]! - iso[a]! || a - b);
  const rankOf = new Map(rank.map((u, r) => [u, r]));
  const cache = new Map<string, number>();
  const probeValue = async (off: readonly number[]) => {
    const key = [...off].sort((a, b) => a - b).join(",");
    let v = cache.get(key);
    if (v === undefined) cache.set(key, (v = scorer.value(await d.probe(new Set(off)))));
    return v;
  };
  // The probe's target: the real target plus what the probe turned out to be optimistic by (dB; SQNR targets only).
  let margin = 0;
  const probeMeets = (v: number) => (scorer.target.kind === "sqnr" ? v >= scorer.target.db + margin : scorer.meets(v));
  const reasons = new Map<number, string>();

  /** Steps 3–4 against the current margin. */
  const choose = async (): Promise<number[]> => {
    let hi = 1;
    while (hi < n && !probeMeets(await probeValue(rank.slice(0, hi))) && !d.exhausted()) hi = Math.min(n, hi * 2);
    let lo = Math.floor(hi / 2); // top-lo is known to miss (or 0)
    while (hi - lo > 1 && !d.exhausted()) {
      const mid = (lo + hi) >> 1;
      if (probeMeets(await probeValue(rank.slice(0, mid)))) hi = mid;
      else lo = mid;
    }
    const set = rank.slice(0, hi);
    reasons.clear();
    // Least sensitive first: those are the ones most likely not needed. At most LOO_TRIES tries: each costs a probe
    // pass over the samples, and past the least sensitive ones removals rarely hold (the search's cost stays bounded).
    let tries = 0;
    for (const u of [...set].sort((a, b) => rankOf.get(b)! - rankOf.get(a)!)) {
      if (d.exhausted() || tries++ >= LOO_TRIES) break;
      const without = set.filter((x) => x !== u);
      const v = await probeValue(without);
      if (probeMeets(v)) set.splice(set.indexOf(u), 1);
      else reasons.set(u, `quantizing it again gives ${scorer.format(v)} in the probe`);
    }
    return set.sort((a, b) => rankOf.get(a)! - rankOf.get(b)!);
  };

  let off = await choose();
  let out = await d.real(off);
  let achieved = scorer.value(out);
  for (let round = 0; round < 2 && !scorer.meets(achieved) && scorer.target.kind === "sqnr" && !d.exhausted(); round++) {
    const optimism = (await probeValue(off)) - achieved;
    if (!(optimism > 0)) break;
    margin += optimism + 0.25;
    d.logger?.info(`the fused model gives ${scorer.format(achieved)} where the probe gave ${scorer.format(achieved + optimism)}: searching again with a ${margin.toFixed(1)} dB margin`);
    off = await choose();
    out = await d.real(off);
    achieved = scorer.value(out);
  }
  // Still short on the real model: walk the ranking, doubling what is added, until it holds.
  let step = Math.max(1, Math.ceil(off.length / 2));
  while (!scorer.meets(achieved) && off.length < n && !d.exhausted()) {
    const more = rank.filter((u) => !off.includes(u)).slice(0, step);
    for (const u of more) reasons.set(u, `added after verification: the fused model gave ${scorer.format(achieved)} without it`);
    off = [...off, ...more].sort((a, b) => rankOf.get(a)! - rankOf.get(b)!);
    out = await d.real(off);
    achieved = scorer.value(out);
    step *= 2;
  }
  const met = scorer.meets(achieved);
  const decisions = off.map((u) => ({
    node: units[u]!.node,
    opType: units[u]!.opType,
    isolatedSqnrDb: isolatedDb[u]!,
    action: d.action,
    reason: `isolated ${fmtDb(isolatedDb[u]!)} (rank ${rankOf.get(u)! + 1} of ${n}); ${reasons.get(u) ?? "needed to meet the target"}`,
  }));
  let why: string | undefined;
  if (!met) why = d.exhausted() ? `search budget spent: best found ${scorer.format(achieved)} with ${off.length} of ${n} nodes ${d.action === "float" ? "float" : "at 8 bits"}` : `with ${off.length} of ${n} nodes ${d.action === "float" ? "float" : "at 8 bits"} the model gives ${scorer.format(achieved)}`;
  return { off, achieved, decisions, met, why, isolatedDb };
}

const fmtDb = (v: number) => (Number.isFinite(v) ? `${v.toFixed(1)} dB` : "∞ dB");
