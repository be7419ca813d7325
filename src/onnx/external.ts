/**
 * External data (TensorProto.data_location = EXTERNAL): validation and lazy reads.
 * Reads go through file handles at an offset, so a multi-GB data file is never loaded whole.
 */
import { closeSync, fstatSync, readSync } from "node:fs";
import { isAbsolute, normalize, resolve, sep } from "node:path";
import { QuantError } from "../errors/errors.ts";
import { isInside, openRegularFile, realPath } from "../io/files.ts";
import type { TensorProto } from "./types.ts";
import { byteLength } from "../tensor/dtypes.ts";

/** DataLocation.EXTERNAL */
export const EXTERNAL = 1;

/** Where an external tensor's bytes are. */
export interface ExternalRef {
  location: string;
  offset: number;
  length: number;
}

/** True when the tensor's data lives in an external file. */
export function isExternal(t: TensorProto): boolean {
  return t.data_location === EXTERNAL;
}

/** Element count from dims. */
export function elementCount(dims: readonly (number | { toNumber(): number })[] | undefined): number {
  let n = 1;
  for (const d of dims ?? []) n *= typeof d === "number" ? d : d.toNumber();
  return n;
}

/** Parse a tensor's external_data entries; `length` defaults to the size its dims and type need. */
export function externalRef(t: TensorProto): ExternalRef {
  let location = "";
  let offset = 0;
  let length = -1;
  for (const e of t.external_data ?? []) {
    if (e.key === "location") location = e.value ?? "";
    else if (e.key === "offset") offset = Number(e.value);
    else if (e.key === "length") length = Number(e.value);
  }
  if (length < 0) length = byteLength(t.data_type ?? 0, elementCount(t.dims));
  return { location, offset, length };
}

/** Resolve a location inside `baseDir`, refusing anything that escapes it (absolute paths, `..`). */
export function resolveLocation(baseDir: string, location: string, file?: string): string {
  const bad = () =>
    new QuantError("E_LOAD_EXTERNAL_PATH", `external data location "${location}" escapes the model's folder; only relative paths inside it are allowed`, { file });
  if (!location || isAbsolute(location) || /^[a-zA-Z]:[\\/]/.test(location) || location.includes("\0")) throw bad();
  const norm = normalize(location);
  if (norm === ".." || norm.startsWith(`..${sep}`) || norm.split(/[\\/]/).includes("..")) throw bad();
  const full = resolve(baseDir, norm);
  if (!full.startsWith(resolve(baseDir) + sep)) throw bad();
  // The text is inside; now the file itself: a symlink (of the file or of a folder on the way) may point anywhere.
  const real = realPath(full);
  const realBase = realPath(baseDir) ?? resolve(baseDir);
  if (real !== undefined && !isInside(realBase, real))
    throw new QuantError("E_LOAD_EXTERNAL_PATH", `external data location "${location}" is a symlink to ${real}, outside the model's folder; refusing to read it`, { file });
  return full;
}

/** A scratch store mounted under a location of its own (see src/onnx/spill.ts): read like a data file. */
export interface MountedData {
  readonly descriptor: number;
  readonly size: number;
  read(offset: number, length: number): Uint8Array;
  close(): void;
}

/** Opened external data files, shared by all tensors of a model, closed on demand. */
export class ExternalFiles {
  private fds = new Map<string, { fd: number; size: number }>();
  private mounts = new Map<string, MountedData>();
  constructor(readonly baseDir: string, readonly modelFile?: string) {}

  /**
   * Serve `location` from `data`; it is never resolved as a path. {@link close} leaves mounts open (data files reopen on
   * demand, a mount cannot): their owner closes them.
   */
  mount(location: string, data: MountedData): void {
    this.mounts.set(location, data);
  }

  /** Open (once) the file for a location and return its descriptor and size. */
  open(location: string): { fd: number; size: number; path: string } {
    const m = this.mounts.get(location);
    if (m) return { fd: m.descriptor, size: m.size, path: location };
    const path = resolveLocation(this.baseDir, location, this.modelFile);
    let h = this.fds.get(path);
    if (!h) {
      if (realPath(path) === undefined)
        throw new QuantError("E_LOAD_EXTERNAL_MISSING", `external data file "${location}" cannot be opened (ENOENT)`, { file: this.modelFile });
      try {
        h = openRegularFile(path, "E_LOAD_NOT_FILE", `external data file "${location}"`);
      } catch (e) {
        if (e instanceof QuantError) (e.site as { file?: string }).file = this.modelFile;
        throw e;
      }
      this.fds.set(path, h);
    }
    return { ...h, path };
  }

  /** Check that the tensor's bytes are inside its data file. */
  check(t: TensorProto): ExternalRef {
    const ref = externalRef(t);
    const { size } = this.open(ref.location);
    if (!Number.isSafeInteger(ref.offset) || !Number.isSafeInteger(ref.length) || ref.offset < 0 || ref.length < 0 || ref.offset + ref.length > size)
      throw new QuantError(
        "E_LOAD_EXTERNAL_RANGE",
        `tensor "${t.name}" wants bytes ${ref.offset}..${ref.offset + ref.length} of "${ref.location}", which has ${size} bytes`,
        { file: this.modelFile, target: t.name },
      );
    return ref;
  }

  /** Read a tensor's bytes (a fresh buffer of exactly its length). */
  read(t: TensorProto): Uint8Array {
    const ref = this.check(t);
    const m = this.mounts.get(ref.location);
    if (m) return m.read(ref.offset, ref.length);
    const { fd } = this.open(ref.location);
    const out = new Uint8Array(ref.length);
    let done = 0;
    while (done < ref.length) {
      const n = readSync(fd, out, done, ref.length - done, ref.offset + done);
      if (n <= 0) throw new QuantError("E_LOAD_EXTERNAL_RANGE", `external data file "${ref.location}" ended early`, { file: this.modelFile, target: t.name });
      done += n;
    }
    return out;
  }

  /** Copy a tensor's bytes to `write` in chunks of at most `chunk` bytes (for streaming saves). */
  stream(t: TensorProto, write: (bytes: Uint8Array) => void, chunk = 16 << 20): void {
    const ref = this.check(t);
    const { fd } = this.open(ref.location);
    const buf = new Uint8Array(Math.min(chunk, Math.max(ref.length, 1)));
    let done = 0;
    while (done < ref.length) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, ref.length - done), ref.offset + done);
      if (n <= 0) throw new QuantError("E_LOAD_EXTERNAL_RANGE", `external data file "${ref.location}" ended early`, { file: this.modelFile, target: t.name });
      write(buf.subarray(0, n));
      done += n;
    }
  }

  /** `dev:ino` of every data file opened so far (all of them once the model was checked at load). */
  ids(): string[] {
    const out: string[] = [];
    for (const { fd } of this.fds.values()) {
      const st = fstatSync(fd);
      out.push(`${st.dev}:${st.ino}`);
    }
    return out;
  }

  /** Total size of the data files opened so far. */
  totalBytes(): number {
    let n = 0;
    for (const { size } of this.fds.values()) n += size;
    return n;
  }

  /** Close every open file. */
  close(): void {
    for (const { fd } of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}

