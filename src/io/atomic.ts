/**
 * Atomic file output. Everything is written to a temp file in the destination's real folder and renamed into place,
 * so a crash or an error never leaves a half-written output. Guarantees (see README "Safety guarantees"):
 * - an input is never overwritten: the destination's identity (device + inode, through symlinked folders and hard
 *   links) is compared with the protected inputs before anything is written and again before each rename;
 * - inside an {@link OutputTransaction} (the kernel opens one around the exporters) renames wait until the outputs
 *   were checked and validated, so a failed run leaves any previous output untouched;
 * - temp files are removed on every failure path, on SIGINT/SIGTERM (see ./cleanup.ts), and temps left by a killed
 *   process (kill -9) are removed by the next write into the same folder.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { createHash, type Hash } from "node:crypto";
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { QuantError, reason } from "../errors/errors.ts";
import { fileId, realTarget } from "./files.ts";
import { cleanStaleTemps, track, untrack } from "./cleanup.ts";

let counter = 0;

/** A temp path beside `path` (same filesystem, so rename is atomic). The pid in the name lets a later run remove it. */
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

/** A set of protected files (inputs) by identity; outputs may never be one of them. */
export class Protected {
  private ids = new Map<string, string>();
  /** Protect `path` (if it exists) — its identity, so every alias of it is protected too. */
  add(path: string | undefined, label = path): this {
    const id = path ? fileId(path) : undefined;
    if (id && label) this.ids.set(id, label);
    return this;
  }
  /** Protect files by `dev:ino`. */
  addIds(ids: Iterable<string>, label: string): this {
    for (const id of ids) this.ids.set(id, label);
    return this;
  }
  /** Throw E_OUTPUT_IS_INPUT when writing `path` would replace a protected file (`shown`: the path as the user gave it). */
  check(path: string, shown = path): void {
    const id = fileId(path);
    const hit = id && this.ids.get(id);
    if (!hit) return;
    const real = realTarget(path);
    const how = real === resolve(shown) ? "the same file" : `the same file: it resolves to ${real}`;
    throw new QuantError("E_OUTPUT_IS_INPUT", `the output "${shown}" is the input ${hit} (${how}); inputs are never overwritten`, { file: shown });
  }
}

/** A file being written: `write` appends bytes; `commit` renames it into place; `abort` removes it. */
export interface PendingFile {
  /** Destination (its folder resolved through symlinks). */
  readonly path: string;
  readonly tempPath: string;
  /** Bytes written so far. */
  readonly size: number;
  write(bytes: Uint8Array): void;
  /** Close the temp file (fsync) without renaming yet. */
  close(): void;
  /** Hex SHA-256 of the bytes written (only with `hash: true`). */
  digest(): string;
  /** Change the destination before commit (e.g. to a name derived from the content); re-checks protection. */
  retarget(path: string): void;
  commit(): void;
  abort(): void;
}

/** Options of {@link openPending}. */
export interface PendingOptions {
  /** Inputs the destination must not be. */
  protect?: Protected;
  /** Hash the content while writing (for content-addressed names). */
  hash?: boolean;
  /** The path only places the temp file: the real destination comes with `retarget` (checked then and at commit). */
  provisional?: boolean;
}

/** Refuse a destination that is an input or a folder, before anything is written. */
function checkTarget(path: string, protect: Protected[], shown = path): void {
  for (const p of protect) p.check(path, shown);
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    // does not exist yet: fine
  }
  if (isDir) throw new QuantError("E_SAVE", `cannot write "${path}": it is a folder`, { file: path });
}

/** Start writing `path` through a temp file. */
export function openPending(path: string, options: PendingOptions = {}): PendingFile {
  ensureDirFor(path);
  let target = realTarget(path);
  const guards = [options.protect, currentTransaction()?.protect, protectStore.getStore()].filter((x): x is Protected => !!x);
  if (!options.provisional) checkTarget(target, guards, path);
  cleanStaleTemps(dirname(target));
  const tempPath = tempPathFor(target);
  let fd: number | undefined;
  try {
    fd = openSync(tempPath, "wx");
  } catch (e) {
    throw new QuantError("E_SAVE", `cannot write "${path}" (${(e as NodeJS.ErrnoException).code ?? e})`, { file: path, cause: e });
  }
  track(tempPath);
  let size = 0;
  const hash: Hash | undefined = options.hash ? createHash("sha256") : undefined;
  let digest: string | undefined;
  const pending: PendingFile = {
    get path() {
      return target;
    },
    tempPath,
    get size() {
      return size;
    },
    write(bytes) {
      let off = 0;
      while (off < bytes.byteLength) off += writeSync(fd!, bytes, off, bytes.byteLength - off);
      size += bytes.byteLength;
      hash?.update(bytes);
    },
    close() {
      if (fd === undefined) return;
      fsyncSync(fd);
      closeSync(fd);
      fd = undefined;
    },
    digest() {
      if (!hash) throw new Error("openPending: digest() needs { hash: true }");
      return (digest ??= hash.digest("hex"));
    },
    retarget(next) {
      target = join(dirname(target), basename(next));
      checkTarget(target, guards);
    },
    commit() {
      pending.close();
      checkTarget(target, guards); // the folder may have changed since open
      try {
        renameSync(tempPath, target);
      } catch (e) {
        pending.abort();
        throw new QuantError("E_SAVE", `cannot move the output into place at "${target}" (${(e as NodeJS.ErrnoException).code ?? reason(e)})`, { file: target, cause: e });
      }
      untrack(tempPath);
    },
    abort() {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
      rmSync(tempPath, { force: true });
      untrack(tempPath);
    },
  };
  return pending;
}

/**
 * Files written but not yet published. `publish` makes them visible (renames); `abort` removes every trace.
 * `prepare` may place parts that nothing references yet (e.g. content-addressed data files) so the staged model can
 * be loaded from its temp path before it is published.
 */
export interface StagedOutput {
  /** Final path and temp path of each file. */
  readonly files: readonly { path: string; tempPath: string }[];
  publish(): void;
  abort(): void;
}

/**
 * A group of outputs published together after checks. Opened by the kernel around the exporters: every atomic write
 * inside {@link OutputTransaction.run} is staged instead of renamed, until {@link OutputTransaction.publish}.
 */
export class OutputTransaction {
  readonly staged: StagedOutput[] = [];
  private done = false;
  constructor(readonly protect: Protected = new Protected()) {}

  /** Run `fn` with atomic writes staged into this transaction. */
  run<T>(fn: () => T): T {
    return store.run(this, fn);
  }
  /** Temp path holding the content of `path` until publish, if it was staged here. */
  tempOf(path: string): string | undefined {
    const real = realTarget(path);
    for (const s of this.staged) for (const f of s.files) if (f.path === real || f.path === path) return f.tempPath;
    return undefined;
  }
  /** Rename everything into place, in staging order. */
  publish(): void {
    if (this.done) return;
    this.done = true;
    try {
      for (const s of this.staged) s.publish();
    } catch (e) {
      for (const s of this.staged) s.abort();
      throw e;
    }
    untrack(this);
  }
  /** Remove every staged file (nothing was published). */
  abort(): void {
    if (this.done) return;
    this.done = true;
    for (const s of this.staged) s.abort();
    untrack(this);
  }
  /** @internal */
  add(s: StagedOutput): void {
    if (this.staged.length === 0) track(this);
    this.staged.push(s);
  }
}

const store = new AsyncLocalStorage<OutputTransaction>();
const protectStore = new AsyncLocalStorage<Protected>();

/**
 * Run `fn` with `protect` applied to every atomic write it makes (the kernel wraps a whole run in it, so a
 * `--stats-out` or a plugin's own file can never replace the input model, its data or the calibration data either).
 */
export function withProtected<T>(protect: Protected, fn: () => T): T {
  return protectStore.run(protect, fn);
}

/** The transaction atomic writes are currently staged into, if any. */
export function currentTransaction(): OutputTransaction | undefined {
  return store.getStore();
}

/** Publish now, or stage into the current transaction. */
export function settle(s: StagedOutput): void {
  const t = currentTransaction();
  if (t) t.add(s);
  else s.publish();
}

/**
 * Write several files so that either all are renamed into place or none is. `fill` writes the contents.
 * Rename order is the array order (put the file that references the others last, e.g. the .onnx after its .data).
 * Inside an {@link OutputTransaction} the renames wait for the transaction.
 */
export function writeFilesAtomic(paths: string[], fill: (files: PendingFile[]) => void, options: PendingOptions = {}): void {
  const files: PendingFile[] = [];
  try {
    for (const p of paths) files.push(openPending(p, options));
    fill(files);
    for (const f of files) f.close();
  } catch (e) {
    for (const f of files) f.abort();
    if (e instanceof QuantError) throw e;
    throw new QuantError("E_SAVE", `writing ${paths.join(", ")} failed (${(e as Error).message ?? e})`, { file: paths[0], cause: e });
  }
  settle({
    files: files.map((f) => ({ path: f.path, tempPath: f.tempPath })),
    publish() {
      let i = 0;
      try {
        for (; i < files.length; i++) files[i]!.commit();
      } catch (e) {
        for (; i < files.length; i++) files[i]!.abort();
        throw e;
      }
    },
    abort() {
      for (const f of files) f.abort();
    },
  });
}

/** Write one file atomically. */
export function writeFileAtomic(path: string, bytes: Uint8Array | string, options: PendingOptions = {}): void {
  const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  writeFilesAtomic([path], ([f]) => f!.write(data), options);
}
