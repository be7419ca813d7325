/**
 * bitsandbytes 4-bit block quantization as ONNX Runtime's com.microsoft MatMulBnb4 stores it: the weight W [K, N]
 * is read transposed (W^T [N, K], row-major) and cut into blocks of `blockSize` consecutive elements; each block keeps
 * its absmax (float) and one 4-bit code per element, the code of the NF4 (normal-float) or FP4 value nearest to
 * v / absmax. Two codes per byte, the first element in the high nibble. Codes and decision thresholds are those of
 * bitsandbytes / ONNX Runtime (strict `>` comparisons), so codes match ORT's own quantizer.
 */

/** NF4 (quant_type 1) and FP4 (quant_type 0). */
export type Bnb4Type = "nf4" | "fp4";

/** Values of the 16 codes, normalized to [-1, 1]. */
export const BNB4_CODEBOOK: Record<Bnb4Type, Float32Array> = {
  nf4: Float32Array.of(
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635, -0.18477343022823334,
    -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
  ),
  fp4: Float32Array.of(0, 5.208333333e-3, 0.66666667, 1, 0.33333333, 0.5, 0.16666667, 0.25, -0, -5.208333333e-3, -0.66666667, -1, -0.33333333, -0.5, -0.16666667, -0.25),
};

// NF4 thresholds, low to high: code i+1 when x > NF4_MID[i] (midpoints of the codebook, as bitsandbytes' tree).
const NF4_MID = Float32Array.of(
  -0.8480964004993439, -0.6106329262256622, -0.4599952697753906, -0.33967943489551544, -0.23460740596055984,
  -0.13791173323988914, -0.045525018125772476, 0.03979014977812767, 0.1202552504837513, 0.2035212516784668,
  0.2920137718319893, 0.3893125355243683, 0.5016634166240692, 0.6427869200706482, 0.8614784181118011,
);

/** NF4 code of a normalized value (bitsandbytes' decision tree: strict `>` at each midpoint). */
export function nf4Code(x: number): number {
  let c = 0;
  while (c < 15 && x > NF4_MID[c]!) c++;
  return c;
}

// FP4 magnitude pivots (divided by 12, the FP4 absmax) and the code of each interval, low to high.
const FP4_PIVOT = Float32Array.of(0.00260417, 0.0859375, 0.20833333, 0.29166667, 0.4166667, 0.583333, 0.8333333);
const FP4_CODE = [0b000, 0b001, 0b110, 0b111, 0b100, 0b101, 0b010, 0b011];

/** FP4 code of a normalized value: sign bit 8, then the magnitude interval. */
export function fp4Code(x: number): number {
  const sign = x < 0 ? 8 : 0;
  const a = Math.abs(x);
  let i = 0;
  while (i < 7 && a > FP4_PIVOT[i]!) i++;
  return FP4_CODE[i]! + sign;
}

/** A weight in MatMulBnb4 form. */
export interface Bnb4Weight {
  /** [(N·K + 1) / 2] packed codes. */
  b: Uint8Array;
  /** [ceil(N·K / blockSize)] block absmax. */
  absmax: Float32Array;
}

/** Quantize W [K, N] (row-major) into MatMulBnb4 storage. `blockSize` must be even. */
export function quantizeBnb4(w: Float32Array, K: number, N: number, blockSize: number, type: Bnb4Type): Bnb4Weight {
  const numel = K * N;
  const blocks = Math.ceil(numel / blockSize);
  const b = new Uint8Array((numel + 1) >> 1);
  const absmax = new Float32Array(blocks);
  const code = type === "nf4" ? nf4Code : fp4Code;
  // Element i of W^T [N, K] is W[k, n] with n = floor(i / K), k = i % K.
  const at = (i: number) => w[(i % K) * N + Math.floor(i / K)]!;
  for (let blk = 0; blk < blocks; blk++) {
    const start = blk * blockSize;
    const end = Math.min(numel, start + blockSize);
    let m = 0;
    for (let i = start; i < end; i++) m = Math.max(m, Math.abs(at(i)));
    absmax[blk] = m;
    const r = m ? Math.fround(1 / Math.fround(m)) : 0;
    for (let i = start; i < end; i += 2) {
      const c0 = code(Math.fround(at(i) * r));
      const c1 = code(i + 1 < end ? Math.fround(at(i + 1) * r) : 0);
      b[i >> 1] = (c0 << 4) | c1;
    }
  }
  return { b, absmax };
}

/** Dequantize MatMulBnb4 storage back to W [K, N] row-major (code value · absmax in float32, as ORT computes it). */
export function dequantizeBnb4(q: Bnb4Weight, K: number, N: number, blockSize: number, type: Bnb4Type): Float32Array {
  const map = BNB4_CODEBOOK[type];
  const out = new Float32Array(K * N);
  for (let i = 0; i < K * N; i++) {
    const byte = q.b[i >> 1]!;
    const c = i & 1 ? byte & 15 : byte >> 4;
    out[(i % K) * N + Math.floor(i / K)] = Math.fround(map[c]! * q.absmax[Math.floor(i / blockSize)]!);
  }
  return out;
}
