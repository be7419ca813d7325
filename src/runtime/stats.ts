/**
 * Calibration stats files (`--stats-out` / `--stats-in`): versioned JSON holding the ranges and every calibrator's
 * serialized state, so a user re-quantizes without running inference again, and shards calibrated on different
 * machines merge (each calibrator restores both states and merges them; the ranges are recomputed from the merge).
 *
 * ```json
 * { "format": "quant-calibration-stats", "version": 1, "samples": 512, "model": { "fingerprint": "…" },
 *   "ranges": { "conv1": [-1.5, 3.25] }, "unobservable": ["loop_body_x"],
 *   "calibrators": [{ "name": "percentile", "options": { "percentile": 99.99 }, "state": { … } }] }
 * ```
 * Non-finite range ends are written as the strings "Infinity" / "-Infinity" (JSON has no such numbers).
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { requireRegularFile } from "../io/files.ts";
import { QuantError, reason } from "../errors/errors.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import type { CalibratorPlugin, PluginContext, Range, RangeMap } from "../kernel/types.ts";
import type { Model } from "../onnx/model.ts";
import { finalizeChain, type CalibratorEntry } from "./calibrate.ts";

/** The `format` tag of a stats file. */
export const STATS_FORMAT = "quant-calibration-stats";
/** The version this code writes (and the newest it reads). */
export const STATS_VERSION = 1;

/** A JSON number, or a non-finite one spelled as a string. */
type JsonNumber = number | "Infinity" | "-Infinity";

/** One calibrator of the chain as saved. */
export interface StatsCalibrator {
  name: string;
  options?: Record<string, unknown>;
  /** The state's `toJSON()`. */
  state: unknown;
}

/** A stats file. */
export interface StatsFile {
  format: typeof STATS_FORMAT;
  version: number;
  /** Samples observed (summed over merged shards). */
  samples: number;
  /** Which model the stats are for (the merge refuses shards of different graphs). */
  model?: { file?: string; fingerprint?: string };
  /** [min, max] per tensor. */
  ranges: Record<string, [JsonNumber, JsonNumber]>;
  /** Tensors that could not be observed (they stay float). */
  unobservable?: string[];
  /** The calibrator chain, in order. */
  calibrators: StatsCalibrator[];
}

const enc = (v: number): JsonNumber => (Number.isFinite(v) ? v + 0 : v > 0 ? "Infinity" : "-Infinity");
const dec = (v: unknown): number => (v === "Infinity" ? Infinity : v === "-Infinity" ? -Infinity : typeof v === "number" ? v : NaN);

/**
 * A fingerprint of the model's graph structure (node types and wiring, input/output and initializer names and dims),
 * cheap to compute and independent of weight values and of how the file stores them.
 */
export function graphFingerprint(model: Model): string {
  const g = model.proto.graph;
  const h = createHash("sha256");
  for (const n of g?.node ?? []) h.update(`${n.domain ?? ""}:${n.op_type}(${(n.input ?? []).join(",")})->${(n.output ?? []).join(",")};`);
  for (const v of g?.input ?? []) h.update(`in:${v.name};`);
  for (const v of g?.output ?? []) h.update(`out:${v.name};`);
  for (const t of g?.initializer ?? []) h.update(`init:${t.name}[${(t.dims ?? []).join(",")}];`);
  return h.digest("hex").slice(0, 32);
}

/** Build a stats file from a finished calibration. */
export function statsFromCalibration(input: {
  ranges: RangeMap;
  calibrators: readonly CalibratorEntry[];
  samples: number;
  unobservable?: readonly string[];
  model?: Model;
}): StatsFile {
  const ranges: StatsFile["ranges"] = {};
  for (const t of [...input.ranges.keys()].sort()) {
    const r = input.ranges.get(t)!;
    ranges[t] = [enc(r.min), enc(r.max)];
  }
  return {
    format: STATS_FORMAT,
    version: STATS_VERSION,
    samples: input.samples,
    ...(input.model ? { model: { ...(input.model.path ? { file: input.model.path.split(/[\\/]/).pop() } : {}), fingerprint: graphFingerprint(input.model) } } : {}),
    ranges,
    ...(input.unobservable?.length ? { unobservable: [...input.unobservable].sort() } : {}),
    calibrators: input.calibrators.map((c) => ({
      name: c.plugin.name,
      ...(c.plugin.options && Object.keys(c.plugin.options).length ? { options: { ...c.plugin.options } } : {}),
      state: c.state.toJSON(),
    })),
  };
}

/** Check the shape of a parsed stats file; throws E_CALIB_STATS with what is wrong. */
export function parseStats(json: unknown, file?: string): StatsFile {
  const bad = (why: string) => new QuantError("E_CALIB_STATS", why, { file });
  const j = json as Partial<StatsFile> | null;
  if (typeof j !== "object" || j === null || j.format !== STATS_FORMAT) throw bad(`not a quant stats file (expected "format": "${STATS_FORMAT}")`);
  if (typeof j.version !== "number" || !Number.isInteger(j.version) || j.version < 1) throw bad(`bad stats file version ${String(j.version)}`);
  if (j.version > STATS_VERSION) throw bad(`stats file version ${j.version} was written by a newer quant (this one reads up to ${STATS_VERSION}); upgrade quant`);
  if (typeof j.samples !== "number" || !(j.samples >= 0)) throw bad(`"samples" must be a count`);
  if (typeof j.ranges !== "object" || j.ranges === null) throw bad(`"ranges" must be an object of [min, max] pairs`);
  for (const [t, r] of Object.entries(j.ranges)) {
    if (!Array.isArray(r) || r.length !== 2) throw bad(`range of "${t}" must be [min, max]`);
    const [lo, hi] = [dec(r[0]), dec(r[1])];
    if (Number.isNaN(lo) || Number.isNaN(hi) || lo > hi) throw bad(`range of "${t}" is not a valid [min, max]: ${JSON.stringify(r)}`);
  }
  if (!Array.isArray(j.calibrators) || j.calibrators.some((c) => typeof c !== "object" || c === null || typeof c.name !== "string"))
    throw bad(`"calibrators" must be a list of { name, state }`);
  return j as StatsFile;
}

/** Read and check a stats file. */
export function readStats(path: string): StatsFile {
  let text: string;
  requireRegularFile(path, "E_CALIB_STATS", "the stats file");
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new QuantError("E_CALIB_STATS", `cannot read the stats file (${(e as NodeJS.ErrnoException).code ?? reason(e)})`, { file: path, cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new QuantError("E_CALIB_STATS", `the stats file is not valid JSON (${reason(e)})`, { file: path, cause: e });
  }
  return parseStats(json, path);
}

/** Write a stats file atomically (compact JSON: histogram states are large). */
export function writeStats(path: string, stats: StatsFile): void {
  writeFileAtomic(path, `${JSON.stringify(stats)}\n`);
}

/** The ranges saved in a stats file. */
export function statsRanges(stats: StatsFile): RangeMap {
  const out: RangeMap = new Map();
  for (const [t, [lo, hi]] of Object.entries(stats.ranges)) out.set(t, { min: dec(lo), max: dec(hi) } satisfies Range);
  return out;
}

const isHistogramState = (s: unknown): s is { calibrator: string; bins: number; tensors: object } =>
  !!s && typeof s === "object" && typeof (s as { calibrator?: unknown }).calibrator === "string" && typeof (s as { bins?: unknown }).bins === "number" && typeof (s as { tensors?: unknown }).tensors === "object";

/**
 * Histograms are method-independent: a calibrator working from histograms (percentile, entropy, mse, a user's) can
 * restore from any saved histogram state — another histogram method's or the recorder `--stats-out` adds to a minmax
 * run — relabelled with its own name.
 */
function histogramFor(stats: StatsFile, plugin: CalibratorPlugin): StatsCalibrator | undefined {
  if (plugin.needs !== "values") return undefined;
  const h = stats.calibrators.find((c) => isHistogramState(c.state));
  return h && { name: plugin.name, state: { ...(h.state as object), calibrator: plugin.name } };
}

/**
 * Restore the states of `plugins` (the current chain, in its order) from a stats file, by calibrator name. A plugin
 * whose state the file lacks, or that cannot restore, is E_CALIB_STATS: those ranges need a new calibration.
 */
export function restoreCalibrators(stats: StatsFile, plugins: readonly CalibratorPlugin[], ctx: PluginContext | ((p: CalibratorPlugin) => PluginContext)): CalibratorEntry[] {
  const ctxOf = typeof ctx === "function" ? ctx : () => ctx;
  return plugins.map((plugin) => {
    const saved = stats.calibrators.find((c) => c.name === plugin.name) ?? histogramFor(stats, plugin);
    if (!saved)
      throw new QuantError("E_CALIB_STATS", `the stats file has no ${plugin.name} state (it holds ${stats.calibrators.map((c) => c.name).join(", ") || "none"}); use that method or re-calibrate`, { plugin: plugin.name });
    if (!plugin.restore) throw new QuantError("E_CALIB_STATS", `calibrator ${plugin.name} cannot restore a saved state; re-calibrate`, { plugin: plugin.name });
    try {
      return { plugin, state: plugin.restore(saved.state, ctxOf(plugin)) };
    } catch (e) {
      if (e instanceof QuantError) throw e;
      throw new QuantError("E_CALIB_STATS", `calibrator ${plugin.name} cannot read its saved state (${reason(e)})`, { plugin: plugin.name, cause: e });
    }
  });
}

/** Ranges recomputed from the saved states with the current plugins (e.g. another percentile), chain order. */
export function rangesFromStats(stats: StatsFile, plugins: readonly CalibratorPlugin[], ctx: PluginContext | ((p: CalibratorPlugin) => PluginContext)): RangeMap {
  return finalizeChain(restoreCalibrators(stats, plugins, ctx));
}

/**
 * `--stats-in`: read a stats file and restore the chain's states; ranges are recomputed from them with the current
 * plugins (so a changed option such as the percentile applies without inference).
 */
export function loadStats(
  path: string,
  plugins: readonly CalibratorPlugin[],
  ctx: PluginContext | ((p: CalibratorPlugin) => PluginContext),
): { ranges: RangeMap; states: { plugin: string; state: CalibratorEntry["state"] }[]; unobservable: string[]; stats: StatsFile } {
  const stats = readStats(path);
  let entries: CalibratorEntry[];
  try {
    entries = restoreCalibrators(stats, plugins, ctx);
  } catch (e) {
    if (e instanceof QuantError && !e.site.file) throw new QuantError(e.code, e.message, { ...e.site, file: path, cause: e });
    throw e;
  }
  return { ranges: finalizeChain(entries), states: entries.map((e) => ({ plugin: e.plugin.name, state: e.state })), unobservable: stats.unobservable ?? [], stats };
}

/** `--stats-out`: write the ranges and states of a finished calibration (see {@link statsFromCalibration}). */
export function saveStats(path: string, input: Parameters<typeof statsFromCalibration>[0]): StatsFile {
  const stats = statsFromCalibration(input);
  writeStats(path, stats);
  return stats;
}

/**
 * Merge two shards: both must hold the same calibrator chain (and the same graph, when fingerprinted). Each calibrator
 * restores both states and merges the second into the first; ranges are recomputed from the merged states.
 * @example writeStats("all.json", mergeStats(readStats("a.json"), readStats("b.json"), plugins, ctx));
 */
export function mergeStats(a: StatsFile, b: StatsFile, plugins: readonly CalibratorPlugin[], ctx: PluginContext): StatsFile {
  const names = (s: StatsFile) => s.calibrators.map((c) => c.name).join(",");
  if (names(a) !== names(b)) throw new QuantError("E_CALIB_STATS", `cannot merge stats of different calibrator chains (${names(a) || "none"} vs ${names(b) || "none"})`);
  if (a.model?.fingerprint && b.model?.fingerprint && a.model.fingerprint !== b.model.fingerprint)
    throw new QuantError("E_CALIB_STATS", "cannot merge stats of different models (graph fingerprints differ)");
  const chain = a.calibrators.map((c) => {
    const p = plugins.find((x) => x.name === c.name);
    if (!p) throw new QuantError("E_CALIB_STATS", `no ${c.name} calibrator to restore its state with`, { plugin: c.name });
    return p;
  });
  const left = restoreCalibrators(a, chain, ctx);
  const right = restoreCalibrators(b, chain, ctx);
  left.forEach((e, i) => {
    try {
      e.state.merge(right[i]!.state);
    } catch (err) {
      if (err instanceof QuantError) throw err;
      throw new QuantError("E_CALIB_STATS", `calibrator ${e.plugin.name} cannot merge the shards (${reason(err)})`, { plugin: e.plugin.name, cause: err });
    }
  });
  const unobservable = [...new Set([...(a.unobservable ?? []), ...(b.unobservable ?? [])])];
  const merged = statsFromCalibration({ ranges: finalizeChain(left), calibrators: left, samples: a.samples + b.samples, unobservable });
  // Keep the options the shards were calibrated with, not whatever the current plugins were made with.
  merged.calibrators.forEach((c, i) => {
    const o = a.calibrators[i]!.options;
    if (o) c.options = o;
    else delete c.options;
  });
  const model = a.model ?? b.model;
  const { format, version, samples, ranges, calibrators } = merged;
  return { format, version, samples, ...(model ? { model } : {}), ranges, ...(merged.unobservable ? { unobservable: merged.unobservable } : {}), calibrators };
}
