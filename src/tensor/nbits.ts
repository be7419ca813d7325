/**
 * ONNX Runtime's MatMulNBits (com.microsoft) storage of a block-quantized weight W [K, N] (blocks along K):
 * - B: uint8 [N, n_blocks, blob_size], blob_size = block_size · bits / 8; column n's codes in K order, 4-bit codes
 *   two per byte, the even k in the low nibble. Codes are unsigned: a signed value q is stored as q + 2^(bits−1).
 * - scales: [N · n_blocks], column-major over the blocks (scale of column n, block b at n · n_blocks + b).
 * - zero_points (optional, default 2^(bits−1)): uint8, per column ceil(n_blocks · bits / 8) bytes, 4-bit zero points
 *   two per byte, even block in the low nibble; 8-bit one per byte.
 * The last block of a K that is not a multiple of block_size is padded with the block's zero point (dequantizes to 0).
 */

/** A weight in MatMulNBits form. */
export interface NBitsWeight {
  b: Uint8Array;
  scales: Float32Array;
  /** Packed zero points, or undefined when every one is the default 2^(bits−1) (symmetric). */
  zeroPoints?: Uint8Array;
  blocks: number;
  blobSize: number;
}

/**
 * Pack a quantized weight: `values` [K, N] row-major (signed or unsigned codes, one per element), `zeroPoint` and
 * `scale` [n_blocks, N] row-major (DequantizeLinear's block layout along axis 0).
 */
export function packMatMulNBits(
  values: ArrayLike<number>, zeroPoint: ArrayLike<number>, scale: ArrayLike<number>,
  K: number, N: number, bits: 4 | 8, blockSize: number, signed: boolean,
): NBitsWeight {
  const blocks = Math.ceil(K / blockSize);
  const blobSize = (blockSize * bits) / 8;
  const offset = signed ? 1 << (bits - 1) : 0;
  const b = new Uint8Array(N * blocks * blobSize);
  const scales = new Float32Array(N * blocks);
  const zps = new Uint8Array(N * blocks);
  let symmetric = true;
  for (let blk = 0; blk < blocks; blk++)
    for (let n = 0; n < N; n++) {
      const z = zeroPoint[blk * N + n]! + offset;
      zps[n * blocks + blk] = z;
      if (z !== 1 << (bits - 1)) symmetric = false;
      scales[n * blocks + blk] = scale[blk * N + n]!;
    }
  for (let n = 0; n < N; n++) {
    for (let blk = 0; blk < blocks; blk++) {
      const base = (n * blocks + blk) * blobSize;
      const z = zps[n * blocks + blk]!;
      const k0 = blk * blockSize;
      if (bits === 8) {
        for (let j = 0; j < blockSize; j++) {
          const k = k0 + j;
          b[base + j] = k < K ? values[k * N + n]! + offset : z;
        }
      } else {
        for (let j = 0; j < blockSize; j += 2) {
          const k = k0 + j;
          const lo = k < K ? values[k * N + n]! + offset : z;
          const hi = k + 1 < K ? values[(k + 1) * N + n]! + offset : z;
          b[base + (j >> 1)] = (lo & 15) | ((hi & 15) << 4);
        }
      }
    }
  }
  let zeroPoints: Uint8Array | undefined;
  if (!symmetric) {
    if (bits === 8) zeroPoints = zps;
    else {
      const row = Math.ceil(blocks / 2);
      zeroPoints = new Uint8Array(N * row);
      for (let n = 0; n < N; n++)
        for (let blk = 0; blk < blocks; blk++) zeroPoints[n * row + (blk >> 1)]! |= (zps[n * blocks + blk]! & 15) << ((blk & 1) * 4);
    }
  }
  return { b, scales, zeroPoints, blocks, blobSize };
}

/** Dequantize a MatMulNBits weight back to W [K, N] row-major (float32, as ONNX Runtime computes (code − zp) · scale). */
export function dequantizeMatMulNBits(w: NBitsWeight, K: number, N: number, bits: 4 | 8, blockSize: number): Float32Array {
  const out = new Float32Array(K * N);
  const row = bits === 8 ? w.blocks : Math.ceil(w.blocks / 2);
  for (let n = 0; n < N; n++)
    for (let blk = 0; blk < w.blocks; blk++) {
      const s = w.scales[n * w.blocks + blk]!;
      const zb = w.zeroPoints ? w.zeroPoints[n * row + (bits === 8 ? blk : blk >> 1)]! : 1 << (bits - 1);
      const z = w.zeroPoints && bits === 4 ? (zb >> ((blk & 1) * 4)) & 15 : zb;
      const base = (n * w.blocks + blk) * w.blobSize;
      for (let j = 0; j < blockSize; j++) {
        const k = blk * blockSize + j;
        if (k >= K) break;
        const code = bits === 8 ? w.b[base + j]! : (w.b[base + (j >> 1)]! >> ((j & 1) * 4)) & 15;
        out[k * N + n] = Math.fround((code - z) * s);
      }
    }
  return out;
}
