/** Shared implementation of `quantize` (weight-only) and `calibrate` (static): config + flags → one job. */
import { loadQuantConfig } from "../config/load.ts";
import { defaultOutput, planJob, type Mode } from "../config/plan.ts";
import { QuantError } from "../errors/errors.ts";
import { checkImagePreset, configChoice, optionsFromArgs } from "./args.ts";
import { makeLogger, printJson, progressSink, wantsJson, type GlobalFlags } from "./io.ts";
import { formatJob, runJob } from "./job.ts";
import { checkReportPath } from "./report-html.ts";
import { builtinPlugins } from "./registry.ts";
import { applyInt4DefaultTarget } from "../accuracy/defaults.ts";

/** Run one model from parsed args. */
export async function runQuantCommand(mode: Mode, args: Record<string, unknown>, raw: readonly string[]): Promise<void> {
  const flags = args as GlobalFlags;
  const json = wantsJson(flags);
  const logger = makeLogger(flags);
  const model = String(args.model ?? "");
  if (!model) throw new QuantError("E_USAGE", "missing <model>");
  const overrides = optionsFromArgs(args, raw);
  const loaded = await loadQuantConfig({ ...configChoice(args), preset: args.preset as string | undefined, registry: builtinPlugins, announce: (m, level) => logger[level](m) });
  const output = (args.output as string | undefined) ?? defaultOutput(model, mode === "weights" ? `int${overrides.bits ?? loaded.config.bits ?? 8}` : mode === "dynamic" ? "dynamic" : "qdq");
  const job = planJob(loaded, mode, model, output, overrides);
  const int4Default = applyInt4DefaultTarget(job.options, mode, model);
  if (int4Default) logger.info(int4Default);
  checkImagePreset(args["image-preset"], typeof job.options.data === "string" ? job.options.data : undefined);
  if (typeof args.report === "string") {
    // The `report` exporter with an .html path: written with the model, atomically, or not at all.
    checkReportPath(args.report);
    job.chain.push(["report", { path: args.report, command: `quant ${mode === "static" ? "calibrate" : "quantize"} ${raw.join(" ")}` }]);
  }
  const report = await runJob(job, logger, json ? undefined : progressSink(flags));
  if (json) printJson(report);
  else if (!flags.quiet) process.stdout.write(`${formatJob(report, !!args.detailed)}\n`);
}
