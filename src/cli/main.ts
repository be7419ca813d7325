#!/usr/bin/env bun
/** The `quant` command line. Every command lives in its own file and loads lazily. */
import { defineCommand, runCommand, showUsage } from "citty";
import { reportError } from "./io.ts";
import { installSignalCleanup } from "../kernel/cleanup.ts";

const main = defineCommand({
  meta: { name: "quant", version: "0.1.0", description: "Post-training quantization for ONNX models (INT8/INT4, weight-only and calibrated static QDQ)" },
  subCommands: {
    quantize: () => import("./quantize.ts").then((m) => m.default),
    calibrate: () => import("./calibrate.ts").then((m) => m.default),
    batch: () => import("./batch.ts").then((m) => m.default),
    validate: () => import("./validate.ts").then((m) => m.default),
    benchmark: () => import("./benchmark.ts").then((m) => m.default),
    info: () => import("./info.ts").then((m) => m.default),
    config: () => import("./config.ts").then((m) => m.default),
    variants: () => import("./variants.ts").then((m) => m.default),
  },
});

/** Run the CLI with argv (without the runtime and script), return the exit code. */
export async function cli(rawArgs: string[]): Promise<number> {
  const flags = { debug: rawArgs.includes("--debug"), quiet: rawArgs.includes("--quiet") || rawArgs.includes("-q") };
  if (rawArgs.length === 0 || (rawArgs.length === 1 && (rawArgs[0] === "--help" || rawArgs[0] === "-h"))) {
    await showUsage(main);
    return 0;
  }
  if (rawArgs[0] === "--version" || rawArgs[0] === "-v") {
    process.stdout.write("0.1.0\n");
    return 0;
  }
  try {
    const sub = rawArgs[0]!;
    if (!(sub in (main.subCommands as object))) throw Object.assign(new Error(`unknown command "${sub}" (commands: quantize, calibrate, batch, validate, benchmark, info, config, variants)`), { usage: true });
    const cmd = await (main.subCommands as Record<string, () => Promise<Parameters<typeof showUsage>[0]>>)[sub]!();
    if (rawArgs.includes("--help") || rawArgs.includes("-h")) {
      await showUsage(cmd, main);
      return 0;
    }
    // Run the subcommand directly so its return value is the exit code.
    const out = await runCommand(cmd, { rawArgs: rawArgs.slice(1) });
    return typeof out.result === "number" ? out.result : 0;
  } catch (e) {
    return reportError(e, flags);
  }
}

if (import.meta.main) {
  // Ctrl-C / SIGTERM / a dead batch parent: remove temp files, exit 130/143/129.
  installSignalCleanup();
  const code = await cli(process.argv.slice(2));
  // Flush stdout before exiting (large JSON reports on pipes).
  await new Promise<void>((r) => (process.stdout.write("") ? r() : process.stdout.once("drain", () => r())));
  process.exit(code);
}
