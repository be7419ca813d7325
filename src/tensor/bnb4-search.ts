/**
 * MSE-searched block scales for MatMulBnb4. bitsandbytes (and ONNX Runtime's bnb4 quantizer) scale each block by its
 * absmax, so the one largest value decides the grid of all 64: with NF4's coarse outer codes (0.72, 1.0) most values
 * land on the 7 codes near zero. A smaller stored "absmax" clamps that one value to ±1·scale and spends the codes on
 * the rest; the kernel only reads code · absmax, so any positive scale is valid storage. For each block this tries
 * scales absmax · f for f on a grid from 1 down to `minRatio` and keeps the one with the least squared error.
 */
import { BNB4_CODEBOOK, fp4Code, nf4Code, type Bnb4Type, type Bnb4Weight } from "./bnb4.ts";

/** Options of {@link quantizeBnb4Searched}. */
export interface Bnb4SearchOptions {
  /** Smallest scale tried, as a fraction of the block's absmax (default 0.7). */
  minRatio?: number;
  /** Scales tried between 1 and minRatio (default 16). */
  steps?: number;
}

/**
 * Quantize W [K, N] (row-major) into MatMulBnb4 storage like {@link quantizeBnb4}, each block's scale chosen by
 * reconstruction MSE (ratio 1 is always a candidate, so no block is worse than absmax scaling).
 */
export function quantizeBnb4Searched(w: Float32Array, K: number, N: number, blockSize: number, type: Bnb4Type, options: Bnb4SearchOptions = {}): Bnb4Weight {
  const minRatio = options.minRatio ?? 0.7;
  const steps = Math.max(1, options.steps ?? 16);
  const numel = K * N;
  const blocks = Math.ceil(numel / blockSize);
  const b = new Uint8Array((numel + 1) >> 1);
  const absmax = new Float32Array(blocks);
  const code = type === "nf4" ? nf4Code : fp4Code;
  const map = BNB4_CODEBOOK[type];
  const vals = new Float32Array(blockSize);
  for (let blk = 0; blk < blocks; blk++) {
    const start = blk * blockSize;
    const end = Math.min(numel, start + blockSize);
    const n = end - start;
    let m = 0;
    // Element i of W^T [N, K] is W[i % K, floor(i / K)].
    for (let i = start; i < end; i++) {
      const v = w[(i % K) * N + Math.floor(i / K)]!;
      vals[i - start] = v;
      m = Math.max(m, Math.abs(v));
    }
    let best = m;
    if (m > 0) {
      let bestErr = Infinity;
      for (let s = 0; s <= steps; s++) {
        const scale = Math.fround(m * (1 - ((1 - minRatio) * s) / steps));
        const r = Math.fround(1 / scale);
        let err = 0;
        for (let j = 0; j < n; j++) {
          const d = vals[j]! - Math.fround(map[code(Math.fround(vals[j]! * r))]! * scale);
          err += d * d;
        }
        if (err < bestErr) (bestErr = err), (best = scale);
      }
    }
    absmax[blk] = best;
    const r = best ? Math.fround(1 / best) : 0;
    for (let j = 0; j < n; j += 2) {
      const c0 = code(Math.fround(vals[j]! * r));
      const c1 = code(j + 1 < n ? Math.fround(vals[j + 1]! * r) : 0);
      b[(start + j) >> 1] = (c0 << 4) | c1;
    }
  }
  return { b, absmax };
}
