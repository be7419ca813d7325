/**
 * Byte sources for calibration data: a file read at offsets with `readSync` (never read whole),
 * or an in-memory buffer (an inflated .npz member). Readers validate sizes when they open a file,
 * so a short read here means the file changed or the disk failed.
 */
import { closeSync, readSync } from "node:fs";
import { openRegularFile } from "../io/files.ts";
import { basename } from "node:path";
import { QuantError, reason } from "../errors/errors.ts";

/** Random-access bytes: `read` fills `into[at, at+length)` from `position` or throws a `QuantError`. */
export interface ByteSource {
  /** File the bytes come from (for error messages). */
  readonly file: string;
  /** Total size in bytes. */
  readonly size: number;
  /** Copy `length` bytes starting at `position` into `into` at `at`. */
  read(position: number, length: number, into: Uint8Array, at?: number): void;
  /** Release the file descriptor (idempotent). */
  close(): void;
}

/** A file opened once and read at offsets; only the requested bytes are ever resident. */
export class FileSource implements ByteSource {
  readonly file: string;
  readonly size: number;
  /** Bytes read so far (lets tests and benches check that reads stay within the requested rows). */
  bytesRead = 0;
  private fd: number | undefined;

  constructor(path: string) {
    this.file = path;
    // Type check before open (a FIFO would block forever), non-blocking open, type check again on the descriptor.
    const { fd, size } = openRegularFile(path, "E_DATA_READ");
    this.fd = fd;
    this.size = size;
  }

  read(position: number, length: number, into: Uint8Array, at = 0): void {
    if (this.fd === undefined) throw new QuantError("E_DATA_READ", `${basename(this.file)} is closed`, { file: this.file });
    if (position < 0 || position + length > this.size) throw truncated(this.file, position + length, this.size);
    let done = 0;
    while (done < length) {
      let n: number;
      try {
        n = readSync(this.fd, into, at + done, length - done, position + done);
      } catch (e) {
        throw new QuantError("E_DATA_READ", `cannot read ${basename(this.file)}: ${reason(e)}`, { file: this.file, cause: e });
      }
      // The size was checked at open: a zero read means the file shrank under us.
      if (n === 0) throw truncated(this.file, position + length, position + done);
      done += n;
    }
    this.bytesRead += length;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Bytes already in memory (e.g. a deflated .npz member after inflating). */
export class BufferSource implements ByteSource {
  readonly size: number;
  constructor(
    readonly file: string,
    private bytes: Uint8Array,
  ) {
    this.size = bytes.length;
  }

  read(position: number, length: number, into: Uint8Array, at = 0): void {
    if (position < 0 || position + length > this.size) throw truncated(this.file, position + length, this.size);
    into.set(this.bytes.subarray(position, position + length), at);
  }

  close(): void {
    this.bytes = new Uint8Array(0);
  }
}

/** A source that is a window `[offset, offset+size)` of another (a stored .npz member). */
export class SliceSource implements ByteSource {
  constructor(
    private readonly parent: ByteSource,
    private readonly offset: number,
    readonly size: number,
    readonly file: string = parent.file,
  ) {}

  read(position: number, length: number, into: Uint8Array, at = 0): void {
    if (position < 0 || position + length > this.size) throw truncated(this.file, position + length, this.size);
    this.parent.read(this.offset + position, length, into, at);
  }

  close(): void {
    // The parent is owned by whoever opened it.
  }
}

/** The E_DATA_FORMAT error for data that ends before `needed` bytes. */
export function truncated(file: string, needed: number, have: number): QuantError {
  return new QuantError("E_DATA_FORMAT", `${basename(file)} is truncated: needs ${needed} bytes, has ${have}`, { file });
}

/** A growable scratch buffer, reused across batches so steady-state reads allocate nothing. */
export class Scratch {
  private buf = new Uint8Array(0);
  /** A view of at least `n` bytes, 8-byte aligned (own ArrayBuffer, offset 0). Contents are undefined. */
  get(n: number): Uint8Array {
    if (this.buf.length < n) this.buf = new Uint8Array(Math.max(n, Math.min(this.buf.length * 2, n + (1 << 20))));
    return this.buf.subarray(0, n);
  }
}
