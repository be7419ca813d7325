/**
 * Where the samples are: each model input has a batch axis (where a run's samples are stacked) or none (a scalar
 * sample rate, a state declared without a batch dim: one value fed as-is to every run). The axis is given
 * (`--sample-axis h=1`, config `sampleAxis: { h: 1 }`) or inferred from the declared shape; stored data then fits
 * the input in one of five layouts (see {@link fitData}). Everything here is about shapes; reading is elsewhere.
 */
import { QuantError } from "../errors/errors.ts";
import type { InputLayout, ModelInputInfo, SampleAxisSpec } from "./dataset-types.ts";
export type { InputLayout, SampleAxisSpec } from "./dataset-types.ts";

/** `[N, 1, 32, 32]`: dynamic dims by name (or `?`). */
export function describeShape(shape: readonly (number | string | null)[]): string {
  return `[${shape.map((d) => (d === null ? "?" : String(d))).join(", ")}]`;
}

const BATCH_NAME = /batch|^(n|b|bs|bsz|num_samples)$/i;
const isStatic = (d: number | string | null | undefined): d is number => typeof d === "number" && d >= 0;

/**
 * The batch axis of `input` as its declared shape suggests: none for a scalar; else the first dim whose symbolic
 * name says batch (`batch`, `batch_size`, `N`, …); else the first dim sharing its symbolic name with the leading
 * symbolic dim of another input (LSTM state `[2, unk__0, 128]` beside audio `[unk__0, T]`); else, for a state-like
 * shape (rank ≥ 3, static leading dim > 1 and last dim, one dynamic dim) that dim (`[2, ?, 128]`); else axis 0.
 */
export function inferBatchAxis(input: ModelInputInfo, inputs: readonly ModelInputInfo[]): number | null {
  const s = input.shape;
  if (s.length === 0) return null;
  const named = s.findIndex((d) => typeof d === "string" && BATCH_NAME.test(d));
  if (named >= 0) return named;
  const leading = new Set(inputs.filter((i) => i !== input && typeof i.shape[0] === "string").map((i) => i.shape[0] as string));
  const shared = s.findIndex((d) => typeof d === "string" && leading.has(d));
  if (shared >= 0 && typeof s[0] !== "string") return shared;
  // A state [2, ?, 128] (directions or layers, batch, hidden): the only dynamic dim is the batch. Rank 2 ([8, ?]) stays
  // ambiguous (a fixed batch with a dynamic length) and is left to the data's sample counts.
  const dynamic = s.flatMap((d, k) => (isStatic(d) ? [] : [k]));
  if (s.length >= 3 && isStatic(s[0]) && s[0] > 1 && isStatic(s[s.length - 1]) && dynamic.length === 1) return dynamic[0]!;
  return 0;
}

/** Normalize a user's sample-axis value for `input` (negative axes count from the end); E_USAGE when out of range. */
export function checkSampleAxis(input: ModelInputInfo, spec: SampleAxisSpec): number | null {
  if (spec === null || spec === "none") return null;
  const r = input.shape.length;
  const a = Number(spec);
  if (!Number.isInteger(a) || a < -Math.max(r, 1) || a >= Math.max(r, 1) || r === 0) {
    throw new QuantError("E_USAGE", `sample axis ${spec} for input '${input.name}' ${describeShape(input.shape)}: expected an axis in [0, ${Math.max(r - 1, 0)}] or none`, {
      target: input.name,
    });
  }
  return a < 0 ? a + r : a;
}

/**
 * How stored data maps onto a model input:
 * - `samples`: same rank as the input, samples along its batch axis (`[2, N, 128]` for `[2, batch, 128]`);
 * - `rows`: one more dim in front, one run's feed per row (`[N, 2, 1, 128]`; `[N]` for a scalar input; a model
 *   exported with a fixed batch k may have k samples per row);
 * - `one`: one sample without the batch axis (`[2, 128]`), broadcast to every sample;
 * - `constant`: exactly the declared shape of an input without a batch axis (or a fully static shape), fed as-is.
 * A single number (rank 0) for a tensor input fills one sample (`one`) or the whole static shape (`constant`).
 */
export interface Fit {
  kind: "samples" | "rows" | "one" | "constant";
  /** The input's batch axis in the model's layout (null: none, the value is fed as-is). */
  batchAxis: number | null;
  /** Samples the data holds; undefined for `one`/`constant` (any number of samples). */
  count: number | undefined;
  /** Dims of one sample without the batch axis (`constant`: the dims fed). */
  sampleDims: number[];
  /** `rows`: samples per row (1, or the model's fixed batch when each row is a whole run's feed). */
  perRow?: number;
}

/** Dims of a batch of `n` samples of a fit (the batch axis set to n). */
export function batchDims(fit: Fit, n: number): number[] {
  if (fit.batchAxis === null) return [...fit.sampleDims];
  const d = [...fit.sampleDims];
  d.splice(fit.batchAxis, 0, n);
  return d;
}

/** True when `data` has the declared dims `want` (symbolic/unknown dims match anything). */
function compatible(want: readonly (number | string | null)[], data: readonly number[]): boolean {
  return want.length === data.length && want.every((w, k) => !isStatic(w) || w === data[k]);
}

const without = <T>(a: readonly T[], k: number): T[] => [...a.slice(0, k), ...a.slice(k + 1)];

/** The layouts `data` fits for batch axis `b` (in preference order). */
function fitsAt(want: readonly (number | string | null)[], b: number, data: readonly number[]): Fit[] {
  const out: Fit[] = [];
  const r = want.length;
  if (data.length === r && compatible(without(want, b), without(data, b))) out.push({ kind: "samples", batchAxis: b, count: data[b]!, sampleDims: without(data, b) });
  // A row is one run's feed: one sample (batch dim 1), or a whole fixed batch k of a model exported with batch k.
  const k = data[1 + b];
  if (data.length === r + 1 && compatible(want, data.slice(1)) && (k === 1 || (isStatic(want[b]) && want[b] === k)))
    out.push({ kind: "rows", batchAxis: b, count: data[0]! * k!, sampleDims: without(data.slice(1), b), perRow: k });
  if (data.length === r - 1 && compatible(without(want, b), data)) out.push({ kind: "one", batchAxis: b, count: undefined, sampleDims: [...data] });
  return out;
}

/**
 * Fit stored data of shape `data` to `input`. `axis`: the user's sample axis (undefined: inferred, `inferred` is then
 * the declared shape's guess). Data equal to a fully static declared shape is a constant unless the axis was given;
 * data that does not fit the inferred axis may fit one other axis whose declared dim is 1 or dynamic (used only
 * when exactly one does). Throws E_CALIB_SHAPE listing the layouts that would fit.
 */
export function fitData(input: ModelInputInfo, data: readonly number[], axis: SampleAxisSpec | undefined, inferred: number | null, file?: string): Fit {
  const want = input.shape;
  const given = axis !== undefined;
  const b = given ? checkSampleAxis(input, axis) : inferred;
  // One number for a tensor input (`--input state=0`) fills a whole sample of the declared (static) dims.
  if (data.length === 0 && want.length > 0) {
    if (want.every(isStatic) && (b === null || !given)) return { kind: "constant", batchAxis: null, count: undefined, sampleDims: [...want] };
    // The guessed axis, else (not given) the one dynamic axis whose removal leaves static dims (`[2, ?, 128]`: axis 1).
    const axes = b !== null && without(want, b).every(isStatic) ? [b] : given ? [] : want.map((_, k) => k).filter((k) => !isStatic(want[k]) && without(want, k).every(isStatic));
    if (axes.length === 1) return { kind: "one", batchAxis: axes[0]!, count: undefined, sampleDims: without(want, axes[0]!) as number[] };
    throw new QuantError("E_CALIB_SHAPE", `input '${input.name}' ${describeShape(want)}: one number fills only dims that are declared (static) besides the batch axis; give an array`, { file, target: input.name });
  }
  if (b === null) {
    if (compatible(want, data)) return { kind: "constant", batchAxis: null, count: undefined, sampleDims: [...data] };
    if (data.length === want.length + 1 && compatible(want, data.slice(1))) return { kind: "rows", batchAxis: null, count: data[0]!, sampleDims: data.slice(1) };
    throw mismatch(input, data, null, file);
  }
  if (!given && want.every(isStatic) && compatible(want, data)) return { kind: "constant", batchAxis: null, count: undefined, sampleDims: [...data] };
  const fits = fitsAt(want, b, data);
  if (fits.length) {
    // Whole-batch rows on a guessed axis lose to one-sample rows on another ([6, 2, 1, H] for a state [2, 1, H]:
    // 2 is the directions, 1 the batch).
    if (!given && (fits[0]!.perRow ?? 1) > 1) {
      const single = otherFits(input, data, b).filter((f) => f.kind === "rows" && f.perRow === 1);
      if (single.length === 1) return single[0]!;
    }
    return fits[0]!;
  }
  if (!given) {
    const others = otherFits(input, data, b);
    if (others.length === 1) return others[0]!;
  }
  throw mismatch(input, data, b, file);
}

/** True when the declared dim at `axis` is named like a batch (then it is not second-guessed). */
function batchNamed(input: ModelInputInfo, axis: number | null): boolean {
  const d = axis === null ? undefined : input.shape[axis];
  return typeof d === "string" && BATCH_NAME.test(d);
}

/** Per-sample fits of `data` on axes other than `b` whose declared dim is 1 or dynamic (candidates when `b` was only a guess). */
export function otherFits(input: ModelInputInfo, data: readonly number[], b: number | null): Fit[] {
  const want = input.shape;
  return want.flatMap((w, k) => (k !== b && (!isStatic(w) || w === 1) ? fitsAt(want, k, data).filter((f) => f.count !== undefined) : []));
}

/**
 * Agree on one sample count: inputs whose axis was inferred may move to another axis when that is the only way all
 * inputs agree (`b` [8, d1] holding [8, 12] beside `a` [12, 8]: its samples are on axis 1). Returns the fits to use,
 * or undefined when no count, or more than one, works.
 */
export function agreeCounts(entries: readonly { input: ModelInputInfo; data: readonly number[]; fit: Fit; given: boolean }[]): Fit[] | undefined {
  const targets = [...new Set(entries.map((e) => e.fit.count).filter((c): c is number => c !== undefined))];
  const solutions: Fit[][] = [];
  for (const t of targets) {
    const fits: Fit[] = [];
    for (const e of entries) {
      if (e.fit.count === undefined || e.fit.count === t) fits.push(e.fit);
      else if (!e.given && !batchNamed(e.input, e.fit.batchAxis)) {
        const alt = otherFits(e.input, e.data, e.fit.batchAxis).filter((f) => f.count === t);
        if (alt.length !== 1) break;
        fits.push(alt[0]!);
      } else break;
    }
    if (fits.length === entries.length) solutions.push(fits);
  }
  return solutions.length === 1 ? solutions[0] : undefined;
}

function mismatch(input: ModelInputInfo, data: readonly number[], b: number | null, file?: string): QuantError {
  const want = input.shape;
  const n = (w: readonly (number | string | null)[]) => w.map((d) => (isStatic(d) ? d : typeof d === "string" ? d : "?"));
  let expected: string;
  if (b === null) expected = `${describeShape(want)} (fed as-is) or one per sample ${describeShape(["N", ...n(want)])}`;
  else {
    const samples = n(want);
    samples[b] = "N";
    const rows = n(want);
    rows[b] = 1;
    expected = `${describeShape(samples)} (samples along axis ${b}), one per row ${describeShape(["N", ...rows])} or one sample ${describeShape(without(n(want), b))}`;
  }
  const hint = b === null ? "" : `; if the samples run along another axis, say so with --sample-axis ${input.name}=AXIS`;
  return new QuantError("E_CALIB_SHAPE", `input '${input.name}' expects ${expected}, got ${describeShape(data)}${hint}`, { file, target: input.name });
}

/**
 * Move axis 0 of a C-order block `[n, ...outer, ...inner]` to position `b` (`[...outer, n, ...inner]`), where
 * `outer` is the product of the `b` dims before it and `inner` the bytes after them. Copies runs of `inner` bytes.
 */
export function moveAxis0(src: Uint8Array, n: number, outer: number, innerBytes: number, dst: Uint8Array): void {
  // Short runs (a batch axis last: one element each) are copied byte by byte: a view per run would allocate per element.
  const short = innerBytes < 64;
  for (let i = 0; i < n; i++) {
    for (let o = 0; o < outer; o++) {
      const from = (i * outer + o) * innerBytes;
      const to = (o * n + i) * innerBytes;
      if (short) for (let k = 0; k < innerBytes; k++) dst[to + k] = src[from + k]!;
      else dst.set(src.subarray(from, from + innerBytes), to);
    }
  }
}

/** Repeat one sample `[...outer, ...inner]` n times along a new axis between them (`[...outer, n, ...inner]`). */
export function tileAxis(src: Uint8Array, n: number, outer: number, innerBytes: number, dst: Uint8Array): void {
  for (let o = 0; o < outer; o++) {
    const from = o * innerBytes;
    const run = src.subarray(from, from + innerBytes);
    for (let i = 0; i < n; i++) dst.set(run, (o * n + i) * innerBytes);
  }
}
