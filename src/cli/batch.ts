/** `quant batch`: many models, N at a time, an ordered summary at the end. */
import { existsSync, statSync } from "node:fs";
import { expandInputs } from "../config/plan.ts";
import { basename, dirname, extname, join, relative, resolve } from "node:path";
import { discoverConfig, trustFromEnv } from "../config/load.ts";
import { removeTempsOf } from "../io/cleanup.ts";
import { realTarget } from "../io/files.ts";
import { removeOrphanData } from "../onnx/data-files.ts";
import { defineCommand, type ArgsDef } from "citty";
import { QuantError } from "../errors/errors.ts";
import { calibArgs, configArgs, configChoice, globalArgs, weightArgs } from "./args.ts";
import { targetArgs } from "./target-args.ts";
import { accuracyLine } from "../accuracy/format.ts";
import { makeLogger, printJson, wantsJson, type GlobalFlags } from "./io.ts";
import { runPool, type ChildResult } from "./pool.ts";
import type { JobReport } from "./job.ts";

const isDirectory = (p: string) => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};

/** Default per-model time limit: generous for calibrating a large model on a slow machine, finite so nothing hangs. */
export const DEFAULT_TIMEOUT_S = 3600;

const batchOnly = {
  output: { type: "string", alias: "o", required: true, description: "Output folder", valueHint: "DIR" },
  jobs: { type: "string", alias: "j", description: "Models quantized in parallel (default 1)", valueHint: "N" },
  "skip-existing": { type: "boolean", description: "Skip models whose output already exists" },
  "continue-on-error": { type: "boolean", description: "Go on after a model fails (exit code 1 at the end)" },
  mode: { type: "string", description: "weights (quantize, default) | static (calibrate)" },
  suffix: { type: "string", description: "Output name suffix: <name><suffix>.onnx (default none)" },
  timeout: { type: "string", description: `Stop a model that runs longer than this (default ${DEFAULT_TIMEOUT_S}; 0 = no limit)`, valueHint: "SECONDS" },
} as const satisfies ArgsDef;

const allArgs = { ...batchOnly, ...weightArgs, ...calibArgs, ...targetArgs, ...configArgs, ...globalArgs };

/** Split raw argv into model paths and the flags to forward to each child. */
export function splitArgv(raw: readonly string[], defs: ArgsDef, drop: ReadonlySet<string>): { positionals: string[]; forward: string[] } {
  const byName = new Map<string, { type: string }>();
  for (const [k, d] of Object.entries(defs)) {
    byName.set(`--${k}`, d as { type: string });
    const alias = (d as { alias?: string }).alias;
    if (alias) byName.set(`-${alias}`, { ...(d as { type: string }), name: k } as never);
  }
  const positionals: string[] = [];
  const forward: string[] = [];
  for (let i = 0; i < raw.length; i++) {
    const a = raw[i]!;
    if (!a.startsWith("-") || a === "-") {
      positionals.push(a);
      continue;
    }
    const [flag, inline] = a.includes("=") ? [a.slice(0, a.indexOf("=")), a] : [a, undefined];
    const def = byName.get(flag) ?? byName.get(flag.replace(/^--no-/, "--"));
    const name = flag.replace(/^-+(no-)?/, "");
    const canonical = def && flag.startsWith("--") ? name : Object.entries(defs).find(([, d]) => (d as { alias?: string }).alias === name)?.[0] ?? name;
    // `--no-x` never takes a value, even when `--x` does (`--no-config`).
    const takesValue = def?.type === "string" && inline === undefined && !flag.startsWith("--no-");
    if (drop.has(canonical)) {
      if (takesValue) i++;
      continue;
    }
    forward.push(a);
    if (takesValue && i + 1 < raw.length) forward.push(raw[++i]!);
  }
  return { positionals, forward };
}

/** Examples printed by `quant batch --help`; test/cli/examples.test.ts runs every one. */
export const examples = [
  "quant batch models/ -o quantized/ --jobs 2 --per-channel",
  "quant batch 'models/*.onnx' -o int4/ --bits 4 --skip-existing --continue-on-error",
  "quant batch models/a.onnx models/b.onnx -o static/ --mode static --preset cnn --shape 1x1x32x32 --format json",
];

export default defineCommand({
  meta: {
    name: "batch",
    description: `Quantize many models, --jobs N at a time, each in its own process.`,
  },
  args: { models: { type: "positional", required: true, description: "Input ONNX models, folders (their *.onnx) or quoted globs" }, ...allArgs },
  async run({ args, rawArgs }) {
    const flags = args as GlobalFlags;
    const json = wantsJson(flags);
    const logger = makeLogger(flags);
    const drop = new Set([...Object.keys(batchOnly), "format", "quiet"]);
    const { positionals, forward } = splitArgv(rawArgs, allArgs, drop);
    if (!positionals.length) throw new QuantError("E_USAGE", "no models given");
    // Folders and quoted globs are expanded here (Bun.Glob), so they work the same in every shell.
    const models: string[] = [];
    for (const p of positionals) {
      const found = expandInputs(p, process.cwd());
      if (!found.length) throw new QuantError("E_USAGE", `${p} matches no .onnx file`);
      models.push(...found);
    }
    if (models.length > positionals.length || positionals.some((p) => /[*?[{]/.test(p) || isDirectory(p))) logger.info(`batch: ${models.length} model(s) from ${positionals.join(" ")}`);
    const jobs = Number(args.jobs ?? 1);
    if (!Number.isInteger(jobs) || jobs < 1) throw new QuantError("E_USAGE", `--jobs must be a positive integer (got ${args.jobs})`);
    const timeoutS = args.timeout === undefined ? DEFAULT_TIMEOUT_S : Number(args.timeout);
    if (!Number.isFinite(timeoutS) || timeoutS < 0) throw new QuantError("E_USAGE", `--timeout must be a number of seconds ≥ 0 (got ${args.timeout})`);
    const mode = String(args.mode ?? "weights");
    if (mode !== "weights" && mode !== "static") throw new QuantError("E_USAGE", `--mode must be weights or static (got ${mode})`);
    const outDir = resolve(String(args.output));
    const plan = [...new Set(models)].map((m) => {
      const out = join(outDir, `${basename(m, extname(m))}${args.suffix ?? ""}.onnx`);
      return { input: resolve(m), output: out, skip: !!args["skip-existing"] && existsSync(out) };
    });
    const outputs = new Set<string>();
    for (const p of plan) {
      if (outputs.has(p.output)) throw new QuantError("E_USAGE", `two inputs map to the same output ${p.output}`);
      outputs.add(p.output);
    }
    const todo = plan.filter((p) => !p.skip);
    const argvs = todo.map((p) => [mode === "static" ? "calibrate" : "quantize", p.input, "-o", p.output, ...forward, "--format", "json", "--quiet"]);
    // Children load the same config: say once which one (they run with --quiet).
    const choice = configChoice(args);
    if (!choice.file && !choice.noConfig) {
      const found = discoverConfig(process.cwd(), choice.trust ?? trustFromEnv());
      for (const f of found.skipped) logger.warn(`not loading ./${relative(process.cwd(), f)}: a ${extname(f)} config is code; name it with --config, or pass --trust-config (or set QUANT_TRUST_CONFIG=1)`);
      if (found.file) logger.info(`using ./${relative(process.cwd(), found.file)} for every model (--no-config to ignore it)`);
    }
    const results = await runPool(argvs, jobs, {
      timeoutMs: timeoutS * 1000,
      // A child stopped by the timeout or a signal may have been SIGKILLed: remove its temps and unpublished data.
      afterKill: (i, pid) => {
        const out = todo[i]!.output;
        removeTempsOf(dirname(realTarget(out)), pid);
        removeOrphanData(out);
      },
      stopOnError: !args["continue-on-error"],
      onDone: (r) => {
        const p = todo[r.index]!;
        if (!json) logger.log(r.ok ? `✔ ${basename(p.input)} → ${p.output} (${r.seconds.toFixed(2)} s)` : `✖ ${basename(p.input)}: ${r.error}`);
      },
    });
    const byInput = new Map<string, ChildResult>();
    todo.forEach((p, i) => results[i] && byInput.set(p.input, results[i]!));
    const summary = plan.map((p) => {
      const r = byInput.get(p.input);
      const rep = r?.report as JobReport | undefined;
      const status = p.skip ? "skipped" : !r ? "not run" : r.ok ? "ok" : "failed";
      return { input: p.input, output: p.output, status, seconds: r?.seconds, error: r?.error, ratio: rep?.bytes.ratio, weightsQuantized: rep?.weights.quantized, ...(rep?.accuracySearch ? { accuracySearch: rep.accuracySearch } : {}) };
    });
    const n = (status: string) => summary.filter((s) => s.status === status).length;
    const counts = { ok: n("ok"), skipped: n("skipped"), failed: n("failed"), notRun: n("not run") };
    const bad = counts.failed + counts.notRun;
    if (json) printJson({ ok: bad === 0, counts, models: summary });
    else if (!flags.quiet) {
      process.stdout.write(`\n${summary.map((s) => `${s.status.padEnd(8)} ${s.input}${s.status === "ok" ? ` → ${s.output}  ${s.ratio?.toFixed(3)}× size, ${s.weightsQuantized} weights, ${s.seconds?.toFixed(2)} s${s.accuracySearch ? `, ${accuracyLine(s.accuracySearch)}` : ""}` : s.error ? `  ${s.error}` : ""}`).join("\n")}\n`);
      process.stdout.write(`${counts.ok} ok, ${counts.skipped} skipped, ${counts.failed} failed${counts.notRun ? `, ${counts.notRun} not run (stopped after the failure; --continue-on-error runs them)` : ""}\n`);
    }
    return bad ? 1 : 0;
  },
});
