/**
 * Encode a ModelProto as a list of chunks whose concatenation is exactly what protobufjs would produce, but with large
 * byte fields (tensor raw_data) passed through as views instead of being copied into one buffer. protobufjs's writer
 * grows one buffer and shifts it to insert each nested message's length, so a 46 MB model costs several copies of
 * its weights; here only the small parts are encoded and the weights are written straight from where they live.
 *
 * How: a message that holds no large bytes field anywhere below it is encoded whole by protobufjs. Otherwise its
 * fields are visited in field-number order (protobufjs' order): runs of ordinary fields are encoded together by
 * protobufjs from a shallow partial copy; large bytes fields and messages containing them get their tag and length
 * written here and their content as chunks.
 */
import type protobuf from "protobufjs";
import { messageType } from "./proto.ts";
import type { ModelProto } from "./types.ts";

/** Bytes fields at least this long are passed through as views. */
export const VIEW_THRESHOLD = 1 << 16;

interface TypeInfo {
  /** Fields sorted by number, as protobufjs encodes them. */
  fields: protobuf.Field[];
  /** Fields holding messages (single or repeated). */
  messages: protobuf.Field[];
  /** Single `bytes` fields. */
  bytes: protobuf.Field[];
}

const infos = new Map<protobuf.Type, TypeInfo>();
function info(type: protobuf.Type): TypeInfo {
  let i = infos.get(type);
  if (!i) {
    const fields = type.fieldsArray.map((f) => f.resolve()).sort((a, b) => a.id - b.id);
    i = {
      fields,
      messages: fields.filter((f) => f.resolvedType && "fieldsArray" in f.resolvedType),
      bytes: fields.filter((f) => f.type === "bytes" && !f.repeated),
    };
    infos.set(type, i);
  }
  return i;
}

type Msg = Record<string, unknown>;

/** Present as protobufjs' encoder sees it: repeated non-empty, or an own non-null property. */
function present(m: Msg, f: protobuf.Field): boolean {
  const v = m[f.name];
  if (v === null || v === undefined) return false;
  return f.repeated ? (v as unknown[]).length > 0 : Object.prototype.hasOwnProperty.call(m, f.name);
}

function varint(n: number, out: number[]): void {
  // Lengths here are < 2^32 (protobuf's limit is 2 GiB), but use arithmetic rather than `>>>` to be safe above 2^31.
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
}

/** Tag and length prefix of a length-delimited field. */
function header(fieldId: number, length: number): Uint8Array {
  const b: number[] = [];
  varint(fieldId * 8 + 2, b);
  varint(length, b);
  return Uint8Array.from(b);
}

class ChunkEncoder {
  readonly chunks: Uint8Array[] = [];
  private big = new WeakMap<object, boolean>();
  constructor(private threshold: number) {}

  /** True when the message has a bytes field over the threshold somewhere below it. */
  hasBig(type: protobuf.Type, m: Msg, depth = 0): boolean {
    const known = this.big.get(m);
    if (known !== undefined) return known;
    let found = false;
    const ti = info(type);
    for (const f of ti.bytes) {
      const v = m[f.name] as Uint8Array | undefined;
      if (present(m, f) && v && v.byteLength >= this.threshold) found = true;
    }
    // Visit every child (no early exit) so each message's answer is memoized for encode().
    // Depth guard: protobufjs refuses to encode past its recursion limit anyway.
    if (depth < 200) {
      for (const f of ti.messages) {
        if (!present(m, f)) continue;
        const sub = f.resolvedType as protobuf.Type;
        const v = m[f.name];
        for (const e of f.repeated ? (v as Msg[]) : [v as Msg]) if (e && this.hasBig(sub, e, depth + 1)) found = true;
      }
    }
    this.big.set(m, found);
    return found;
  }

  /** Append the encoding of `m` (without its own tag/length) and return its byte length. */
  encode(type: protobuf.Type, m: Msg): number {
    if (!this.hasBig(type, m)) {
      const b = type.encode(m).finish();
      if (b.byteLength) this.chunks.push(b);
      return b.byteLength;
    }
    let total = 0;
    let run: Msg | undefined;
    const flush = () => {
      if (!run) return;
      const b = type.encode(run).finish();
      if (b.byteLength) this.chunks.push(b);
      total += b.byteLength;
      run = undefined;
    };
    for (const f of info(type).fields) {
      if (!present(m, f)) continue;
      const v = m[f.name];
      if (f.type === "bytes" && !f.repeated && (v as Uint8Array).byteLength >= this.threshold) {
        flush();
        const h = header(f.id, (v as Uint8Array).byteLength);
        this.chunks.push(h, v as Uint8Array);
        total += h.byteLength + (v as Uint8Array).byteLength;
      } else if (f.resolvedType && "fieldsArray" in f.resolvedType && (f.repeated ? (v as Msg[]).some((e) => e && this.big.get(e)) : this.big.get(v as Msg) === true)) {
        flush();
        const sub = f.resolvedType as protobuf.Type;
        for (const e of f.repeated ? (v as Msg[]) : [v as Msg]) total += this.field(f.id, sub, e);
      } else (run ??= {})[f.name] = v;
    }
    flush();
    return total;
  }

  /** One length-delimited message field: tag, length, content. */
  private field(id: number, type: protobuf.Type, m: Msg): number {
    const at = this.chunks.length;
    this.chunks.push(new Uint8Array(0)); // placeholder for the header, known once the content is encoded
    const length = this.encode(type, m);
    const h = header(id, length);
    this.chunks[at] = h;
    return h.byteLength + length;
  }
}

/**
 * Encode a model as chunks (concatenated, they equal `encodeModelProto(model)` byte for byte). Chunks of bytes fields
 * of at least `threshold` bytes are the model's own buffers (views), so do not mutate them while writing.
 */
export function encodeModelChunks(model: ModelProto, threshold = VIEW_THRESHOLD): { chunks: Uint8Array[]; length: number } {
  const enc = new ChunkEncoder(threshold);
  const length = enc.encode(messageType("ModelProto"), model as unknown as Msg);
  return { chunks: enc.chunks.filter((c) => c.byteLength > 0), length };
}

/** Concatenate chunks into one buffer (one copy). */
export function concatChunks(chunks: readonly Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/**
 * Write chunks through a synchronous `write`, merging runs of small chunks so the number of writes stays low.
 * The merge buffer is reused after each `write` returns.
 */
export function writeChunks(chunks: readonly Uint8Array[], write: (bytes: Uint8Array) => void, coalesce = 1 << 16): void {
  const buf = new Uint8Array(coalesce);
  let used = 0;
  for (const c of chunks) {
    if (c.byteLength >= coalesce) {
      if (used) write(buf.subarray(0, used));
      used = 0;
      write(c);
    } else {
      if (used + c.byteLength > coalesce) {
        write(buf.subarray(0, used));
        used = 0;
      }
      buf.set(c, used);
      used += c.byteLength;
    }
  }
  if (used) write(buf.subarray(0, used));
}
