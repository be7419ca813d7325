/** Layout helpers for weight data. */

/** Transpose a row-major `[rows, cols]` float32 matrix into a new `[cols, rows]` one (tiled for cache locality). */
export function transposeFloat32(data: Float32Array, rows: number, cols: number, out = new Float32Array(rows * cols)): Float32Array {
  const T = 32;
  for (let r0 = 0; r0 < rows; r0 += T) {
    const r1 = Math.min(rows, r0 + T);
    for (let c0 = 0; c0 < cols; c0 += T) {
      const c1 = Math.min(cols, c0 + T);
      for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) out[c * rows + r] = data[r * cols + c]!;
    }
  }
  return out;
}
