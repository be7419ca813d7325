/**
 * Atomic file writes for data files (fixtures, safetensors exports): write a temp file beside the
 * target, then rename, so a crash never leaves a half-written file under the real name.
 */
import { closeSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename } from "node:path";
import { QuantError, reason } from "../kernel/errors.ts";

/** Write `chunks` in order to `path` via a temp file + rename (E_SAVE on failure). */
export function writeChunksAtomic(path: string, chunks: readonly Uint8Array[]): void {
  const tmp = `${path}.tmp-${process.pid}-${Date.now().toString(36)}`;
  let fd: number | undefined;
  try {
    fd = openSync(tmp, "w");
    for (const c of chunks) {
      let done = 0;
      while (done < c.length) done += writeSync(fd, c, done, c.length - done);
    }
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw new QuantError("E_SAVE", `cannot write ${basename(path)}: ${reason(e)}`, { file: path, cause: e });
  }
}
