/**
 * The accuracy search inside a pipeline run: before calibration it holds the evaluation samples out of the data;
 * between calibration and quantization it quantizes copies of the prepared model ("trials", from the calibrated
 * ranges, no new calibration), measures them against the float model in onnxruntime-node, builds the probe, runs
 * the search, and hands the chosen exclusions (or 8-bit layers) to the run's real quantization.
 */
import type { ConsolaInstance } from "consola";
import type { Model } from "../onnx/model.ts";
import { cloneModel } from "../onnx/codec.ts";
import type { DataOptions, QuantOptions } from "../kernel/options.ts";
import type { PackerPlugin, Plugin, PluginContext, QuantizerPlugin, RangeMap } from "../kernel/types.ts";
import { QuantError, reason } from "../errors/errors.ts";
import { isDefaultTarget } from "./defaults.ts";
import { RuntimeSession, SINGLE_THREAD } from "../runtime/session.ts";
import { openData } from "../data/open.ts";
import { modelInputs } from "../runtime/session.ts";
import { ACCURACY_EVAL_SAMPLES, DEFAULT_EVAL_SAMPLES, type EvalOutputs, type EvalSet, type HeldOutSplit, Scorer, heldOutSplit, openEvalSet, runEval } from "./evaluate.ts";
import { describeMeasured, exposeMeasured } from "./outputs.ts";
import { buildProbe } from "./probe.ts";
import { searchFallback } from "./search.ts";
import type { AccuracySearchSummary, AccuracyTarget, SearchBudget } from "../kernel/accuracy.ts";

/** The target the options ask for, if any. */
export function targetOf(o: QuantOptions): AccuracyTarget | undefined {
  if (o.targetSqnr && o.targetAccuracy !== undefined) throw new QuantError("E_USAGE", "give either --target-sqnr or --target-accuracy, not both");
  if (o.targetSqnr) return { kind: "sqnr", db: o.targetSqnr }; // 0: `--target-sqnr off`
  if (o.targetAccuracy !== undefined) {
    // Said before calibration, not after it.
    if (!o.labels) throw new QuantError("E_USAGE", "--target-accuracy needs --labels (one integer class per evaluation sample, .npy)");
    return { kind: "accuracy", drop: o.targetAccuracy };
  }
  return undefined;
}

/** What the pipeline hands the search. */
export interface SearchRun {
  model: Model;
  quantizers: readonly QuantizerPlugin[];
  packers: readonly PackerPlugin[];
  ranges: RangeMap;
  call<T>(p: Plugin, fn: (ctx: PluginContext) => T | Promise<T>): Promise<T>;
}

/** One accuracy search over one pipeline run. */
export class AccuracySearch {
  private split?: HeldOutSplit;
  private t0 = performance.now();
  private sessions = 0;
  constructor(readonly target: AccuracyTarget, readonly options: QuantOptions, readonly data: DataOptions, readonly logger: ConsolaInstance, readonly calibrates: boolean) {}

  /** Before calibration: hold the evaluation samples out of `--data` (calibration then reads only the first ones). */
  async beforeCalibrate(model: Model): Promise<void> {
    const o = this.data;
    if (!this.calibrates || this.options.evalData || o.data === undefined || o.statsIn) return;
    const opened = await openData(o.data, { inputs: o.inputs, sampleAxis: o.sampleAxis, shapes: o.shapes, seed: o.seed, images: typeof o.images === "string" ? { preset: o.images } : (o.images as never) }, modelInputs(model));
    const count = opened.dataset.count;
    opened.close();
    if (opened.random.length === modelInputs(model).length) return;
    this.split = heldOutSplit(count, o.samples, this.maxEval());
    o.samples = this.split.calibrate;
    this.logger.info(`accuracy target: calibrating on samples 0–${this.split.calibrate - 1}, evaluating on ${this.split.evalStart}–${this.split.evalStart + this.split.evalCount - 1} (held out)`);
  }

  private maxEval(): number {
    return this.target.kind === "accuracy" ? ACCURACY_EVAL_SAMPLES : DEFAULT_EVAL_SAMPLES;
  }

  private budgetSpent(): boolean {
    const b: SearchBudget | undefined = this.options.searchBudget;
    if (!b) return false;
    return "seconds" in b ? (performance.now() - this.t0) / 1000 >= b.seconds : this.sessions >= b.sessions;
  }

  private async session(model: Model): Promise<RuntimeSession> {
    this.sessions++;
    const t = performance.now();
    const s = await RuntimeSession.create(model, SINGLE_THREAD);
    this.logger.debug(`session ${this.sessions}: ${(performance.now() - t).toFixed(0)} ms to create (at ${((performance.now() - this.t0) / 1000).toFixed(1)} s)`);
    return s;
  }

  /**
   * Between calibration and quantization: search, and set the run's options to the result. When the target is
   * INT4's default (`given` marked by applyInt4DefaultTarget) and the model cannot be evaluated (inputs random data
   * cannot stand for, a model ORT cannot run), the search is skipped with a warning instead of failing the run.
   */
  async run(r: SearchRun, given?: object): Promise<AccuracySearchSummary | undefined> {
    if (!given || !isDefaultTarget(given)) return this.search(r);
    const saved = { exclude: this.options.exclude, layerBits: this.options.layerBits };
    try {
      return await this.search(r);
    } catch (e) {
      Object.assign(this.options, saved);
      this.logger.warn(`INT4 default accuracy target not checked (${reason(e)}); the quantizer's own 8-bit choice stands — pass --data to check it`);
      return undefined;
    }
  }

  private async search(r: SearchRun): Promise<AccuracySearchSummary> {
    this.t0 = performance.now(); // the budget and `seconds` count the search, not calibration
    const o = this.options;
    nameNodes(r.model);
    const set = await openEvalSet(r.model, this.data, o.evalData, this.split, o.labels, this.calibrates, this.maxEval());
    const int4 = o.bits === 4 && !this.calibrates;
    const action = int4 ? ("int8" as const) : ("float" as const);
    const baseExclude = [...o.exclude];
    const baseBits = { ...o.layerBits };
    const change = (nodes: readonly string[], all4: boolean) => int4
      ? { exclude: baseExclude, layerBits: { ...baseBits, ...Object.fromEntries(nodes.map((n) => [asPattern(n), 8])), ...(all4 ? { "*": 4 } : {}) } }
      : { exclude: [...baseExclude, ...nodes.map(asPattern)], layerBits: baseBits };

    // The float reference.
    const floatCopy = cloneModel(r.model);
    const names = exposeMeasured(floatCopy);
    const metric = `${this.target.kind === "sqnr" ? "output SQNR (dB)" : "top-1 accuracy"} on ${describeMeasured(r.model.proto.graph!)}`;
    const ref = await this.measure(floatCopy, set, names);
    const scorer = new Scorer(ref, this.target, set);
    const evalSource = set.source + (scorer.floatAccuracy !== undefined ? `; float accuracy ${scorer.floatAccuracy.toFixed(4)}` : "");

    const real = async (nodes: readonly string[], all4 = int4): Promise<{ out: EvalOutputs; model: Model }> => {
      const m = await this.trial(r, change(nodes, all4));
      const outputs = m.proto.graph!.output!.length;
      const out = await this.measure(m, set, exposeMeasured(m));
      m.proto.graph!.output!.length = outputs; // the probe is built from it: graph outputs as the model has them
      return { out, model: m };
    };
    const summary = (fields: Partial<AccuracySearchSummary> & Pick<AccuracySearchSummary, "achieved" | "baseline" | "met" | "totalNodes">): AccuracySearchSummary => ({
      target: this.target, metric, evalSource, floatNodes: 0, decisions: [], sessions: this.sessions, seconds: (performance.now() - this.t0) / 1000, ...fields,
    });

    // 1. As configured (INT4: with the quantizer's own 8-bit choices).
    const first = await real([], false);
    const baseline = scorer.value(first.out);
    if (scorer.meets(baseline)) {
      this.logger.info(`accuracy target met without fallback: ${scorer.format(baseline)}`);
      return summary({ achieved: baseline, baseline, met: true, totalNodes: countQuantizedNodes(first.model) });
    }
    // 2. The probe from the fully quantized model.
    const full = int4 ? (await real([], true)).model : first.model;
    const probe = buildProbe(r.model, full);
    const gateNames = probe.units.map((u) => u.gate);
    const probeNames = exposeMeasured(probe.model);
    const ps = await this.session(probe.model);
    // The ranking needs an order, not a figure to meet: one sample (one run per node) ranks; checks use them all.
    const rankSet: EvalSet = { ...set, batches: set.batches.slice(0, 1), count: set.step };
    this.logger.info(`accuracy search: ${scorer.format(baseline)} as quantized, target ${fmtTarget(this.target)}; ranking ${probe.units.length} nodes by isolated sensitivity on ${rankSet.count} sample(s), checking on ${set.count}`);
    try {
      const on = ps.tensor(Float32Array.of(1), [], 1), off = ps.tensor(Float32Array.of(0), [], 1);
      const gates = (isOn: (i: number) => boolean) => Object.fromEntries(gateNames.map((g, i) => [g, isOn(i) ? on : off]));
      const outcome = await searchFallback({
        units: probe.units,
        scorer,
        probe: (offSet) => runEval(ps, set, probeNames, gates((i) => !offSet.has(i))),
        isolated: (u) => runEval(ps, rankSet, probeNames, gates((i) => i === u)),
        real: async (offUnits) => (await real(offUnits.map((u) => probe.units[u]!.node))).out,
        exhausted: () => this.budgetSpent(),
        action,
        logger: this.logger,
      });
      if (this.logger.level >= 4) {
        const top = outcome.isolatedDb.map((db, i) => ({ db, u: probe.units[i]! })).sort((a, b) => a.db - b.db).slice(0, 15);
        this.logger.debug(`most sensitive alone: ${top.map((t) => `${t.u.node} ${t.db.toFixed(1)}`).join(", ")}`);
      }
      const chosen = outcome.off.map((u) => probe.units[u]!.node);
      // How concentrated the error is: what node-level fallback can do depends on it.
      const noise = outcome.isolatedDb.map((v) => (Number.isFinite(v) ? 10 ** (-v / 10) : 0)).sort((a, b) => b - a);
      const tenth = Math.max(1, Math.round(noise.length / 10));
      const total = noise.reduce((a, b) => a + b, 0);
      if (total > 0) this.logger.info(`the ${tenth} most sensitive node(s) (10 %) carry ${((100 * noise.slice(0, tenth).reduce((a, b) => a + b, 0)) / total).toFixed(0)} % of the summed isolated noise`);
      const c = change(chosen, int4);
      o.exclude = c.exclude;
      o.layerBits = c.layerBits;
      const verb = action === "float" ? "kept float" : "kept at 8 bits";
      (outcome.met ? this.logger.info : this.logger.warn)(`accuracy search: ${chosen.length} of ${probe.units.length} nodes ${verb}, ${scorer.format(outcome.achieved)} (target ${fmtTarget(this.target)}${outcome.met ? "" : ", NOT met"})`);
      if (int4) {
        // What 8 bits cost: half a byte more per weight element than 4 bits.
        let total = 0;
        for (const d of outcome.decisions) {
          const extra = weightElements(r.model, d.node) / 2;
          total += extra;
          d.reason += `; +${fmtKB(extra)} at 8 bits`;
        }
        this.logger.info(`INT4: ${chosen.length} layer(s) kept at 8 bits to meet ${fmtTarget(this.target)}: +${fmtKB(total)}`);
      }
      return summary({ achieved: outcome.achieved, baseline, met: outcome.met, totalNodes: probe.units.length, floatNodes: chosen.length, decisions: outcome.decisions, ...(outcome.why ? { why: outcome.why } : {}) });
    } finally {
      await ps.release();
    }
  }

  /** Outputs of `model` on the evaluation set (one session). */
  private async measure(model: Model, set: EvalSet, names: string[]): Promise<EvalOutputs> {
    const s = await this.session(model);
    try {
      return await runEval(s, set, names);
    } finally {
      await s.release();
    }
  }

  /** Quantize and pack a copy of the prepared model with other exclusions / layer bits. */
  private async trial(r: SearchRun, change: { exclude: string[]; layerBits: Record<string, number> }): Promise<Model> {
    const o = this.options;
    const saved = { exclude: o.exclude, layerBits: o.layerBits };
    const m = cloneModel(r.model);
    o.exclude = change.exclude;
    o.layerBits = change.layerBits;
    try {
      const pending = [];
      // Trials are quiet: the run's real quantization says what the quantizers have to say, once.
      for (const q of r.quantizers) pending.push(...(await r.call(q, (c) => q.quantize(m, { ranges: r.ranges }, quietly(c)))).pending);
      let open = pending;
      for (const p of r.packers) {
        if (!p.packGraph) continue;
        const done = new Set((await r.call(p, (c) => p.packGraph!(m, open, c))).packed);
        open = open.filter((t) => !done.has(t));
      }
      for (const t of open) {
        let packer: PackerPlugin | undefined;
        for (const p of r.packers) if (!packer && (await r.call(p, (c) => p.accepts(t, c)))) packer = p;
        if (!packer) throw new QuantError("E_CONFIG", `no packer accepts ${t.type} tensor "${t.tensor.name}"`);
        const chosen = packer;
        await r.call(chosen, (c) => chosen.pack(t, quietly(c)));
      }
      return m;
    } finally {
      o.exclude = saved.exclude;
      o.layerBits = saved.layerBits;
    }
  }
}

/** Give every unnamed main-graph node a unique name (exclusions and decisions name nodes). */
export function nameNodes(model: Model): void {
  const nodes = model.proto.graph?.node ?? [];
  const taken = new Set(nodes.map((n) => n.name).filter(Boolean));
  let i = 0;
  for (const n of nodes) {
    if (n.name) continue;
    let name: string;
    do name = `${n.op_type ?? "node"}_q${i++}`;
    while (taken.has(name));
    n.name = name;
    taken.add(name);
  }
}

/** Nodes of a quantized model that read a DequantizeLinear output (for a summary without a search). */
function countQuantizedNodes(model: Model): number {
  const g = model.proto.graph!;
  const dq = new Set((g.node ?? []).filter((n) => n.op_type === "DequantizeLinear" && !n.domain).map((n) => n.output?.[0]));
  return (g.node ?? []).filter((n) => n.op_type !== "QuantizeLinear" && n.op_type !== "DequantizeLinear" && (n.input ?? []).some((x) => dq.has(x))).length;
}

/** "25 dB" / "≤ 0.01 accuracy drop". */
export function fmtTarget(t: AccuracyTarget): string {
  return t.kind === "sqnr" ? `${t.db} dB` : `≤ ${t.drop} accuracy drop`;
}

/** Elements of the float weights (initializers of rank ≥ 2) a node reads. */
function weightElements(model: Model, node: string): number {
  const g = model.proto.graph!;
  const n = (g.node ?? []).find((x) => x.name === node);
  const inits = new Map((g.initializer ?? []).map((t) => [t.name, t]));
  let e = 0;
  for (const i of n?.input ?? []) {
    const t = inits.get(i);
    if (t && (t.dims?.length ?? 0) >= 2) e += (t.dims ?? []).reduce((a: number, b) => a * Number(b), 1);
  }
  return e;
}

const fmtKB = (bytes: number) => (bytes >= 2 ** 20 ? `${(bytes / 2 ** 20).toFixed(2)} MB` : `${(bytes / 1024).toFixed(1)} KB`);

/** A plugin context whose logger and progress say nothing (errors still throw). */
function quietly(c: PluginContext): PluginContext {
  const mute = () => {};
  const logger = Object.assign(Object.create(c.logger), { log: mute, info: mute, warn: mute, debug: mute, success: mute, start: mute, box: mute, ready: mute, trace: mute, verbose: mute });
  logger.withTag = () => logger;
  return { ...c, logger, progress: mute };
}

/**
 * A node name as an exclusion pattern matching that name: patterns with `*`, `?` or `[` are globs, so those
 * characters become `?` (any one character — the name itself among what it matches).
 */
export const asPattern = (name: string): string => name.replace(/[*?[]/g, "?");
