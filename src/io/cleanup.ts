/**
 * Temp-file hygiene: every live temp file and staged output is tracked so SIGINT/SIGTERM can remove them before the
 * process exits, and temps a killed process left behind (kill -9 cannot be handled in-process) are recognised by the
 * pid in their name and removed by the next write into the same folder once that pid is gone.
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Something that can remove its files: a temp path, or an object with `abort()` (a staged output). */
type Live = string | { abort(): void };
const live = new Set<Live>();

/** Track a temp file or a staged output until it is published or removed. */
export function track(x: Live): void {
  live.add(x);
}
/** Stop tracking. */
export function untrack(x: Live): void {
  live.delete(x);
}

/** Remove every tracked temp file and abort every staged output (idempotent, never throws). */
export function abortAllPending(): void {
  for (const x of [...live].reverse()) {
    try {
      if (typeof x === "string") rmSync(x, { force: true, recursive: true });
      else x.abort();
    } catch {
      // best effort: we are exiting
    }
    live.delete(x);
  }
}

let installed = false;
const hooks: ((signal: NodeJS.Signals) => Promise<void> | void)[] = [];

/** Run `fn` (e.g. stop child processes) when a termination signal arrives, before pending files are removed. */
export function onShutdown(fn: (signal: NodeJS.Signals) => Promise<void> | void): () => void {
  hooks.push(fn);
  return () => {
    const i = hooks.indexOf(fn);
    if (i >= 0) hooks.splice(i, 1);
  };
}

/** Exit code for a termination signal: 128 + its number, as the default action would give. */
export const SIGNAL_EXIT: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };

/**
 * Install SIGINT/SIGTERM/SIGHUP handlers that run the {@link onShutdown} hooks, remove pending temp files and exit
 * with 128 + signal number (130, 143, 129). A second signal exits at once. For command-line programs; a library
 * leaves signals alone. With env `QUANT_PARENT_PID` (set by `batch` for its children) the process also exits,
 * cleaning up the same way, when that parent dies — even by kill -9, which it cannot forward.
 */
export function installSignalCleanup(): void {
  if (installed) return;
  installed = true;
  let stopping = false;
  const stop = async (sig: NodeJS.Signals) => {
    if (stopping) {
      abortAllPending();
      process.exit(SIGNAL_EXIT[sig] ?? 1);
    }
    stopping = true;
    try {
      await Promise.all(hooks.map((h) => h(sig)));
    } catch {
      // still exit below
    } finally {
      abortAllPending();
      process.exit(SIGNAL_EXIT[sig] ?? 1);
    }
  };
  for (const sig of Object.keys(SIGNAL_EXIT) as NodeJS.Signals[]) process.on(sig, (s) => void stop(s));
  const parent = Number(process.env.QUANT_PARENT_PID);
  if (parent > 0) {
    // Re-parenting (to init or a subreaper) changes ppid: the parent is gone.
    const timer = setInterval(() => {
      if (process.ppid !== parent) void stop("SIGHUP");
    }, 250);
    timer.unref?.();
  }
}

/** True when a process with this pid exists (EPERM means it exists but is not ours). */
export function pidAlive(pid: number): boolean {
  if (!(pid > 0)) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Temp names made by tempPathFor: `.<name>.tmp-<pid>-<time36>-<n>`. */
const TEMP_NAME = /^\..+\.tmp-(\d+)-[0-9a-z]+-\d+$/;
const cleaned = new Set<string>();

/** Remove the temp files a given (dead) process left in `dir`. Returns how many were removed. */
export function removeTempsOf(dir: string, pid: number): number {
  let n = 0;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    const m = TEMP_NAME.exec(name);
    if (!m || Number(m[1]) !== pid) continue;
    try {
      rmSync(join(dir, name), { force: true });
      n++;
    } catch {
      // keep going
    }
  }
  return n;
}

/** Remove temp files in `dir` left by processes that no longer exist (once per folder per process). */
export function cleanStaleTemps(dir: string): void {
  if (cleaned.has(dir)) return;
  cleaned.add(dir);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const m = TEMP_NAME.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || pidAlive(pid)) continue;
    try {
      rmSync(join(dir, name), { force: true });
    } catch {
      // not ours to fight over
    }
  }
}

/**
 * Failure injection for tests of the crash guarantees: `QUANT_TEST_FAIL_AT=<point>` kills the process with SIGKILL at
 * that point, as a power cut would (points: `before-publish`, `after-model-rename`). Never set in normal use.
 */
export function testHook(point: string): void {
  if (process.env.QUANT_TEST_FAIL_AT === point) process.kill(process.pid, "SIGKILL");
}

const TEMP_DIR_NAME = /^quant-[a-z]+-(\d+)-[A-Za-z0-9]{6}$/;
let sweptTmp = false;

/**
 * A private folder under the system temp dir (`quant-<what>-<pid>-XXXXXX`), removed by {@link removeTempDir}, on
 * SIGINT/SIGTERM, or — after a kill -9 — by the next quant process that makes one.
 */
export function makeTempDir(what: string): string {
  if (!sweptTmp) {
    sweptTmp = true;
    try {
      for (const n of readdirSync(tmpdir())) {
        const pid = Number(TEMP_DIR_NAME.exec(n)?.[1]);
        if (pid && pid !== process.pid && !pidAlive(pid)) rmSync(join(tmpdir(), n), { recursive: true, force: true });
      }
    } catch {
      // an unreadable temp dir is not ours to clean
    }
  }
  const dir = mkdtempSync(join(tmpdir(), `quant-${what}-${process.pid}-`));
  track(dir);
  return dir;
}

/** Remove a folder made by {@link makeTempDir}. */
export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  untrack(dir);
}
