/** Shared helpers of the calibrator tests: seeded samplers and the quantize–dequantize error of a range. */
import { computeScaleZeroPoint } from "../../../src/tensor/quantize.ts";
import type { CalibratorPlugin, PluginContext, RangeMap } from "../../../src/index.ts";
import { defaultOptions } from "../../../src/index.ts";
import { rng } from "../../helpers/random.ts";
export { rng };


/** `n` samples of N(0, 1) (Box–Muller). */
export function normal(n: number, seed: number): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  return out;
}

/** `n` samples of Laplace(0, 1). */
export function laplace(n: number, seed: number): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = r() - 0.5;
    out[i] = -Math.sign(u) * Math.log(1 - 2 * Math.abs(u));
  }
  return out;
}

/** `n` samples of U(lo, hi). */
export function uniform(n: number, lo: number, hi: number, seed: number): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

/** Mean squared error of `x` after QuantizeLinear/DequantizeLinear with the parameters the project derives from `range`. */
export function qdqMse(x: Float32Array, range: { min: number; max: number }, symmetric = false): number {
  const type = symmetric ? "int8" : "uint8";
  const { scale, zeroPoint } = computeScaleZeroPoint(range.min, range.max, type, symmetric);
  const qmin = symmetric ? -128 : 0;
  const qmax = symmetric ? 127 : 255;
  let e = 0;
  for (let i = 0; i < x.length; i++) {
    let q = Math.round(Math.fround(x[i]! / scale)) + zeroPoint;
    q = q < qmin ? qmin : q > qmax ? qmax : q;
    const d = (q - zeroPoint) * scale - x[i]!;
    e += d * d;
  }
  return e / x.length;
}

/** Signal-to-quantization-noise ratio (dB) of `x` quantized with `range`. */
export function qdqSqnr(x: Float32Array, range: { min: number; max: number }, symmetric = false): number {
  let p = 0;
  for (let i = 0; i < x.length; i++) p += x[i]! * x[i]!;
  return 10 * Math.log10(p / x.length / qdqMse(x, range, symmetric));
}

/** A plugin context for tests (silent logger). */
export const ctx: PluginContext = {
  logger: { warn() {}, info() {}, debug() {}, error() {}, log() {} } as unknown as PluginContext["logger"],
  options: { ...defaultOptions },
  progress() {},
  at() {},
};

/** Run a calibrator over `batches` of one or more tensors and return its ranges. */
export function calibrate(plugin: CalibratorPlugin, batches: { tensor: string; values: Float32Array }[]): RangeMap {
  const state = plugin.create(ctx);
  for (const b of batches) state.observe(observation(b.tensor, b.values, plugin.needs === "values"));
  return state.finalize();
}

/** An Observation of `values` as the runtime gives it (min/max reduced; values only when the calibrator needs them). */
export function observation(tensor: string, values: Float32Array, withValues = true) {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { tensor, min, max, values: withValues ? values : undefined };
}
