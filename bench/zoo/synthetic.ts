/**
 * Synthetic natural-image-like inputs for the zoo (no image data set is fetched): 1/f ("pink") noise, the power
 * spectrum natural images follow, built as a sum of octaves of bilinearly upsampled random grids whose amplitude
 * doubles with the cell size (amplitude ∝ 1/frequency). Channels share the luminance field and add a weaker field of
 * their own (colours of natural images are strongly correlated). Pixels land in [0, 255] and are then normalized the
 * way each model's own package does it ((pixel − mean) / std per channel).
 */

import { rng } from "../../test/helpers/random.ts";

/** One H×W field of 1/f noise, zero mean and unit standard deviation. */
export function pinkNoise(h: number, w: number, seed: number): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(h * w);
  const size = Math.max(h, w);
  for (let cell = 2; cell <= size; cell *= 2) {
    const gh = Math.ceil(h / cell) + 1;
    const gw = Math.ceil(w / cell) + 1;
    const grid = new Float32Array(gh * gw);
    for (let i = 0; i < grid.length; i++) grid[i] = r() * 2 - 1;
    for (let y = 0; y < h; y++) {
      const fy = y / cell;
      const y0 = Math.floor(fy);
      const ty = fy - y0;
      for (let x = 0; x < w; x++) {
        const fx = x / cell;
        const x0 = Math.floor(fx);
        const tx = fx - x0;
        const a = grid[y0 * gw + x0]! * (1 - tx) + grid[y0 * gw + x0 + 1]! * tx;
        const b = grid[(y0 + 1) * gw + x0]! * (1 - tx) + grid[(y0 + 1) * gw + x0 + 1]! * tx;
        out[y * w + x]! += cell * (a * (1 - ty) + b * ty);
      }
    }
  }
  let mean = 0;
  for (const v of out) mean += v;
  mean /= out.length;
  let sq = 0;
  for (const v of out) sq += (v - mean) ** 2;
  const std = Math.sqrt(sq / out.length) || 1;
  for (let i = 0; i < out.length; i++) out[i] = (out[i]! - mean) / std;
  return out;
}

/** How a model's package turns 0–255 pixels into its input: (pixel − mean[c]) / std[c]. */
export interface Normalization {
  mean: readonly number[];
  std: readonly number[];
}

/**
 * `count` images [count, C, H, W], normalized; pixels are 128 + 50 · (luminance + 0.35 · per-channel field), clipped
 * to [0, 255].
 */
export function naturalImages(count: number, c: number, h: number, w: number, norm: Normalization, seed: number): Float32Array {
  const plane = h * w;
  const out = new Float32Array(count * c * plane);
  for (let n = 0; n < count; n++) {
    const lum = pinkNoise(h, w, seed * 7919 + n * 31);
    for (let ch = 0; ch < c; ch++) {
      const own = pinkNoise(h, w, seed * 7919 + n * 31 + ch + 1);
      const mean = norm.mean[ch % norm.mean.length]!;
      const std = norm.std[ch % norm.std.length]!;
      const base = (n * c + ch) * plane;
      for (let i = 0; i < plane; i++) {
        const px = Math.min(255, Math.max(0, 128 + 50 * (lum[i]! + 0.35 * own[i]!)));
        out[base + i] = (px - mean) / std;
      }
    }
  }
  return out;
}
