/** Fixtures for the file-safety tests: models on disk (inline or with external data), hashes, temp listings. */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeModelProto, loadModel, saveModel } from "../../src/index.ts";
import { chainModel } from "../onnx/fixtures.ts";

/** A fresh temp folder. */
export function tmp(prefix = "quant-safety-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** SHA-256 of a file's content ("" when absent). */
export function hashFile(path: string): string {
  return existsSync(path) ? createHash("sha256").update(readFileSync(path)).digest("hex") : "";
}

/** The chain model (3 × [64, 64] weights) saved in `dir` as `name`, with its data in `location` when given. */
export function savedChain(dir: string, name = "m.onnx", location?: string): { model: string; data?: string } {
  mkdirSync(dir, { recursive: true });
  const model = join(dir, name);
  const m = loadModel(encodeModelProto(chainModel(3, 64)));
  if (!location) {
    saveModel(m, model, { externalData: false });
    return { model };
  }
  saveModel(m, model, { externalData: { location, threshold: 1024 } });
  return { model, data: join(dir, location) };
}

/** Temp files (ours: `.name.tmp-pid-…`) in a folder. */
export function temps(dir: string): string[] {
  try {
    return readdirSync(dir).filter((n) => /\.tmp-\d+-/.test(n));
  } catch {
    return [];
  }
}

/** Wait until `cond()` holds (polling), or throw after `ms`. */
export async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(50);
  }
}

/** Child pids of a process (Linux /proc). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

/** True when the pid exists and is not a zombie. */
export function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}
