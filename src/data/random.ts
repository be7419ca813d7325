/**
 * Seeded random calibration data, for when the user gives none (speed benchmarks, smoke runs).
 * xoshiro128** (small, fast, 32-bit — no BigInt) seeded through splitmix32; N(0,1) by Box–Muller.
 * Each (seed, input, sample) gets its own stream, so a sample's values do not depend on how the
 * samples are batched — the same data reaches the calibrators whatever `--batch-size`.
 */

/** splitmix32 step: a good 32-bit mixer to expand seeds into xoshiro state. */
function splitmix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  let z = x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** FNV-1a hash of a string (input names → stream ids independent of input order). */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** xoshiro128** generator (Blackman & Vigna). */
export class Xoshiro128 {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** Seed from up to three 32-bit words (e.g. seed, input hash, sample index). */
  constructor(...words: number[]) {
    let x = 0x2545f491;
    for (const w of words) x = splitmix32((x ^ w) >>> 0);
    this.a = x = splitmix32(x);
    this.b = x = splitmix32(x);
    this.c = x = splitmix32(x);
    this.d = x = splitmix32(x);
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1; // the all-zero state is a fixed point
  }

  /** A generator with the given raw state (for reference vectors; not all zero). */
  static fromState(a: number, b: number, c: number, d: number): Xoshiro128 {
    const g = new Xoshiro128();
    g.a = a | 0;
    g.b = b | 0;
    g.c = c | 0;
    g.d = d | 0;
    return g;
  }

  /** Next 32 random bits as an unsigned integer. */
  nextU32(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return r;
  }

  /** Uniform in [0, 1) with 24 bits (every value exactly representable in float32). */
  nextFloat(): number {
    return (this.nextU32() >>> 8) * 5.960464477539063e-8; // 2^-24
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** Fill `out` with N(mean, std²) samples (Box–Muller, both outputs of each pair used). */
export function fillNormal(out: Float32Array | Float64Array, rng: Xoshiro128, mean = 0, std = 1): void {
  const n = out.length;
  for (let i = 0; i < n; i += 2) {
    // 1 - u keeps the log argument in (0, 1]: u is in [0, 1).
    const r = Math.sqrt(-2 * Math.log(1 - rng.nextFloat()));
    const th = 2 * Math.PI * rng.nextFloat();
    out[i] = mean + std * r * Math.cos(th);
    if (i + 1 < n) out[i + 1] = mean + std * r * Math.sin(th);
  }
}

/** Fill `out` with uniform floats in [lo, hi). */
export function fillUniform(out: Float32Array | Float64Array, rng: Xoshiro128, lo = 0, hi = 1): void {
  const w = hi - lo;
  for (let i = 0; i < out.length; i++) out[i] = lo + w * rng.nextFloat();
}

/** Fill a numeric integer array with uniform integers in [lo, hi) (hi - lo ≤ 2^32; modulo bias is irrelevant for calibration). */
export function fillUniformInt(out: Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array, rng: Xoshiro128, lo: number, hi: number): void {
  const w = Math.max(1, hi - lo);
  for (let i = 0; i < out.length; i++) out[i] = lo + (rng.nextU32() % w);
}

/** The generator for one sample of one input: depends only on (seed, input name, sample index). */
export function sampleRng(seed: number, input: string, sample: number): Xoshiro128 {
  return new Xoshiro128(seed >>> 0, hashString(input), sample >>> 0);
}
