#!/usr/bin/env bun
/** The `quant` command line. Every command lives in its own file and loads lazily. */
import { runCommand, showUsage, type CommandDef } from "citty";
import { reportError } from "./io.ts";
import { checkFlags } from "./strict.ts";
import { installSignalCleanup } from "../io/cleanup.ts";

/** A command module: the citty command and the examples its `--help` prints (each one is run by a test). */
export interface CommandModule {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each command has its own args type
  default: CommandDef<any>;
  examples?: readonly string[];
}

/** Commands with a one-line summary for the top-level usage, loaded only when run. */
export const commands: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  quantize: { summary: "weight-only: weights → INT8/INT4 + DequantizeLinear", load: () => import("./quantize.ts") },
  calibrate: { summary: "static: activations and weights, ranges calibrated in onnxruntime-node", load: () => import("./calibrate.ts") },
  batch: { summary: "many models (files, folders, globs), N processes at a time", load: () => import("./batch.ts") },
  validate: { summary: "structure, loads in ONNX Runtime, numbers against the float model", load: () => import("./validate.ts") },
  benchmark: { summary: "sizes, node counts and single-thread latency, original vs quantized", load: () => import("./benchmark.ts") },
  info: { summary: "what a model is made of: opsets, ops, inputs/outputs, weights", load: () => import("./info.ts") },
  config: { summary: "run a config file's models and batch (--dry-run: print the plan)", load: () => import("./config.ts") },
  variants: { summary: "the transformers.js file set (model_quantized, _fp16, _q4, …) from one model", load: () => import("./variants.ts") },
};

/** The top-level usage: the short command list. */
export function topUsage(): string {
  const w = Math.max(...Object.keys(commands).map((k) => k.length));
  return [
    "quant 0.1.0 — post-training quantization for ONNX models (INT8/INT4, weight-only and calibrated static QDQ)",
    "",
    "Usage: quant <command> [options]   (quant <command> --help for its flags and examples)",
    "",
    "Commands:",
    ...Object.entries(commands).map(([k, c]) => `  ${k.padEnd(w)}  ${c.summary}`),
    "",
    "Global: --format human|json, --quiet, --debug, --version",
  ].join("\n");
}

/** `quant <command> --help`: citty's flag list, then the examples. */
async function commandHelp(mod: CommandModule): Promise<void> {
  await showUsage(mod.default, { meta: { name: "quant" } });
  if (mod.examples?.length) process.stdout.write(`Examples:\n${mod.examples.map((e) => `  ${e}`).join("\n")}\n`);
}

/** Run the CLI with argv (without the runtime and script), return the exit code. */
export async function cli(rawArgs: string[]): Promise<number> {
  const flags = { debug: rawArgs.includes("--debug"), quiet: rawArgs.includes("--quiet") || rawArgs.includes("-q") };
  if (rawArgs.length === 1 && (rawArgs[0] === "--help" || rawArgs[0] === "-h")) {
    process.stdout.write(`${topUsage()}\n`);
    return 0;
  }
  if (rawArgs.length === 0) {
    process.stderr.write(`${topUsage()}\n\nerror E_USAGE: no command given\n`);
    return 2;
  }
  if (rawArgs[0] === "--version" || rawArgs[0] === "-v") {
    process.stdout.write("0.1.0\n");
    return 0;
  }
  try {
    const sub = rawArgs[0]!;
    if (!(sub in commands)) {
      const { closest } = await import("./strict.ts");
      const hint = sub.startsWith("-") ? undefined : closest(sub, Object.keys(commands));
      throw Object.assign(new Error(`${sub.startsWith("-") ? `a command must come first (got ${sub})` : `unknown command "${sub}"`}${hint ? ` (did you mean ${hint}?)` : ""}; commands: ${Object.keys(commands).join(", ")}`), { usage: true });
    }
    const mod = await commands[sub]!.load();
    const args = rawArgs.slice(1);
    if (args.includes("--help") || args.includes("-h")) {
      await commandHelp(mod);
      return 0;
    }
    checkFlags(sub, (mod.default.args ?? {}) as Parameters<typeof checkFlags>[1], args);
    // Run the subcommand directly so its return value is the exit code.
    const out = await runCommand(mod.default, { rawArgs: args });
    return typeof out.result === "number" ? out.result : 0;
  } catch (e) {
    return reportError(e, flags);
  }
}

/** Run the CLI and exit the process with its code (after stdout drains: large JSON reports on pipes). */
export async function run(argv: string[]): Promise<never> {
  // Ctrl-C / SIGTERM / a dead batch parent: remove temp files, exit 130/143/129.
  installSignalCleanup();
  const code = await cli(argv);
  await new Promise<void>((r) => (process.stdout.write("") ? r() : process.stdout.once("drain", () => r())));
  process.exit(code);
}

if (import.meta.main) await run(process.argv.slice(2));
