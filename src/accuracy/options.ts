/** Validation of the accuracy-target options as they come from flags and config files (strings or numbers). */
import { QuantError } from "../errors/errors.ts";
import type { QuantOptions } from "../kernel/options.ts";
import { parseSearchBudget, type SearchBudget } from "../kernel/accuracy.ts";

type TargetKeys = Pick<QuantOptions, "targetSqnr" | "targetAccuracy" | "searchBudget">;

/** The target options coerced to numbers / a budget; E_USAGE for values that make no sense. */
export function checkTargetOptions(o: QuantOptions): TargetKeys {
  const out: TargetKeys = {};
  if (o.targetSqnr !== undefined) {
    const v = Number(o.targetSqnr);
    if (!Number.isFinite(v) || v < 0 || v > 200 || (v === 0 && String(o.targetSqnr) !== "0")) throw new QuantError("E_USAGE", `--target-sqnr must be a number of dB in (0, 200] or off (got ${o.targetSqnr})`);
    out.targetSqnr = v;
  }
  if (o.targetAccuracy !== undefined) {
    const v = Number(o.targetAccuracy);
    if (!Number.isFinite(v) || v < 0 || v >= 1) throw new QuantError("E_USAGE", `--target-accuracy must be an accuracy drop in [0, 1), e.g. 0.01 for one point (got ${o.targetAccuracy})`);
    out.targetAccuracy = v;
  }
  if (out.targetSqnr && out.targetAccuracy !== undefined) throw new QuantError("E_USAGE", "give either --target-sqnr or --target-accuracy, not both");
  if (o.searchBudget !== undefined) {
    const b: SearchBudget | undefined = typeof o.searchBudget === "object" ? o.searchBudget : parseSearchBudget(String(o.searchBudget));
    if (!b || !(("seconds" in b && b.seconds > 0) || ("sessions" in b && b.sessions > 0)))
      throw new QuantError("E_USAGE", `--search-budget must be seconds or sessions, e.g. 120s or 20sessions (got ${JSON.stringify(o.searchBudget)})`);
    out.searchBudget = b;
  }
  return out;
}
