/**
 * CLI output: logs and progress on stderr (so `--format json` keeps stdout pure JSON), one-line errors,
 * and exit codes.
 */
import type { ConsolaInstance } from "consola";
import { createLogger } from "../kernel/logger.ts";
import { isQuantError, reason } from "../errors/errors.ts";
import type { EventSink } from "../kernel/events.ts";

/** Flags every command takes. */
export interface GlobalFlags {
  format?: string;
  quiet?: boolean;
  debug?: boolean;
}

/** A consola instance writing to stderr only. */
export function makeLogger(flags: GlobalFlags): ConsolaInstance {
  return createLogger(flags.quiet ? 0 : flags.debug ? 4 : 3);
}

/** True when the command must print JSON on stdout. */
export function wantsJson(flags: GlobalFlags): boolean {
  const f = (flags.format ?? "human").toLowerCase();
  if (f !== "json" && f !== "human" && f !== "text") throw Object.assign(new Error(`--format must be human or json (got ${flags.format})`), { usage: true });
  return f === "json";
}

/** Print a value as JSON on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, (_, v) => (typeof v === "bigint" ? Number(v) : v instanceof Map ? Object.fromEntries(v) : v), 2)}\n`);
}

/**
 * A progress reporter: a bar redrawn in place on a TTY, plain lines every 25 % otherwise; silent for steps that
 * finish within a second, and in quiet mode.
 */
export function progressSink(flags: GlobalFlags): EventSink {
  const tty = process.stderr.isTTY === true;
  let started = 0;
  let lastPct = -1;
  let lastDraw = 0;
  let drawn = false;
  return (e) => {
    if (flags.quiet) return;
    if (e.type === "phase:start") {
      started = performance.now();
      lastPct = -1;
      return;
    }
    if (e.type === "phase:end" && drawn) {
      if (tty) process.stderr.write("\r\x1b[K");
      drawn = false;
      return;
    }
    if (e.type !== "progress" || e.total <= 0) return;
    const now = performance.now();
    if (now - started < 1000) return;
    const pct = Math.floor((100 * e.done) / e.total);
    const label = `${e.phase}${e.plugin ? `:${e.plugin}` : ""} ${e.label ?? ""}`.trim();
    if (tty) {
      if (now - lastDraw < 80 && e.done < e.total) return;
      lastDraw = now;
      const width = 28;
      const fill = Math.round((width * e.done) / e.total);
      process.stderr.write(`\r\x1b[K${label} [${"█".repeat(fill)}${"░".repeat(width - fill)}] ${e.done}/${e.total}`);
      drawn = true;
    } else if (Math.floor(pct / 25) > Math.floor(lastPct / 25) || (e.done === e.total && lastPct < 100)) {
      process.stderr.write(`${label}: ${e.done}/${e.total} (${pct}%)\n`);
    }
    lastPct = pct;
  };
}

/** Print an error as one line (stack only with --debug) and return the exit code. */
export function reportError(e: unknown, flags: GlobalFlags): number {
  if (isQuantError(e)) {
    process.stderr.write(`error ${e.toLine()}\n`);
    if (flags.debug) process.stderr.write(`${e.stack}\n${e.cause ? `cause: ${(e.cause as Error).stack ?? e.cause}\n` : ""}`);
    return e.code === "E_USAGE" ? 2 : 1;
  }
  const usage = (e as { usage?: boolean })?.usage || (e as { code?: string })?.code === "EARG";
  process.stderr.write(`error ${usage ? "E_USAGE" : "E_INTERNAL"}: ${reason(e)}\n`);
  if (flags.debug && e instanceof Error) process.stderr.write(`${e.stack}\n`);
  return usage ? 2 : 1;
}

/** Human size. */
export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1 << 30) return `${(n / (1 << 20)).toFixed(1)} MB`;
  return `${(n / (1 << 30)).toFixed(2)} GB`;
}
