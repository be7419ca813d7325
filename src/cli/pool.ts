/**
 * Runs CLI child processes N at a time (`batch --jobs N`, `config` with several models). Each model is its own
 * process, so one failure or crash never touches another model's output (outputs are written atomically anyway).
 */
import { fileURLToPath } from "node:url";
import { isCompiled } from "../runtime/native.ts";

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
}
const MAIN = fileURLToPath(new URL("./main.ts", import.meta.url));

/** Run `argvs` (each a full `quant` argv) with at most `jobs` at once; results in input order. */
export async function runPool(
  argvs: string[][],
  jobs: number,
  opts: { stopOnError?: boolean; onDone?: (r: ChildResult) => void } = {},
): Promise<ChildResult[]> {
  const results: ChildResult[] = new Array(argvs.length);
  let next = 0;
  let stop = false;
  const worker = async () => {
    while (!stop && next < argvs.length) {
      const index = next++;
      const t0 = performance.now();
      // In the single-file binary the executable is quant itself.
      const proc = Bun.spawn(isCompiled ? [process.execPath, ...argvs[index]!] : [process.execPath, MAIN, ...argvs[index]!], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
      const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
      let report: unknown;
      try {
        report = out.trim() ? JSON.parse(out) : undefined;
      } catch {
        report = undefined;
      }
      const errLine = err.trim().split("\n").filter((l) => l.startsWith("error ")).pop() ?? err.trim().split("\n").pop();
      const r: ChildResult = { index, ok: code === 0, code, report, error: code === 0 ? undefined : errLine?.replace(/^error /, "") || `exit code ${code}`, seconds: (performance.now() - t0) / 1000 };
      results[index] = r;
      opts.onDone?.(r);
      if (!r.ok && opts.stopOnError) stop = true;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, argvs.length)) }, worker));
  return results;
}
