/**
 * WebAssembly SIMD versions of the min/max and quantize kernels (src/tensor/wasm/quantize.wat), bit for bit equal to
 * the JavaScript ones in kernels.ts, 2–4× faster warm and far faster in a short process (JavaScriptCore compiles the
 * module up front; the JS loops spend a CLI run's first hundred milliseconds in the interpreter and baseline tiers).
 *
 * The module works on its own memory, so data goes through it in chunks of {@link CAP} values (in L2): copy in
 * (memcpy speed), kernel, copy the codes out. The layout walk mirrors `forEachRun` in kernels.ts, but hands the module
 * whole runs of blocks at once (a conv's block-32 walk is thousands of 288-value blocks). Used for 8-bit storage
 * (int8, uint8, int4, uint4 unpacked); int16/uint16 stay on the JS kernels. `QUANT_KERNELS=js` (or
 * {@link setKernelBackend}) turns the module off, for comparisons.
 */
import type { GroupLayout } from "./kernels.ts";
import { QUANTIZE_WASM_BASE64 } from "./wasm/quantize-wasm.ts";

/** Values per chunk: 128 KB of float32 in, 32 KB of codes out; parameters and min/max up to CAP each. */
const CAP = 32768;
const X = 0;
const O = X + CAP * 4;
const S = O + CAP;
const Z = S + CAP * 4;
const MN = Z + CAP * 4;
const MX = MN + CAP * 4;
const ACC = MX + CAP * 4; // two f64: Σx², Σ(x − x̂)²

interface Exports {
  memory: WebAssembly.Memory;
  quant_rows(x: number, o: number, s: number, z: number, nrows: number, cols: number, qmin: number, qmax: number, off: number): void;
  quant_cols(x: number, o: number, s: number, z: number, nblk: number, rows: number, cols: number, qmin: number, qmax: number, off: number): void;
  minmax_rows(x: number, nrows: number, cols: number, mn: number, mx: number): number;
  minmax_cols(x: number, nblk: number, rows: number, cols: number, mn: number, mx: number): number;
  err_rows(x: number, q: number, s: number, z: number, nrows: number, cols: number, unsigned: number, acc: number): void;
  err_cols(x: number, q: number, s: number, z: number, rows: number, cols: number, unsigned: number, acc: number): void;
}

interface Wasm {
  k: Exports;
  f32: Float32Array;
  i32: Int32Array;
  i8: Int8Array;
  u8: Uint8Array;
  f64: Float64Array;
}

let backend: "wasm" | "js" = process.env.QUANT_KERNELS === "js" ? "js" : "wasm";
let wasm: Wasm | null | undefined;

/** Chooses the kernels quantization uses: "wasm" (the default, when WebAssembly SIMD is available) or "js". */
export function setKernelBackend(b: "wasm" | "js"): void {
  backend = b;
}

/** The kernels in use: "wasm" or "js". */
export function kernelBackend(): "wasm" | "js" {
  return backend === "wasm" && instance() ? "wasm" : "js";
}

function instance(): Wasm | null {
  if (wasm !== undefined) return wasm;
  try {
    const mod = new WebAssembly.Module(Buffer.from(QUANTIZE_WASM_BASE64, "base64"));
    const k = new WebAssembly.Instance(mod, {}).exports as unknown as Exports;
    const buf = k.memory.buffer; // never grows: the views stay valid
    wasm = { k, f32: new Float32Array(buf), i32: new Int32Array(buf), i8: new Int8Array(buf), u8: new Uint8Array(buf), f64: new Float64Array(buf) };
  } catch {
    wasm = null; // no WebAssembly SIMD here: the JS kernels do the work
  }
  return wasm;
}

function active(): Wasm | null {
  return backend === "wasm" ? instance() : null;
}

/**
 * Min and max of every group and Σ v·0 (NaN iff some value is NaN or ±Inf), or undefined when the module is off.
 * Same results as kernels.ts's MinMaxKernel (up to the sign of a zero min/max that ties with another zero).
 */
export function wasmGroupMinMax(data: Float32Array, l: GroupLayout): { min: Float32Array; max: Float32Array; nan: number } | undefined {
  const w = active();
  if (!w) return undefined;
  const m = new MinMax(w, data, l.groups);
  walk(l, m);
  return { min: m.min, max: m.max, nan: m.nan };
}

/**
 * QuantizeLinear of the whole tensor into `out` (see kernels.ts's quantizeLinear), or false (nothing done) when the
 * module is off or the storage is not 8-bit.
 */
export function wasmQuantizeLinear(
  data: Float32Array, l: GroupLayout, scale: Float32Array, zeroPoint: Int32Array, qmin: number, qmax: number,
  out: Int8Array | Uint8Array | Int16Array | Uint16Array,
): boolean {
  const w = active();
  if (!w) return false;
  // Codes must fit the storage as the JS store would keep them (no wrap-around to mirror).
  const signed = out instanceof Int8Array && qmin >= -128 && qmax <= 127;
  const unsigned = out instanceof Uint8Array && qmin >= 0 && qmax <= 255;
  if (!signed && !unsigned) return false;
  walk(l, new Quantize(w, data, scale, zeroPoint, qmin, qmax, out as Int8Array | Uint8Array, signed ? 0 : 128));
  return true;
}

/** A kernel over runs: `rows` — row r of `cols` contiguous values in group g + r·gRow; `cols` — `nblk` contiguous blocks of rows × cols, value (k, r, i) in group g + k·cols + i. */
interface Runs {
  rows(g: number, gRow: number, start: number, rows: number, cols: number): void;
  cols(g: number, start: number, nblk: number, rows: number, cols: number): void;
}

/** The layout as runs, in the order of kernels.ts's forEachRun, whole blocks at once. */
function walk(l: GroupLayout, k: Runs): void {
  const { outer, channels: C, inner, blockSize: B, blocks } = l;
  if (l.kind === "tensor") return k.rows(0, 0, 0, 1, inner);
  if (l.kind === "channel") {
    if (inner === 1) return k.cols(0, 0, 1, outer, C);
    for (let o = 0; o < outer; o++) k.rows(0, 1, o * C * inner, C, inner);
    return;
  }
  const full = Math.floor(C / B);
  for (let o = 0; o < outer; o++) {
    if (inner === 1) {
      if (full > 0) k.rows(o * blocks, 1, o * C, full, B);
      if (full < blocks) k.rows(o * blocks + full, 0, o * C + full * B, 1, C - full * B);
      continue;
    }
    if (full > 0) k.cols(o * blocks * inner, o * C * inner, full, B, inner);
    if (full < blocks) k.cols((o * blocks + full) * inner, (o * C + full * B) * inner, 1, C - full * B, inner);
  }
}

class MinMax implements Runs {
  readonly min: Float32Array;
  readonly max: Float32Array;
  nan = 0;
  constructor(readonly w: Wasm, readonly data: Float32Array, groups: number) {
    this.min = new Float32Array(groups).fill(Infinity);
    this.max = new Float32Array(groups).fill(-Infinity);
  }
  rows(g: number, gRow: number, start: number, rows: number, cols: number): void {
    const { w, data, min, max } = this;
    const { f32, k } = w;
    if (cols > CAP) {
      for (let r = 0; r < rows; r++, g += gRow) {
        for (let c = 0; c < cols; c += CAP) {
          const n = Math.min(CAP, cols - c);
          const j = start + r * cols + c;
          f32.set(data.subarray(j, j + n), X >> 2);
          this.nan += k.minmax_rows(X, 1, n, MN, MX);
          this.merge(g, f32[MN >> 2]!, f32[MX >> 2]!);
        }
      }
      return;
    }
    const per = Math.floor(CAP / cols);
    for (let r0 = 0; r0 < rows; r0 += per) {
      const n = Math.min(per, rows - r0);
      const j = start + r0 * cols;
      f32.set(data.subarray(j, j + n * cols), X >> 2);
      this.nan += k.minmax_rows(X, n, cols, MN, MX);
      for (let r = 0, gg = g + r0 * gRow; r < n; r++, gg += gRow) {
        const mn = f32[(MN >> 2) + r]!;
        const mx = f32[(MX >> 2) + r]!;
        if (mn < min[gg]!) min[gg] = mn;
        if (mx > max[gg]!) max[gg] = mx;
      }
    }
  }
  private merge(g: number, mn: number, mx: number): void {
    if (mn < this.min[g]!) this.min[g] = mn;
    if (mx > this.max[g]!) this.max[g] = mx;
  }
  cols(g: number, start: number, nblk: number, rows: number, cols: number): void {
    const { w, data, min, max } = this;
    const { f32, k } = w;
    const run = (j: number, gg: number, nb: number, nr: number, nc: number) => {
      f32.set(data.subarray(j, j + nb * nr * nc), X >> 2);
      f32.set(min.subarray(gg, gg + nb * nc), MN >> 2);
      f32.set(max.subarray(gg, gg + nb * nc), MX >> 2);
      this.nan += k.minmax_cols(X, nb, nr, nc, MN, MX);
      min.set(f32.subarray(MN >> 2, (MN >> 2) + nb * nc), gg);
      max.set(f32.subarray(MX >> 2, (MX >> 2) + nb * nc), gg);
    };
    colRuns(start, g, nblk, rows, cols, run);
  }
}

/** Cuts `nblk` blocks of rows × cols (data from `start`, groups from `g`) into chunks of at most CAP values and parameters. */
function colRuns(
  start: number, g: number, nblk: number, rows: number, cols: number,
  run: (j: number, g: number, nblk: number, rows: number, cols: number) => void,
): void {
  const size = rows * cols;
  if (size <= CAP) {
    const per = Math.floor(CAP / size);
    for (let b = 0; b < nblk; b += per) run(start + b * size, g + b * cols, Math.min(per, nblk - b), rows, cols);
    return;
  }
  for (let b = 0; b < nblk; b++) {
    const j0 = start + b * size;
    const g0 = g + b * cols;
    if (cols <= CAP) {
      const per = Math.floor(CAP / cols);
      for (let r = 0; r < rows; r += per) run(j0 + r * cols, g0, 1, Math.min(per, rows - r), cols);
    } else {
      for (let r = 0; r < rows; r++)
        for (let c = 0; c < cols; c += CAP) run(j0 + r * cols + c, g0 + c, 1, 1, Math.min(CAP, cols - c));
    }
  }
}

class Quantize implements Runs {
  readonly view: Int8Array | Uint8Array;
  constructor(
    readonly w: Wasm, readonly data: Float32Array, readonly scale: Float32Array, readonly zeroPoint: Int32Array,
    readonly qmin: number, readonly qmax: number, readonly out: Int8Array | Uint8Array, readonly off: number,
  ) {
    this.view = out instanceof Int8Array ? w.i8 : w.u8;
  }
  rows(g: number, gRow: number, start: number, rows: number, cols: number): void {
    const { w, data, scale, zeroPoint, out, view, qmin, qmax, off } = this;
    const { f32, i32, k } = w;
    if (cols > CAP) {
      for (let r = 0; r < rows; r++, g += gRow) {
        f32[S >> 2] = scale[g]!;
        i32[Z >> 2] = zeroPoint[g]!;
        for (let c = 0; c < cols; c += CAP) {
          const n = Math.min(CAP, cols - c);
          const j = start + r * cols + c;
          f32.set(data.subarray(j, j + n), X >> 2);
          k.quant_rows(X, O, S, Z, 1, n, qmin, qmax, off);
          out.set(view.subarray(O, O + n), j);
        }
      }
      return;
    }
    const per = Math.floor(CAP / cols);
    for (let r0 = 0; r0 < rows; r0 += per) {
      const n = Math.min(per, rows - r0);
      const j = start + r0 * cols;
      f32.set(data.subarray(j, j + n * cols), X >> 2);
      const g0 = g + r0 * gRow;
      if (gRow === 1) {
        f32.set(scale.subarray(g0, g0 + n), S >> 2);
        i32.set(zeroPoint.subarray(g0, g0 + n), Z >> 2);
      } else {
        for (let r = 0, gg = g0; r < n; r++, gg += gRow) {
          f32[(S >> 2) + r] = scale[gg]!;
          i32[(Z >> 2) + r] = zeroPoint[gg]!;
        }
      }
      k.quant_rows(X, O, S, Z, n, cols, qmin, qmax, off);
      out.set(view.subarray(O, O + n * cols), j);
    }
  }
  cols(g: number, start: number, nblk: number, rows: number, cols: number): void {
    const { w, data, scale, zeroPoint, out, view, qmin, qmax, off } = this;
    const { f32, i32, k } = w;
    colRuns(start, g, nblk, rows, cols, (j, gg, nb, nr, nc) => {
      const n = nb * nr * nc;
      f32.set(data.subarray(j, j + n), X >> 2);
      f32.set(scale.subarray(gg, gg + nb * nc), S >> 2);
      i32.set(zeroPoint.subarray(gg, gg + nb * nc), Z >> 2);
      k.quant_cols(X, O, S, Z, nb, nr, nc, qmin, qmax, off);
      out.set(view.subarray(O, O + n), j);
    });
  }
}

/** kernels.ts's RunKernel: `rows` — row r of `cols` values in group g + r·gRow; `cols` — value (r, i) in group g + i. */
interface RunKernel {
  rows(g: number, gRow: number, start: number, rows: number, cols: number): void;
  cols(g: number, start: number, rows: number, cols: number): void;
}

/**
 * Σx² and Σ(x − x̂)² over the runs it is handed, exactly as kernels.ts's ErrorKernel sums them (same order, same
 * double arithmetic, each run summed from 0 then added), or undefined when the module is off or codes are not 8-bit.
 */
export function wasmErrorKernel(
  data: Float32Array, values: ArrayLike<number>, scale: Float32Array, zeroPoint: Int32Array,
): (RunKernel & { signal: number; noise: number }) | undefined {
  const w = active();
  if (!w || !(values instanceof Int8Array || values instanceof Uint8Array)) return undefined;
  return new ErrorSums(w, data, values, scale, zeroPoint);
}

class ErrorSums implements RunKernel {
  signal = 0;
  noise = 0;
  readonly view: Int8Array | Uint8Array;
  readonly unsigned: number;
  constructor(readonly w: Wasm, readonly data: Float32Array, readonly values: Int8Array | Uint8Array, readonly scale: Float32Array, readonly zeroPoint: Int32Array) {
    this.view = values instanceof Int8Array ? w.i8 : w.u8;
    this.unsigned = values instanceof Int8Array ? 0 : 1;
  }
  private begin(): void {
    this.w.f64[ACC >> 3] = 0;
    this.w.f64[(ACC >> 3) + 1] = 0;
  }
  private end(): void {
    this.signal += this.w.f64[ACC >> 3]!;
    this.noise += this.w.f64[(ACC >> 3) + 1]!;
  }
  private load(j: number, n: number): void {
    this.w.f32.set(this.data.subarray(j, j + n), X >> 2);
    this.view.set(this.values.subarray(j, j + n), O);
  }
  rows(g: number, gRow: number, start: number, rows: number, cols: number): void {
    const { w, scale, zeroPoint, unsigned } = this;
    const { f32, i32, k } = w;
    this.begin();
    // Row-major chunks keep the order of the sums.
    const per = Math.max(1, Math.floor(CAP / cols));
    for (let r0 = 0; r0 < rows; r0 += per) {
      const n = Math.min(per, rows - r0);
      for (let r = 0, gg = g + r0 * gRow; r < n; r++, gg += gRow) {
        f32[(S >> 2) + r] = scale[gg]!;
        i32[(Z >> 2) + r] = zeroPoint[gg]!;
      }
      if (cols <= CAP) {
        this.load(start + r0 * cols, n * cols);
        k.err_rows(X, O, S, Z, n, cols, unsigned, ACC);
      } else {
        for (let c = 0; c < cols; c += CAP) {
          const m = Math.min(CAP, cols - c);
          this.load(start + r0 * cols + c, m);
          k.err_rows(X, O, S, Z, 1, m, unsigned, ACC);
        }
      }
    }
    this.end();
  }
  cols(g: number, start: number, rows: number, cols: number): void {
    const { w, scale, zeroPoint, unsigned } = this;
    const { f32, i32, k } = w;
    this.begin();
    if (cols <= CAP) {
      f32.set(scale.subarray(g, g + cols), S >> 2);
      i32.set(zeroPoint.subarray(g, g + cols), Z >> 2);
      const per = Math.floor(CAP / cols);
      for (let r0 = 0; r0 < rows; r0 += per) {
        const n = Math.min(per, rows - r0);
        this.load(start + r0 * cols, n * cols);
        k.err_cols(X, O, S, Z, n, cols, unsigned, ACC);
      }
    } else {
      for (let r = 0; r < rows; r++)
        for (let c = 0; c < cols; c += CAP) {
          const m = Math.min(CAP, cols - c);
          f32.set(scale.subarray(g + c, g + c + m), S >> 2);
          i32.set(zeroPoint.subarray(g + c, g + c + m), Z >> 2);
          this.load(start + r * cols + c, m);
          k.err_cols(X, O, S, Z, 1, m, unsigned, ACC);
        }
    }
    this.end();
  }
}
