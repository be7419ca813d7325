/** Accuracy-target flags (quantize, calibrate, batch) and their translation into options. */
import type { ArgsDef } from "citty";
import type { QuantOptions } from "../kernel/options.ts";
import { QuantError } from "../errors/errors.ts";
import { parseSearchBudget } from "../kernel/accuracy.ts";

/** `--target-sqnr`, `--target-accuracy`, `--labels`, `--eval-data`, `--search-budget`. */
export const targetArgs = {
  "target-sqnr": { type: "string", description: "Keep nodes float (INT4: at 8 bits) until the output SQNR against the float model reaches DB (pre-activation logits for Sigmoid/Softmax outputs)", valueHint: "DB" },
  "target-accuracy": { type: "string", description: "Keep nodes float until the top-1 accuracy on --labels drops at most DROP (0.01 = one point)", valueHint: "DROP" },
  labels: { type: "string", description: "Integer class per evaluation sample (.npy) for --target-accuracy", valueHint: "FILE" },
  "eval-data": { type: "string", description: "Evaluation data of the accuracy target (default: samples of --data held out of calibration)", valueHint: "FILE|DIR" },
  "search-budget": { type: "string", description: "Bound of the accuracy search: seconds (120s) or onnxruntime sessions (20sessions)", valueHint: "Ns|Nsessions" },
} as const satisfies ArgsDef;

/** Options from the target flags given. */
export function targetOptionsFromArgs(args: Record<string, unknown>): Partial<QuantOptions> {
  const o: Partial<QuantOptions> = {};
  const str = (k: string) => (args[k] === undefined ? undefined : String(args[k]));
  // `off`: no target, not even INT4's default (0 means none downstream).
  if (str("target-sqnr") !== undefined) o.targetSqnr = str("target-sqnr") === "off" ? 0 : Number(str("target-sqnr"));
  if (str("target-accuracy") !== undefined) o.targetAccuracy = Number(str("target-accuracy"));
  if (o.targetSqnr !== undefined && !Number.isFinite(o.targetSqnr)) throw new QuantError("E_USAGE", `--target-sqnr expects a number of dB (got ${str("target-sqnr")})`);
  if (o.targetAccuracy !== undefined && !Number.isFinite(o.targetAccuracy)) throw new QuantError("E_USAGE", `--target-accuracy expects an accuracy drop such as 0.01 (got ${str("target-accuracy")})`);
  if (str("labels") !== undefined) o.labels = str("labels");
  if (str("eval-data") !== undefined) o.evalData = str("eval-data");
  if (str("search-budget") !== undefined) {
    const b = parseSearchBudget(str("search-budget")!);
    if (!b) throw new QuantError("E_USAGE", `--search-budget must be seconds or sessions, e.g. 120s or 20sessions (got ${str("search-budget")})`);
    o.searchBudget = b;
  }
  return o;
}
