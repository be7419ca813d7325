/** Shared implementation of `quantize` (weight-only) and `calibrate` (static): config + flags → one job. */
import { loadQuantConfig } from "../config/load.ts";
import { defaultOutput, planJob, type Mode } from "../config/plan.ts";
import { QuantError } from "../kernel/errors.ts";
import { configChoice, optionsFromArgs } from "./args.ts";
import { makeLogger, printJson, progressSink, wantsJson, type GlobalFlags } from "./io.ts";
import { formatJob, runJob } from "./job.ts";

/** Run one model from parsed args. */
export async function runQuantCommand(mode: Mode, args: Record<string, unknown>, raw: readonly string[]): Promise<void> {
  const flags = args as GlobalFlags;
  const json = wantsJson(flags);
  const logger = makeLogger(flags);
  const model = String(args.model ?? "");
  if (!model) throw new QuantError("E_USAGE", "missing <model>");
  const overrides = optionsFromArgs(args, raw);
  const loaded = await loadQuantConfig({ ...configChoice(args), preset: args.preset as string | undefined, announce: (m, level) => logger[level](m) });
  const output = (args.output as string | undefined) ?? defaultOutput(model, mode === "weights" ? `int${overrides.bits ?? loaded.config.bits ?? 8}` : mode === "dynamic" ? "dynamic" : "qdq");
  const job = planJob(loaded, mode, model, output, overrides);
  // A chain without a calibrator (the transformer preset's dynamic INT8) needs no data.
  const calibrates = job.chain.some((s) => ["minmax", "percentile", "entropy", "mse"].includes(Array.isArray(s) ? String(s[0]) : String(s)));
  if (mode === "static" && calibrates && overrides.data === undefined && !loaded.config.data && !overrides.statsIn && !loaded.config.statsIn && !overrides.shapes)
    logger.warn("no --data given: calibrating on random N(0,1) samples of the model's input shapes");
  const report = await runJob(job, logger, json ? undefined : progressSink(flags));
  if (json) printJson(report);
  else if (!flags.quiet) process.stdout.write(`${formatJob(report, !!args.detailed)}\n`);
}
