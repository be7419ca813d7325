/**
 * A user calibrator, written outside quant's source tree: the range of each activation is mean ± k·std of the
 * values seen, clamped to the observed min/max. The state is a few numbers per tensor (count, sum, sum of
 * squares, min, max), so it merges exactly and its memory does not grow with the number of samples.
 *
 * Use it from a config file:  plugins: [normalize, ["./plugins/mean-std-calibrator.ts", { k: 4 }], static-qdq, int8, onnx]
 */
import { defineCalibrator, type CalibratorState, type Observation, type RangeMap } from "quant";

interface Moments {
  n: number;
  sum: number;
  sumSq: number;
  min: number;
  max: number;
}

class MeanStdState implements CalibratorState {
  readonly tensors = new Map<string, Moments>();
  constructor(readonly k: number) {}

  observe(o: Observation): void {
    let m = this.tensors.get(o.tensor);
    if (!m) this.tensors.set(o.tensor, (m = { n: 0, sum: 0, sumSq: 0, min: Infinity, max: -Infinity }));
    const v = o.values!;
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < v.length; i++) {
      const x = v[i]!;
      s += x;
      s2 += x * x;
    }
    m.n += v.length;
    m.sum += s;
    m.sumSq += s2;
    m.min = Math.min(m.min, o.min);
    m.max = Math.max(m.max, o.max);
  }

  merge(other: CalibratorState): void {
    for (const [t, b] of (other as MeanStdState).tensors) {
      const a = this.tensors.get(t);
      if (!a) this.tensors.set(t, { ...b });
      else Object.assign(a, { n: a.n + b.n, sum: a.sum + b.sum, sumSq: a.sumSq + b.sumSq, min: Math.min(a.min, b.min), max: Math.max(a.max, b.max) });
    }
  }

  finalize(): RangeMap {
    const out: RangeMap = new Map();
    for (const [t, m] of this.tensors) {
      const mean = m.sum / m.n;
      const std = Math.sqrt(Math.max(0, m.sumSq / m.n - mean * mean));
      out.set(t, { min: Math.max(m.min, mean - this.k * std), max: Math.min(m.max, mean + this.k * std) });
    }
    return out;
  }

  toJSON(): unknown {
    return { k: this.k, tensors: Object.fromEntries(this.tensors) };
  }
}

/** Factory: `["./plugins/mean-std-calibrator.ts", { k: 4 }]` in a config. */
export default function meanStd(opts: { k?: number } = {}) {
  const k = opts.k ?? 4;
  return defineCalibrator({
    name: "mean-std",
    options: { k },
    needs: "values",
    create: () => new MeanStdState(k),
    restore(json) {
      const j = json as { k: number; tensors: Record<string, Moments> };
      const s = new MeanStdState(j.k);
      for (const [t, m] of Object.entries(j.tensors)) s.tensors.set(t, m);
      return s;
    },
  });
}
