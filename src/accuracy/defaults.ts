/**
 * INT4's default target: a bare `--bits 4` (weight-only) is held to {@link INT4_DEFAULT_TARGET_DB} of output SQNR, so
 * it never silently returns a 3–5 dB model (INT4 block-32 on the zoo's face models: 2.9–7.7 dB). The quantizer's own
 * measured 8-bit choice is tried first and kept when it meets the target; otherwise the search keeps the nodes it
 * must at 8 bits and the summary says what that costs in size. `--target-sqnr off` turns it off.
 */
import { statSync } from "node:fs";
import type { QuantOptions } from "../kernel/options.ts";

/** The output SQNR a bare `--bits 4` is held to (weight-only INT4 without a target of its own). */
export const INT4_DEFAULT_TARGET_DB = 20;

/**
 * Marks options whose target is INT4's default (not asked for: a search that cannot run is skipped, not an error).
 * A symbol key: copies of the options (`{ ...options }`) keep it, JSON and config listings do not show it.
 */
const DEFAULTED = Symbol("int4DefaultTarget");

/** True when `o`'s target was set by {@link applyInt4DefaultTarget}. */
export const isDefaultTarget = (o: object): boolean => (o as Record<symbol, unknown>)[DEFAULTED] === true;

/**
 * ORT sessions the default INT4 search may create unless `--search-budget` says otherwise. Counted in sessions, not
 * seconds, so the output bytes never depend on how loaded the machine is (fr_feature needs 5).
 */
export const INT4_DEFAULT_BUDGET_SESSIONS = 12;

/** Models above this size keep the quantizer's own INT4 choice (a search holds several copies of the model). */
export const INT4_DEFAULT_MAX_BYTES = 512 * 2 ** 20;

/**
 * Set the default INT4 target on a weight-only job's options when none was given; returns the line to log, or
 * undefined when it does not apply.
 */
export function applyInt4DefaultTarget(o: QuantOptions, mode: string, input: string): string | undefined {
  if (mode !== "weights" || o.bits !== 4 || o.targetSqnr !== undefined || o.targetAccuracy !== undefined) return undefined;
  let size = 0;
  try {
    size = statSync(input).size;
  } catch {
    return undefined; // the load reports a missing model with its own code
  }
  if (size > INT4_DEFAULT_MAX_BYTES) return `INT4: no default accuracy target for a model over ${INT4_DEFAULT_MAX_BYTES / 2 ** 20} MiB (give --target-sqnr to search)`;
  o.targetSqnr = INT4_DEFAULT_TARGET_DB;
  // Not asked for, so bounded: a large model's search stops with the best set found (and says so).
  o.searchBudget ??= { sessions: INT4_DEFAULT_BUDGET_SESSIONS };
  (o as unknown as Record<symbol, unknown>)[DEFAULTED] = true;
  return `INT4: default accuracy target ${INT4_DEFAULT_TARGET_DB} dB output SQNR, search budget ${"seconds" in o.searchBudget ? `${o.searchBudget.seconds} s` : `${o.searchBudget.sessions} sessions`} (--target-sqnr DB to change it, --target-sqnr off for none)`;
}
