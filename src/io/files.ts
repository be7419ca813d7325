/**
 * File identity and type checks. Safety decisions are made on what a path *is* (real path, device + inode, file
 * type), never on its text: a symlinked folder, `..` through a symlink or a hard link all name the same file.
 */
import { constants, closeSync, fstatSync, openSync, realpathSync, statSync, type Stats } from "node:fs";
import { basename, dirname, join, sep } from "node:path";
import { QuantError, type ErrorCode } from "../errors/errors.ts";

/** What a non-regular file is, for messages. */
export function fileKind(st: Stats): string {
  if (st.isDirectory()) return "a folder";
  if (st.isFIFO()) return "a FIFO (named pipe)";
  if (st.isSocket()) return "a socket";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isFile()) return "a regular file";
  return "not a regular file";
}

/**
 * Stat `path` (following symlinks) and require a regular file, *before* anything opens it: opening a FIFO for
 * reading blocks until a writer appears, and a device can be endless. Throws `code` with a one-line reason.
 */
export function requireRegularFile(path: string, code: ErrorCode, what = basename(path)): Stats {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (e) {
    const c = (e as NodeJS.ErrnoException).code;
    throw new QuantError(code, `cannot read ${what} (${c ?? e})`, { file: path, cause: e });
  }
  if (!st.isFile()) throw new QuantError(code, `${what} is ${fileKind(st)}, not a regular file; refusing to read it`, { file: path });
  return st;
}

/**
 * Open a regular file for reading without ever blocking: type check first, then O_NONBLOCK (so a file swapped for a
 * FIFO between the check and the open still cannot hang), then the type is checked again on the descriptor.
 */
export function openRegularFile(path: string, code: ErrorCode, what = basename(path)): { fd: number; size: number } {
  requireRegularFile(path, code, what);
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (e) {
    throw new QuantError(code, `cannot open ${what} (${(e as NodeJS.ErrnoException).code ?? e})`, { file: path, cause: e });
  }
  const st = fstatSync(fd);
  if (!st.isFile()) {
    closeSync(fd);
    throw new QuantError(code, `${what} is ${fileKind(st)}, not a regular file; refusing to read it`, { file: path });
  }
  return { fd, size: st.size };
}

/** Real path of `path`, or undefined when it does not resolve (missing, dangling link, loop). */
export function realPath(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}

/** True when real path `inner` is `dir` itself or inside it (both already real paths). */
export function isInside(dir: string, inner: string): boolean {
  return inner === dir || inner.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

/**
 * The path `path` will have once written: its folder resolved through symlinks, its own name kept (the file may not
 * exist yet; if it is a symlink, a rename replaces the link, never the file it points to). Walks up to the nearest
 * existing ancestor so `-o alias/new/sub/x.onnx` resolves too.
 */
export function realTarget(path: string): string {
  const tail: string[] = [basename(path)];
  let dir = dirname(path);
  for (;;) {
    const r = realPath(dir);
    if (r) return join(r, ...tail.reverse());
    const up = dirname(dir);
    if (up === dir) return join(dir, ...tail.reverse());
    tail.push(basename(dir));
    dir = up;
  }
}

/** `dev:ino` of an existing file (following symlinks), else undefined. */
export function fileId(path: string): string | undefined {
  try {
    const st = statSync(path);
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}
