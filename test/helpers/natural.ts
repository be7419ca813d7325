/**
 * Synthetic natural-image-like inputs: 1/f ("pink") noise, whose power spectrum falls like natural photographs'
 * (amplitude ∝ 1/f). Built as a sum of octaves of white noise, each bilinearly upsampled from a grid 2^k times
 * coarser with amplitude 2^k — equal energy per octave, which is the 1/f² power law of natural images. Channels share
 * a luminance field plus a weaker per-channel field (colour is correlated in photographs). Not photographs, but
 * activation ranges come out far closer to real images' than from N(0,1) pixels, which have a flat spectrum.
 */
import { rng } from "./random.ts";

/** One [channels, h, w] image in [0, 1], deterministic in `seed`. */
export function pinkNoiseImage(channels: number, h: number, w: number, seed = 1): Float32Array {
  const out = new Float32Array(channels * h * w);
  const luminance = pinkField(h, w, seed * 7919 + 1);
  for (let c = 0; c < channels; c++) {
    const own = pinkField(h, w, seed * 7919 + 2 + c);
    const plane = out.subarray(c * h * w, (c + 1) * h * w);
    for (let i = 0; i < plane.length; i++) plane[i] = 0.8 * luminance[i]! + 0.2 * own[i]!;
  }
  // Stretch to [0, 1] as an 8-bit photograph would be.
  let lo = Infinity, hi = -Infinity;
  for (const v of out) { if (v < lo) lo = v; if (v > hi) hi = v; }
  const s = hi > lo ? 1 / (hi - lo) : 0;
  for (let i = 0; i < out.length; i++) out[i] = (out[i]! - lo) * s;
  return out;
}

/** A batch [n, channels, h, w] of pink-noise images. */
export function pinkNoiseBatch(n: number, channels: number, h: number, w: number, seed = 1): Float32Array {
  const out = new Float32Array(n * channels * h * w);
  for (let i = 0; i < n; i++) out.set(pinkNoiseImage(channels, h, w, seed + i), i * channels * h * w);
  return out;
}

/** One h×w field of 1/f noise, zero mean. */
function pinkField(h: number, w: number, seed: number): Float32Array {
  const r = rng(seed);
  const field = new Float32Array(h * w);
  for (let k = 0, step = 1; step <= Math.max(h, w); k++, step *= 2) {
    const gh = Math.ceil(h / step) + 1, gw = Math.ceil(w / step) + 1;
    const grid = new Float32Array(gh * gw);
    for (let i = 0; i < grid.length; i++) grid[i] = r() * 2 - 1;
    const amp = step; // amplitude ∝ wavelength: 1/f
    for (let y = 0; y < h; y++) {
      const fy = y / step, y0 = Math.floor(fy), ty = fy - y0;
      for (let x = 0; x < w; x++) {
        const fx = x / step, x0 = Math.floor(fx), tx = fx - x0;
        const a = grid[y0 * gw + x0]!, b = grid[y0 * gw + x0 + 1]!, c = grid[(y0 + 1) * gw + x0]!, d = grid[(y0 + 1) * gw + x0 + 1]!;
        field[y * w + x]! += amp * ((a * (1 - tx) + b * tx) * (1 - ty) + (c * (1 - tx) + d * tx) * ty);
      }
    }
  }
  return field;
}
