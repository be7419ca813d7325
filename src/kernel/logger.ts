/**
 * quant's loggers: consola's core (2 ms to import, against ~30 ms for the full package with its fancy reporter) with a
 * small reporter that writes one plain line per message to stderr, so stdout stays free for `--format json`.
 */
import { createConsola, type ConsolaInstance, type LogObject } from "consola/core";

const ICONS: Record<string, string> = { fatal: "✖", error: "✖", warn: "⚠", info: "ℹ", success: "✔", fail: "✖", ready: "✔", start: "◐", debug: "⚙", trace: "→", log: "" };

/** A reporter writing `[tag] icon message` lines to a stream (stderr by default). */
export function lineReporter(stream: NodeJS.WritableStream = process.stderr) {
  return {
    log(obj: LogObject) {
      const icon = ICONS[obj.type] ?? "";
      const text = obj.args.map((a) => (a instanceof Error ? a.message : typeof a === "string" ? a : JSON.stringify(a))).join(" ");
      stream.write(`${obj.tag ? `[${obj.tag}] ` : ""}${icon ? `${icon} ` : ""}${text}\n`);
    },
  };
}

/** A logger at `level` (0 errors only, 1 warnings, 3 info, 4 debug) writing to stderr. */
export function createLogger(level = 3): ConsolaInstance {
  return createConsola({ level, reporters: [lineReporter()] });
}

/** The default logger of library calls that pass none: warnings and errors only. */
export const defaultLogger: ConsolaInstance = createLogger(1);
