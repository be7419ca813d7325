/**
 * Runs CLI child processes N at a time (`batch --jobs N`, `config` with several models). Each model is its own
 * process, so one failure or crash never touches another model's output (outputs are written atomically anyway).
 * Children are bounded and never outlive the pool: a per-job timeout, SIGTERM then SIGKILL on shutdown, and each
 * child exits by itself if the parent dies (QUANT_PARENT_PID, see io/cleanup.ts).
 */
import { fileURLToPath } from "node:url";
import { isCompiled } from "../io/native.ts";
import { onShutdown } from "../io/cleanup.ts";

/** Result of one child run. */
export interface ChildResult {
  index: number;
  ok: boolean;
  code: number;
  /** Parsed JSON report (stdout) when the child succeeded. */
  report?: unknown;
  /** The child's one-line error (last line of stderr) when it failed. */
  error?: string;
  seconds: number;
  /** True when the pool killed the child (timeout or shutdown). */
  killed?: boolean;
}

/** Options of {@link runPool}. */
export interface PoolOptions {
  stopOnError?: boolean;
  onDone?: (r: ChildResult) => void;
  /** Kill a child that runs longer than this (ms); 0 or undefined: no limit. */
  timeoutMs?: number;
  /** Grace period between SIGTERM and SIGKILL (ms, default 3000). */
  graceMs?: number;
  /** Called after a child the pool killed has exited (remove what it may have left). */
  afterKill?: (index: number, pid: number) => void;
}
const MAIN = fileURLToPath(new URL("./main.ts", import.meta.url));

type Proc = ReturnType<typeof Bun.spawn>;

/** SIGTERM, then SIGKILL after `graceMs` if still running; resolves when the child has exited. */
async function terminate(proc: Proc, graceMs: number): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill("SIGTERM");
  const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
  await proc.exited;
  clearTimeout(timer);
}

/** Run `argvs` (each a full `quant` argv) with at most `jobs` at once; results in input order. */
export async function runPool(argvs: string[][], jobs: number, opts: PoolOptions = {}): Promise<ChildResult[]> {
  const results: ChildResult[] = new Array(argvs.length);
  const grace = opts.graceMs ?? 3000;
  const live = new Map<number, Proc>();
  let next = 0;
  let stop = false;
  const off = onShutdown(async () => {
    stop = true;
    await Promise.all([...live.entries()].map(async ([index, proc]) => {
      await terminate(proc, grace);
      opts.afterKill?.(index, proc.pid);
    }));
  });
  const worker = async () => {
    while (!stop && next < argvs.length) {
      const index = next++;
      const t0 = performance.now();
      // In the single-file binary the executable is quant itself.
      const proc = Bun.spawn(isCompiled ? [process.execPath, ...argvs[index]!] : [process.execPath, MAIN, ...argvs[index]!], {
        stdout: "pipe",
        stderr: "pipe",
        stdin: "ignore",
        env: { ...process.env, QUANT_PARENT_PID: String(process.pid) },
      });
      live.set(index, proc);
      let timedOut = false;
      const timer = opts.timeoutMs ? setTimeout(() => ((timedOut = true), void terminate(proc, grace)), opts.timeoutMs) : undefined;
      const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
      if (timer) clearTimeout(timer);
      live.delete(index);
      if (timedOut) opts.afterKill?.(index, proc.pid);
      let report: unknown;
      try {
        report = out.trim() ? JSON.parse(out) : undefined;
      } catch {
        report = undefined;
      }
      const errLine = err.trim().split("\n").filter((l) => l.startsWith("error ")).pop() ?? err.trim().split("\n").pop();
      const r: ChildResult = timedOut
        ? { index, ok: false, code, killed: true, error: `E_TIMEOUT: still running after ${(opts.timeoutMs! / 1000).toFixed(0)} s (--timeout); stopped`, seconds: (performance.now() - t0) / 1000 }
        : { index, ok: code === 0, code, report, error: code === 0 ? undefined : errLine?.replace(/^error /, "") || `exit code ${code}`, seconds: (performance.now() - t0) / 1000 };
      results[index] = r;
      opts.onDone?.(r);
      if (!r.ok && opts.stopOnError) stop = true;
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, argvs.length)) }, worker));
  } finally {
    off();
  }
  return results;
}
