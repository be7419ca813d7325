/** Shared implementation of `quantize` (weight-only) and `calibrate` (static): config + flags → one job. */
import { loadQuantConfig } from "../config/load.ts";
import { defaultOutput, planJob, type Mode } from "../config/plan.ts";
import { QuantError } from "../errors/errors.ts";
import { checkImagePreset, configChoice, optionsFromArgs } from "./args.ts";
import { makeLogger, printJson, progressSink, wantsJson, type GlobalFlags } from "./io.ts";
import { formatJob, runJob } from "./job.ts";
import { reportBar, writeHtmlReport } from "./report-html.ts";
import { builtinPlugins } from "./registry.ts";

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
  checkImagePreset(args["image-preset"], typeof job.options.data === "string" ? job.options.data : undefined);
  if (typeof args.report === "string" && !/\.html?$/i.test(args.report)) throw new QuantError("E_USAGE", `--report ${args.report}: the report is HTML; name it *.html`);
  const report = await runJob(job, logger, json ? undefined : progressSink(flags));
  if (typeof args.report === "string") await writeJobReport(args.report, mode, raw, job, report, logger);
  if (json) printJson(report);
  else if (!flags.quiet) process.stdout.write(`${formatJob(report, !!args.detailed)}\n`);
}

/**
 * `--report FILE.html`: compare the written model with the original on the run's data — its calibration data, so the
 * figures are optimistic; `quant validate --data held-out --report` gives unbiased ones — on the samples the run used.
 */
async function writeJobReport(path: string, mode: Mode, raw: readonly string[], job: ReturnType<typeof planJob>, report: Awaited<ReturnType<typeof runJob>>, logger: ReturnType<typeof makeLogger>): Promise<void> {
  const o = job.options;
  // The accuracy search's summary, when the run had a target (field of the job report once the search is merged).
  const search = (report as { accuracySearch?: Parameters<typeof writeHtmlReport>[0]["search"] }).accuracySearch;
  await writeHtmlReport({
    path,
    command: `quant ${mode === "static" ? "calibrate" : "quantize"} ${raw.join(" ")}`,
    originalPath: job.input,
    quantizedPath: job.output,
    data: { data: o.data, inputs: o.inputs, sampleAxis: o.sampleAxis, samples: o.samples, shapes: o.shapes, seed: o.seed, images: o.images as string | undefined },
    source: typeof o.data === "string" ? `${o.data} (the run's own data: optimistic figures)` : "the run's inputs",
    minSqnrDb: o.data === undefined ? null : reportBar(undefined), // random inputs are not judged (see sqnrBar)
    entries: report.tensors,
    search,
    facts: [["chain", report.chain.join(" → ")], ["opset", `${report.opset.from} → ${report.opset.to}`], ["time", `${report.seconds.toFixed(2)} s`]],
    notes: report.notes,
    logger,
  });
  report.artifacts.push({ path, kind: "report-html", bytes: Bun.file(path).size });
}
