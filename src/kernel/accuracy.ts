/**
 * The accuracy target and what the search reports: the shapes the summary, `--format json` and the report exporter
 * share (field names are stable).
 */

/** What the quantized model must reach: output SQNR in dB, or at most this top-1 accuracy drop (0.01 = 1 point). */
export type AccuracyTarget = { kind: "sqnr"; db: number } | { kind: "accuracy"; drop: number };

/** One node the search put back to float (or from 4 to 8 bits), and why. */
export interface FallbackDecision {
  node: string;
  opType: string;
  /** Output SQNR with only this node quantized (the ranking key; Infinity when it changes nothing measurable). */
  isolatedSqnrDb: number;
  /** `float`: the node and its Q/DQ are float; `int8`: an INT4 weight kept at 8 bits. */
  action: "float" | "int8";
  reason: string;
}

/** The result of an accuracy search. */
export interface AccuracySearchSummary {
  target: AccuracyTarget;
  /** What `achieved` and `baseline` measure, e.g. "output SQNR (dB) on pre-Sigmoid logits of 'prob'". */
  metric: string;
  /** Where the evaluation samples came from (never the calibration samples). */
  evalSource: string;
  /** The metric of the written model. */
  achieved: number;
  /** The metric with every candidate quantized (before any fallback). */
  baseline: number;
  /** Nodes kept float (or at 8 bits) by the search. */
  floatNodes: number;
  /** Quantized nodes the search could choose from. */
  totalNodes: number;
  decisions: FallbackDecision[];
  /** onnxruntime sessions the search created. */
  sessions: number;
  seconds: number;
  met: boolean;
  /** Why the target was not met (with figures), or what limited the search. */
  why?: string;
}

/** Options of the search (CLI flags `--target-sqnr`, `--target-accuracy`, `--labels`, `--eval-data`, `--search-budget`). */
export interface AccuracySearchOptions {
  target: AccuracyTarget;
  /** Labels of the evaluation samples (`.npy` of integers), needed by an accuracy target. */
  labels?: string;
  /** Evaluation data; default a held-out split of `data`. */
  evalData?: string;
  /** Stop after this many seconds or onnxruntime sessions. */
  budget?: SearchBudget;
}

/** A search budget: seconds of wall time or a number of onnxruntime sessions. */
export type SearchBudget = { seconds: number } | { sessions: number };

/** Parse `--search-budget` (`90s`, `90`, `12sessions`). */
export function parseSearchBudget(v: string): SearchBudget | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(s|sec|seconds?|sessions?)?\s*$/i.exec(v);
  if (!m) return undefined;
  const n = Number(m[1]);
  if (!(n > 0)) return undefined;
  return /^sess/i.test(m[2] ?? "") ? { sessions: Math.floor(n) } : { seconds: n };
}
