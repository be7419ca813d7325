/**
 * Atomic file writes for data files (fixtures, safetensors exports): the kernel's atomic writer (temp file beside the
 * target, then rename), so these files get the same guarantees as models: never half-written, never onto a folder,
 * temps removed on failure and on signals.
 */
import { writeFilesAtomic } from "../io/atomic.ts";

/** Write `chunks` in order to `path` via a temp file + rename (E_SAVE on failure). */
export function writeChunksAtomic(path: string, chunks: readonly Uint8Array[]): void {
  writeFilesAtomic([path], ([f]) => {
    for (const c of chunks) f!.write(c);
  });
}
