/** `quant config`: run every model entry and the batch section of a config file; `--dry-run` prints the plan. */
import { defineCommand } from "citty";
import { loadQuantConfig } from "../config/load.ts";
import { planConfigJobs, type JobPlan, type Mode } from "../config/plan.ts";
import { resolveChain } from "../config/resolve.ts";
import { specName } from "../config/merge.ts";
import { namesOfKind } from "../config/registry.ts";
import { builtinPlugins } from "./registry.ts";
import { QuantError, isQuantError, reason } from "../errors/errors.ts";
import { createLogger } from "../kernel/logger.ts";
import { decideOpset, describeNeeds, type OpsetNeed } from "../pipeline/opset.ts";
import { attribute } from "../pipeline/pipeline.ts";
import type { Plugin, PluginContext } from "../kernel/types.ts";
import { loadModel } from "../onnx/codec.ts";
import { normalizeOnLoad } from "../onnx/load-normalize.ts";
import type { QuantConfig } from "../config/schema.ts";
import { globalArgs } from "./args.ts";
import { makeLogger, printJson, progressSink, wantsJson, type GlobalFlags } from "./io.ts";
import { formatJob, runJob, type JobReport } from "./job.ts";
import { runPool } from "./pool.ts";

/** Weight-only unless the config asks for calibration (a mode key, data, a method, or stats-in). */
export function configMode(c: QuantConfig & { mode?: string }): Mode {
  if (c.mode === "static" || c.mode === "weights") return c.mode;
  if (c.mode !== undefined) throw new QuantError("E_CONFIG", `mode must be weights or static (got ${c.mode})`);
  const calibrators = namesOfKind(builtinPlugins, "calibrator");
  const calibrates = (c.plugins ?? []).some((s) => calibrators.has(specName(s)));
  return c.data || c.statsIn || calibrates ? "static" : "weights";
}

/** The output opset the run would decide (the model is loaded, nothing is written), or why the run would refuse. */
async function planOpset(job: JobPlan, plugins: Plugin[]): Promise<{ from: number; to: number; needs: OpsetNeed[] } | { error: string }> {
  let model;
  try {
    model = loadModel(job.input);
    const quiet = createLogger(0);
    normalizeOnLoad(model, job.options, quiet);
    const ctx: PluginContext = { logger: quiet, options: job.options, progress: () => {}, at: () => {} };
    const d = await decideOpset(model, plugins, job.options, async (p, fn) => {
      try {
        return await fn(ctx);
      } catch (e) {
        throw attribute(e, p, "prepare");
      }
    });
    return { from: d.from, to: d.to, needs: d.needs };
  } catch (e) {
    return { error: isQuantError(e) ? e.toLine() : reason(e) };
  } finally {
    model?.external?.close();
  }
}

async function describe(job: JobPlan) {
  const plugins = await resolveChain(job.chain, { cwd: job.cwd, registry: job.registry });
  return {
    input: job.input,
    output: job.output,
    skip: !!job.skip,
    chain: plugins.map((p) => ({ name: p.name, kind: p.kind, options: p.options ?? {} })),
    options: job.options,
    opset: await planOpset(job, plugins),
  };
}

const opsetLine = (o: Awaited<ReturnType<typeof planOpset>>) =>
  "error" in o ? `refused: ${o.error}` : `opset ${o.from} → ${o.to}${o.needs.length ? ` (${describeNeeds(o.needs.filter((n) => n.opset === o.needs[0]!.opset))})` : ""}`;

/** Examples printed by `quant config --help`; test/cli/examples.test.ts runs every one. */
export const examples = [
  "quant config configs/int4.yaml",
  "quant config configs/int4.yaml --dry-run",
  "quant config configs/int4.yaml --format json",
];

export default defineCommand({
  meta: {
    name: "config",
    description: `Run a config file: every entry of models, then the batch section.`,
  },
  args: {
    file: { type: "positional", required: true, description: "Config file (.ts, .js, .mjs, .json, .yaml, .toml)" },
    "dry-run": { type: "boolean", description: "Print the resolved plan (models, chain with options, outputs); write nothing" },
    "only-job": { type: "string", description: "(internal) run only job K of the plan" },
    ...globalArgs,
  },
  async run({ args }) {
    const flags = args as GlobalFlags;
    const json = wantsJson(flags);
    const logger = makeLogger(flags);
    const loaded = await loadQuantConfig({ file: String(args.file), registry: builtinPlugins });
    const mode = configMode(loaded.config as QuantConfig & { mode?: string });
    const jobs = planConfigJobs(loaded, mode);
    if (!jobs.length) throw new QuantError("E_CONFIG", "the config has no models entries and no batch section", { file: String(args.file) });
    if (args["dry-run"]) {
      const plan = { config: loaded.file, mode, jobs: await Promise.all(jobs.map(describe)) };
      if (json) printJson(plan);
      else {
        const lines = [`config ${loaded.file} (${mode}) — ${jobs.length} model(s), nothing written:`];
        for (const j of plan.jobs) {
          lines.push(`  ${j.skip ? "[skip: output exists] " : ""}${j.input}\n    → ${j.output}`);
          lines.push(`    chain: ${j.chain.map((p) => `${p.name}${Object.keys(p.options).length ? JSON.stringify(p.options) : ""}`).join(" → ")}`);
          const o = j.options;
          lines.push(`    ${opsetLine(j.opset)}`);
          lines.push(`    bits ${o.bits}, ${o.blockSize ? `block ${o.blockSize}` : (o.perChannel ?? mode === "static") ? "per-channel" : "per-tensor"}${o.symmetric === false ? ", asymmetric" : ", symmetric"}${o.nativeInt4 ? ", native int4" : ""}${o.exclude.length ? `, exclude ${o.exclude.join(",")}` : ""}`);
        }
        process.stdout.write(`${lines.join("\n")}\n`);
      }
      // A plan, not a run: models the run would refuse up front (opset, already quantized…) are shown as refused.
      const refused = plan.jobs.filter((j) => !j.skip && "error" in j.opset).length;
      if (refused && !json) logger.warn(`${refused} model(s) would be refused (see "refused:" above)`);
      return 0;
    }
    if (args["only-job"] !== undefined) {
      const report = await runJob(jobs[Number(args["only-job"])]!, logger);
      printJson(report);
      return 0;
    }
    const parallel = Math.max(1, Number(loaded.config.batch?.jobs ?? 1));
    const todo = jobs.map((j, i) => ({ j, i })).filter(({ j }) => !j.skip);
    let failed = 0;
    const reports: (JobReport | { input: string; output: string; ok: false; error: string } | { input: string; output: string; skipped: true })[] = [];
    const continueOnError = !!loaded.config.batch?.continueOnError;
    if (parallel > 1) {
      const results = await runPool(todo.map(({ i }) => ["config", String(args.file), "--only-job", String(i), "--format", "json", "--quiet"]), parallel, { stopOnError: !continueOnError });
      todo.forEach(({ j }, k) => {
        const r = results[k];
        if (r?.ok) reports.push(r.report as JobReport);
        else {
          failed++;
          reports.push({ input: j.input, output: j.output, ok: false, error: r?.error ?? "not run" });
        }
      });
    } else {
      for (const { j } of todo) {
        try {
          reports.push(await runJob(j, logger, json ? undefined : progressSink(flags)));
          if (!json && !flags.quiet) process.stdout.write(`${formatJob(reports.at(-1) as JobReport)}\n`);
        } catch (e) {
          failed++;
          const msg = e instanceof QuantError ? e.toLine() : String(e);
          reports.push({ input: j.input, output: j.output, ok: false, error: msg });
          if (!json) logger.error(`${j.input}: ${msg}`);
          if (!continueOnError) break;
        }
      }
    }
    for (const j of jobs.filter((x) => x.skip)) reports.push({ input: j.input, output: j.output, skipped: true });
    if (json) printJson({ ok: failed === 0, models: reports });
    else if (!flags.quiet) process.stdout.write(`${reports.length - failed} done, ${failed} failed\n`);
    return failed ? 1 : 0;
  },
});
