/** Run the CLI as a subprocess, as a user would. */
import { ROOT } from "../helpers/corpus.ts";

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** `quant <args>` from the repository root (or `cwd`). */
export function quant(args: string[], cwd = ROOT): CliRun {
  const p = Bun.spawnSync([process.execPath, `${ROOT}/src/cli/main.ts`, ...args], { cwd, stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  return { code: p.exitCode ?? -1, stdout: p.stdout.toString(), stderr: p.stderr.toString() };
}
