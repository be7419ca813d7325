/**
 * Byte-level helpers shared by the loader fuzz test (test/onnx/fuzz.test.ts) and the long fuzz mode: the positions of
 * every protobuf length prefix in a file, and fixed-width varint encoding to overwrite them in place.
 */

/** Positions of every length prefix in the file (recursing into fields that parse as messages). */
export function lengthPrefixes(b: Uint8Array): { at: number; width: number }[] {
  const out: { at: number; width: number }[] = [];
  const walk = (start: number, end: number, depth: number): boolean => {
    let pos = start;
    const varint = () => {
      let v = 0;
      let mul = 1;
      for (let i = 0; i < 10 && pos < end; i++) {
        const x = b[pos++]!;
        v += (x & 0x7f) * mul;
        mul *= 128;
        if (x < 0x80) return v;
      }
      return -1;
    };
    const found: { at: number; width: number; from: number; to: number }[] = [];
    while (pos < end) {
      const tag = varint();
      if (tag < 8) return false;
      const wt = tag % 8;
      if (wt === 0) {
        if (varint() < 0) return false;
      } else if (wt === 1) pos += 8;
      else if (wt === 5) pos += 4;
      else if (wt === 2) {
        const at = pos;
        const len = varint();
        if (len < 0 || pos + len > end) return false;
        found.push({ at, width: pos - at, from: pos, to: pos + len });
        pos += len;
      } else return false;
    }
    if (pos !== end) return false;
    for (const f of found) {
      out.push({ at: f.at, width: f.width });
      if (depth < 12 && f.to - f.from < 1 << 20) walk(f.from, f.to, depth + 1);
    }
    return true;
  };
  walk(0, b.byteLength, 0);
  return out;
}

/** Encode `v` as a varint of exactly `width` bytes (padded with continuation bytes) when it fits, else minimal. */
export function varintBytes(v: number, width = 0): number[] {
  const out: number[] = [];
  do {
    out.push(v % 128);
    v = Math.floor(v / 128);
  } while (v > 0);
  while (out.length < width) out.push(0);
  for (let i = 0; i < out.length - 1; i++) out[i]! |= 0x80;
  return out;
}
