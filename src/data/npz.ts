/**
 * NumPy `.npz` archives: a zip of `.npy` members (`np.savez` stores them, `np.savez_compressed`
 * deflates them). The central directory is read once; stored members are streamed straight from
 * the zip like a .npy; deflated members have to be inflated whole (`inflateRawSync` has no
 * incremental sync form), so each is held in memory while the archive is open — never past its declared size (the
 * central directory's, which must match its .npy header) and never over MAX_INFLATED.
 * Note: numpy writes every *local* header in zip64 form (sizes 0xFFFFFFFF + a zip64 extra); the
 * central directory carries the real sizes, so only the central directory's sizes are trusted.
 */
import { constants as zconst, crc32, inflateRawSync } from "node:zlib";
import { basename } from "node:path";
import { QuantError, reason } from "../errors/errors.ts";
import { npyArray, readNpyHeader, type NpyHeader } from "./npy.ts";
import { itemSize, product } from "./rows.ts";
import type { StoredArray } from "./rows.ts";
import { BufferSource, type ByteSource, FileSource, SliceSource } from "./source.ts";

const EOCD_SIG = 0x06054b50;
const CDH_SIG = 0x02014b50;
const LFH_SIG = 0x04034b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
/** Hard cap on one deflated member's inflated size (members are inflated whole into memory). */
export const MAX_INFLATED = 1 << 30;

/** One member of the archive, from the central directory. */
export interface NpzMember {
  /** Array name: the member's file name without `.npy`. */
  readonly name: string;
  /** 0 = stored, 8 = deflated. */
  readonly method: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly crc32: number;
  /** Offset of the member's local header. */
  readonly headerOffset: number;
}

/** An open .npz. Arrays are opened on demand; call `close()`. */
export interface NpzFile {
  readonly file: string;
  /** Array names in archive order. */
  readonly names: readonly string[];
  /** The array called `name` (E_DATA_FORMAT if absent or corrupt). */
  array(name: string): StoredArray & { header: NpyHeader };
  close(): void;
}

/** Open a .npz and read its central directory (E_DATA_READ if unreadable, E_DATA_FORMAT if not a usable zip). */
export function openNpz(path: string): NpzFile {
  const src = new FileSource(path);
  try {
    const members = readCentralDirectory(src);
    const byName = new Map(members.map((m) => [m.name, m]));
    const opened = new Map<string, StoredArray & { header: NpyHeader }>();
    return {
      file: path,
      names: members.map((m) => m.name),
      array(name) {
        let a = opened.get(name);
        if (!a) {
          const m = byName.get(name);
          if (!m) throw formatError(path, `has no array '${name}' (arrays: ${members.map((x) => x.name).join(", ") || "none"})`);
          a = npyArray(memberSource(src, m, path), name);
          opened.set(name, a);
        }
        return a;
      },
      close() {
        for (const a of opened.values()) a.source.close();
        opened.clear();
        src.close();
      },
    };
  } catch (e) {
    src.close();
    throw e;
  }
}

function formatError(file: string, msg: string): QuantError {
  return new QuantError("E_DATA_FORMAT", `${basename(file)} ${msg}`, { file });
}

/** Parse the end-of-central-directory record and the central directory entries. */
export function readCentralDirectory(src: ByteSource): NpzMember[] {
  const file = src.file;
  // The EOCD is 22 bytes plus a comment of up to 65535 bytes at the very end.
  const tailLen = Math.min(src.size, 22 + 0xffff);
  if (tailLen < 22) throw formatError(file, "is not a zip archive (too short)");
  const tail = new Uint8Array(tailLen);
  src.read(src.size - tailLen, tailLen, tail);
  const tv = new DataView(tail.buffer);
  let eocd = -1;
  for (let i = tailLen - 22; i >= 0; i--) {
    if (tv.getUint32(i, true) === EOCD_SIG && i + 22 + tv.getUint16(i + 20, true) <= tailLen) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw formatError(file, "is not a zip archive (no end of central directory)");
  const count = tv.getUint16(eocd + 10, true);
  const cdSize = tv.getUint32(eocd + 12, true);
  const cdOffset = tv.getUint32(eocd + 16, true);
  const zip64 = (eocd >= 20 && tv.getUint32(eocd - 20, true) === ZIP64_LOCATOR_SIG) || count === 0xffff || cdOffset === 0xffffffff || cdSize === 0xffffffff;
  if (zip64) throw formatError(file, "is a zip64 archive (over 4 GiB or 65535 arrays), which quant does not read: save the arrays as .npy or .safetensors");
  if (cdOffset + cdSize > src.size) throw formatError(file, `is truncated: central directory ends at ${cdOffset + cdSize}, file has ${src.size} bytes`);
  const cd = new Uint8Array(cdSize);
  src.read(cdOffset, cdSize, cd);
  const cv = new DataView(cd.buffer);
  const members: NpzMember[] = [];
  let p = 0;
  for (let k = 0; k < count; k++) {
    if (p + 46 > cdSize || cv.getUint32(p, true) !== CDH_SIG) throw formatError(file, `has a corrupt central directory (entry ${k})`);
    const flags = cv.getUint16(p + 8, true);
    const method = cv.getUint16(p + 10, true);
    const crc = cv.getUint32(p + 16, true);
    const compressedSize = cv.getUint32(p + 20, true);
    const size = cv.getUint32(p + 24, true);
    const nameLen = cv.getUint16(p + 28, true);
    const extraLen = cv.getUint16(p + 30, true);
    const commentLen = cv.getUint16(p + 32, true);
    const headerOffset = cv.getUint32(p + 42, true);
    const fname = new TextDecoder().decode(cd.subarray(p + 46, p + 46 + nameLen));
    p += 46 + nameLen + extraLen + commentLen;
    if (fname.endsWith("/")) continue; // directory entry
    if (compressedSize === 0xffffffff || size === 0xffffffff || headerOffset === 0xffffffff) {
      throw formatError(file, `member ${fname} uses zip64 sizes, which quant does not read: save the arrays as .npy or .safetensors`);
    }
    if (flags & 1) throw formatError(file, `member ${fname} is encrypted`);
    if (method !== 0 && method !== 8) throw formatError(file, `member ${fname} uses compression method ${method} (only stored and deflate are supported)`);
    members.push({ name: fname.replace(/\.npy$/, ""), method, compressedSize, size, crc32: crc, headerOffset });
  }
  return members;
}

/** The bytes of one member's .npy: a window of the zip when stored, an inflated buffer when deflated. */
function memberSource(src: ByteSource, m: NpzMember, file: string): ByteSource {
  const label = `${file}:${m.name}.npy`;
  const lfh = new Uint8Array(30);
  if (m.headerOffset + 30 > src.size) throw formatError(file, `is truncated (member ${m.name}.npy)`);
  src.read(m.headerOffset, 30, lfh);
  const lv = new DataView(lfh.buffer);
  if (lv.getUint32(0, true) !== LFH_SIG) throw formatError(file, `has a corrupt local header for ${m.name}.npy`);
  // Name and extra lengths come from the local header: they may differ from the central directory's.
  const dataStart = m.headerOffset + 30 + lv.getUint16(26, true) + lv.getUint16(28, true);
  if (dataStart + m.compressedSize > src.size) throw formatError(file, `is truncated: member ${m.name}.npy ends at ${dataStart + m.compressedSize}, file has ${src.size} bytes`);
  if (m.method === 0) {
    if (m.size !== m.compressedSize) throw formatError(file, `member ${m.name}.npy is stored with mismatched sizes`);
    return new SliceSource(src, dataStart, m.size, label);
  }
  // The local header repeats the sizes unless they are deferred (flag bit 3) or in zip64 form (numpy): they must agree.
  const localFlags = lv.getUint16(6, true);
  const localPacked = lv.getUint32(18, true);
  const localSize = lv.getUint32(22, true);
  if (!(localFlags & 8) && localSize !== 0xffffffff && localPacked !== 0xffffffff && (localSize !== m.size || localPacked !== m.compressedSize)) {
    throw formatError(file, `member ${m.name}.npy has a local header (${localSize} bytes) that disagrees with the central directory (${m.size} bytes)`);
  }
  return inflateMember(src, m, dataStart, file, label);
}

/**
 * Inflate a deflated member into memory, never past what the archive declares: the central directory's size, which
 * must be exactly what the member's own .npy header needs (shape × dtype), and at most {@link MAX_INFLATED}. The
 * header is read first from a small prefix, so a lying directory or a zip bomb costs a few KiB, not gigabytes.
 */
function inflateMember(src: ByteSource, m: NpzMember, dataStart: number, file: string, label: string): ByteSource {
  const corrupt = (why: string) => formatError(file, `member ${m.name}.npy is corrupt (${why})`);
  if (m.size > MAX_INFLATED) {
    throw formatError(file, `member ${m.name}.npy inflates to ${m.size} bytes, over the ${MAX_INFLATED >> 20} MiB limit for compressed members (they are held in memory): save with np.savez (stored members stream) or as .npy`);
  }
  const packed = new Uint8Array(m.compressedSize);
  src.read(dataStart, m.compressedSize, packed);
  // 1. The .npy header from a growing prefix of the stream (sync flush: a cut stream yields what it has). Deflate
  // emits at most ~1 KiB per input byte, so doubling the prefix keeps each attempt far below the 64 MiB bound.
  let head = new Uint8Array(0);
  for (let n = 64; ; n *= 2) {
    try {
      head = inflateRawSync(packed.subarray(0, Math.min(n, packed.length)), { finishFlush: zconst.Z_SYNC_FLUSH, maxOutputLength: 1 << 26 });
    } catch (e) {
      throw corrupt(reason(e));
    }
    if (n >= packed.length || head.length >= Math.min(m.size, npyHeaderEnd(head))) break;
  }
  let header: NpyHeader;
  try {
    // The prefix answers for any size: the exact-size check below names both sizes.
    header = readNpyHeader(new PrefixSource(label, head, Number.MAX_SAFE_INTEGER), ".npy header");
  } catch (e) {
    throw corrupt(reason(e));
  }
  const need = header.dataOffset + product(header.shape) * itemSize(header.type);
  if (need !== m.size) throw corrupt(`its .npy header needs ${need} bytes for shape (${header.shape.join(", ")}) ${header.descr}, the central directory says ${m.size}`);
  // 2. The whole member, stopped as soon as it would pass the declared size.
  let bytes: Uint8Array;
  try {
    bytes = inflateRawSync(packed, { maxOutputLength: Math.max(1, m.size) });
  } catch (e) {
    if ((e as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") throw formatError(file, `member ${m.name}.npy inflates past the ${m.size} bytes the archive declares (corrupt or a zip bomb)`);
    throw corrupt(reason(e));
  }
  if (bytes.length !== m.size || (crc32(bytes) >>> 0) !== m.crc32) throw corrupt("size or CRC mismatch");
  return new BufferSource(label, bytes);
}

/** Bytes up to the end of a .npy header, from its first bytes (12 while the length field is not in yet). */
function npyHeaderEnd(head: Uint8Array): number {
  if (head.length < 12) return 12;
  const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
  return head[6] === 1 ? 10 + v.getUint16(8, true) : 12 + v.getUint32(8, true);
}

/** The first bytes of an inflating member, answering for its declared size (enough to parse the .npy header). */
class PrefixSource implements ByteSource {
  constructor(
    readonly file: string,
    private readonly head: Uint8Array,
    readonly size: number,
  ) {}
  read(position: number, length: number, into: Uint8Array, at = 0): void {
    if (position < 0 || position + length > this.head.length) throw formatError(this.file, `has a .npy header longer than the first ${this.head.length} inflated bytes`);
    into.set(this.head.subarray(position, position + length), at);
  }
  close(): void {}
}
