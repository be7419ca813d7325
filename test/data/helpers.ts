/** Test helpers for src/data: temp dirs, a hand-written zip builder, error-code assertions. */
import { afterAll } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32, deflateRawSync } from "node:zlib";
import { isQuantError } from "../../src/errors/errors.ts";

/** A temp dir removed after the file's tests. */
export function tempDir(prefix = "quant-data-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The QuantError code `fn` throws (fails the test if it throws something else or nothing). */
export function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (isQuantError(e)) return e.code;
    throw e;
  }
  throw new Error("expected a QuantError, nothing was thrown");
}

/** Same for async functions. */
export async function codeOfAsync(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
  } catch (e) {
    if (isQuantError(e)) return e.code;
    throw e;
  }
  throw new Error("expected a QuantError, nothing was thrown");
}

/**
 * Build a zip archive by hand (independent of src/data/npz.ts): local headers, data, central directory, EOCD.
 * `zip64Local` mimics numpy, which writes local headers with 0xFFFFFFFF sizes and a zip64 extra field.
 */
export function buildZip(
  entries: { name: string; data: Uint8Array; deflate?: boolean; packed?: Uint8Array; size?: number }[],
  opts: { zip64Local?: boolean; comment?: string } = {},
): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = new TextEncoder().encode(e.name);
    // `packed`: a deflate stream given as is; `size`: the uncompressed size to declare (a lie, for hostile archives).
    const body = e.packed ?? (e.deflate ? new Uint8Array(deflateRawSync(e.data)) : e.data);
    const size = e.size ?? e.data.length;
    const crc = crc32(e.data) >>> 0;
    const extra = opts.zip64Local ? new Uint8Array(20) : new Uint8Array(0);
    if (opts.zip64Local) {
      const xv = new DataView(extra.buffer);
      xv.setUint16(0, 1, true);
      xv.setUint16(2, 16, true);
      xv.setBigUint64(4, BigInt(size), true);
      xv.setBigUint64(12, BigInt(body.length), true);
    }
    const lh = new Uint8Array(30);
    const lv = new DataView(lh.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 45, true);
    lv.setUint16(8, e.deflate || e.packed ? 8 : 0, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, opts.zip64Local ? 0xffffffff : body.length, true);
    lv.setUint32(22, opts.zip64Local ? 0xffffffff : size, true);
    lv.setUint16(26, name.length, true);
    lv.setUint16(28, extra.length, true);
    parts.push(lh, name, extra, body);
    const ch = new Uint8Array(46);
    const cv = new DataView(ch.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 45, true);
    cv.setUint16(6, 20, true);
    cv.setUint16(10, e.deflate || e.packed ? 8 : 0, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, body.length, true);
    cv.setUint32(24, size, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(42, offset, true);
    central.push(ch, name);
    offset += 30 + name.length + extra.length + body.length;
  }
  const cdSize = central.reduce((s, c) => s + c.length, 0);
  const comment = new TextEncoder().encode(opts.comment ?? "");
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, entries.length, true);
  ev.setUint16(10, entries.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  ev.setUint16(20, comment.length, true);
  return Buffer.concat([...parts, ...central, eocd, comment]);
}

/** Concatenate byte arrays. */
export function concat(chunks: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(chunks));
}
