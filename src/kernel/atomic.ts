/**
 * Atomic file output: everything is written to a temp file in the destination folder and renamed into place,
 * so a crash or an error never leaves a half-written output, and an input is never overwritten in place.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { QuantError } from "./errors.ts";

let counter = 0;

/** A temp path beside `path` (same filesystem, so rename is atomic). */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${Date.now().toString(36)}-${counter++}`);
}

/** Create the folder of `path` or throw E_OUTPUT_DIR. */
export function ensureDirFor(path: string): void {
  const dir = dirname(path);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new QuantError("E_OUTPUT_DIR", `cannot create output folder "${dir}" (${(e as NodeJS.ErrnoException).code ?? e})`, { file: path, cause: e });
  }
}

/** A file being written: `write` appends bytes; `commit` renames it into place; `abort` removes it. */
export interface PendingFile {
  readonly path: string;
  readonly tempPath: string;
  /** Bytes written so far. */
  readonly size: number;
  write(bytes: Uint8Array): void;
  /** Close the temp file (fsync) without renaming yet. */
  close(): void;
  commit(): void;
  abort(): void;
}

/** Start writing `path` through a temp file. */
export function openPending(path: string): PendingFile {
  ensureDirFor(path);
  const tempPath = tempPathFor(path);
  let fd: number | undefined;
  try {
    fd = openSync(tempPath, "wx");
  } catch (e) {
    throw new QuantError("E_SAVE", `cannot write "${path}" (${(e as NodeJS.ErrnoException).code ?? e})`, { file: path, cause: e });
  }
  let size = 0;
  const pending: PendingFile = {
    path,
    tempPath,
    get size() {
      return size;
    },
    write(bytes) {
      let off = 0;
      while (off < bytes.byteLength) off += writeSync(fd!, bytes, off, bytes.byteLength - off);
      size += bytes.byteLength;
    },
    close() {
      if (fd === undefined) return;
      fsyncSync(fd);
      closeSync(fd);
      fd = undefined;
    },
    commit() {
      pending.close();
      renameSync(tempPath, path);
    },
    abort() {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
      rmSync(tempPath, { force: true });
    },
  };
  return pending;
}

/**
 * Write several files so that either all are renamed into place or none is. `fill` writes the contents.
 * Rename order is the array order (put the file that references the others last, e.g. the .onnx after its .data).
 */
export function writeFilesAtomic(paths: string[], fill: (files: PendingFile[]) => void): void {
  const files: PendingFile[] = [];
  try {
    for (const p of paths) files.push(openPending(p));
    fill(files);
    for (const f of files) f.close();
  } catch (e) {
    for (const f of files) f.abort();
    if (e instanceof QuantError) throw e;
    throw new QuantError("E_SAVE", `writing ${paths.join(", ")} failed (${(e as Error).message ?? e})`, { file: paths[0], cause: e });
  }
  for (const f of files) f.commit();
}

/** Write one file atomically. */
export function writeFileAtomic(path: string, bytes: Uint8Array | string): void {
  const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  writeFilesAtomic([path], ([f]) => f!.write(data));
}
