/**
 * The runner: runs an ordered plugin chain over a model, phase by phase.
 *   load ─► prepare ─► calibrate ─► quantize ─► pack ─► export ─► validate
 * Plugins of each kind run in chain order; data moves only through return values. Every hook call is wrapped so a
 * failure names the plugin, the phase and the tensor/node it was working on.
 */
import { statSync } from "node:fs";
import type { ConsolaInstance } from "consola";
import { defaultLogger } from "../kernel/logger.ts";
import { unmatchedPatterns } from "../quant/select.ts";
import { QuantError, isQuantError, reason } from "../errors/errors.ts";
import { OutputTransaction, writeFileAtomic } from "../io/atomic.ts";
import { realTarget } from "../io/files.ts";
import { testHook } from "../io/cleanup.ts";
import { assertQuantizedSomething, graphSignature } from "./nothing.ts";
import { splitRunOptions, type RunOptions } from "../kernel/options.ts";
import { createRunData } from "./run-data.ts";
import type { EventSink, Phase } from "../kernel/events.ts";
import type { Artifact, Diagnostic, PackerPlugin, PendingTensor, Plugin, PluginContext, ReportEntry, RunState } from "../kernel/types.ts";
import { cloneModel, loadModel } from "../onnx/codec.ts";
import { inputsOf } from "../onnx/data-files.ts";
import type { Model } from "../onnx/model.ts";
import { normalizeOnLoad } from "../onnx/load-normalize.ts";
import { spillPacked } from "../quant/stream.ts";
import { decideOpset, defaultOpset, describeNeeds, type OpsetNeed } from "./opset.ts";

export { defaultOpset } from "./opset.ts";

/** Input of {@link runPipeline}. */
export interface RunInput {
  /** A loaded model, a path, or model bytes. */
  model: Model | string | Uint8Array;
  /** The plugin chain, in order. */
  plugins: readonly Plugin[];
  /**
   * Options of the run: the plugins' options (`ctx.options`) and the data options (`data`, `samples`, `shapes`,
   * `statsIn`, …), which the runner keeps: it opens the data and hands it to plugins as `ctx.data`.
   */
  options?: Partial<RunOptions>;
  logger?: ConsolaInstance;
  onEvent?: EventSink;
  /** Write artifacts (default true). */
  write?: boolean;
  /**
   * Fail with E_NOTHING_QUANTIZED, before anything is written, when the quantizers quantized nothing and left the
   * graph as it was (the CLI sets it: a command never exits 0 having done nothing). Default false: a library caller
   * inspects `entries`.
   */
  requireQuantized?: boolean;
}

/** What a run produced. */
export interface RunResult extends RunState {
  accuracySearch?: RunState["accuracySearch"];
  /** Written files; `staged` is the temp file holding an artifact's content while validators run (before publish). */
  artifacts: { path: string; kind: string; bytes: number; staged?: string }[];
  diagnostics: Diagnostic[];
  timings: Partial<Record<Phase, number>>;
  /** Default-domain opset of the input and of the output, and what the chain declared it needs. */
  opset: { from: number; to: number; needs: OpsetNeed[] };
  /** Activation tensors that could not be observed (kept float). */
  unobservable: string[];
  /** What the kernel settled on load (initializers made constants, …) and the quantizers' notes about the run, for the summary. */
  notes: string[];
  /** Size of the input: model file plus every external data file it reads (0 for a model given as bytes). */
  inputBytes: number;
}

/** The run state as the runner writes it; plugins and callers see it read-only ({@link RunState}, {@link RunResult}). */
type RunRecord = { -readonly [K in keyof RunResult]: RunResult[K] } & { entries: ReportEntry[]; pending: PendingTensor[] };

const byKind = <K extends Plugin["kind"]>(plugins: readonly Plugin[], kind: K) =>
  plugins.filter((p): p is Extract<Plugin, { kind: K }> => p.kind === kind);

/**
 * Run the plugin chain on a model.
 * @example
 * const result = await runPipeline({ model: "model.onnx", plugins: [weightOnly(), int8(), onnx()], options: { output: "out.onnx" } });
 */
export async function runPipeline(input: RunInput): Promise<RunResult> {
  const { options, data: dataOptions } = splitRunOptions(input.options);
  const runData = createRunData(dataOptions);
  const root = input.logger ?? defaultLogger;
  const emit: EventSink = input.onEvent ?? (() => {});
  const timings: Partial<Record<Phase, number>> = {};
  let phase: Phase = "load";

  const contexts = new Map<Plugin, PluginContext & { target?: string }>();
  const ctxOf = (p: Plugin) => {
    let c = contexts.get(p);
    if (!c) {
      const ctx: PluginContext & { target?: string } = {
        logger: root.withTag(p.name),
        options,
        data: runData,
        progress: (done, total, label) => emit({ type: "progress", phase, plugin: p.name, done, total, label }),
        at: (t) => void (ctx.target = t),
      };
      contexts.set(p, (c = ctx));
    }
    return c;
  };
  /** Call a plugin hook with attribution of failures. */
  const call = async <T>(p: Plugin, fn: (ctx: PluginContext) => T | Promise<T>): Promise<T> => {
    const ctx = ctxOf(p);
    ctx.target = undefined;
    const t0 = performance.now();
    emit({ type: "plugin:start", phase, plugin: p.name, kind: p.kind });
    try {
      return await fn(ctx);
    } catch (e) {
      throw attribute(e, p, phase, ctx.target);
    } finally {
      emit({ type: "plugin:end", phase, plugin: p.name, kind: p.kind, ms: performance.now() - t0 });
    }
  };
  const enter = async <T>(ph: Phase, fn: () => Promise<T>): Promise<T> => {
    phase = ph;
    emit({ type: "phase:start", phase: ph });
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      timings[ph] = performance.now() - t0;
      emit({ type: "phase:end", phase: ph, ms: timings[ph]! });
    }
  };

  const plugins = input.plugins;
  const seen = new Set<string>();
  for (const p of plugins) {
    const key = `${p.kind}:${p.name}`;
    if (seen.has(key)) throw new QuantError("E_CONFIG", `plugin "${p.name}" (${p.kind}) appears twice in the chain`);
    seen.add(key);
  }

  const given = input.model;
  const loadedHere = typeof given === "string" || given instanceof Uint8Array;
  const model = await enter("load", async () => (typeof given === "string" || given instanceof Uint8Array ? loadModel(given) : given));
  const from = defaultOpset(model);
  // The input model and every data file it reads, by identity: no output may replace them (checked now, before any
  // work, and again before each file is written and renamed).
  const protect = inputsOf(model);
  // Calibration inputs are inputs too (a folder's files are not listed: only a file given by name).
  for (const f of [dataOptions.data, dataOptions.statsIn]) if (typeof f === "string") protect.add(f, f);
  if (options.output && input.write !== false) {
    try {
      protect.check(realTarget(options.output), options.output);
    } catch (e) {
      model.external?.close();
      throw e;
    }
  }
  const txn = new OutputTransaction(protect);
  let inputBytes = model.external?.totalBytes() ?? 0;
  try {
    if (model.path) inputBytes += statSync(model.path).size;
  } catch {
    // a model given as bytes or a file since removed: data files only
  }
  // The run state: what plugins read (`original`, `model`, ranges, entries) and what the run returns, one object.
  const result: RunRecord = {
    // An untouched copy, taken before any pass mutates the proto (decoding again from the same bytes is cheap: weights stay views).
    original: cloneModel(model, loadedHere),
    model,
    ranges: new Map(),
    entries: [],
    pending: [],
    calibration: undefined,
    artifacts: [],
    diagnostics: [],
    timings,
    opset: { from, to: from, needs: [] },
    unobservable: [],
    inputBytes,
    notes: [],
  };
  result.notes = normalizeOnLoad(model, options, root);

  const setupDone: Plugin[] = [];
  try {
    for (const p of plugins) {
      if (p.setup) await call(p, (c) => p.setup!(c));
      setupDone.push(p);
    }

    await enter("prepare", async () => {
      // The output opset is decided and reached first, before any pass, calibration or rewrite.
      const decision = await decideOpset(result.model, plugins, options, call);
      result.opset.needs = decision.needs;
      if (decision.to !== decision.from) {
        const { convertOpset } = await import("../onnx/opset/index.ts");
        try {
          convertOpset(result.model, decision.to);
        } catch (e) {
          if (isQuantError(e) && e.code === "E_OPSET" && decision.needs.length)
            throw new QuantError("E_OPSET", `${e.message} (the output needs opset ${decision.needed}: ${describeNeeds(decision.needs.filter((n) => n.opset > decision.from))})`, { ...e.site, cause: e });
          throw e;
        }
      }
      result.opset.to = defaultOpset(result.model);
      for (const p of byKind(plugins, "pass")) {
        const out = await call(p, (c) => p.run(result.model, c));
        if (out && out !== result.model) result.model = out;
      }
    });

    const quantizers = byKind(plugins, "quantizer");
    // A selection pattern that matches nothing is almost always a typo: say so before quantizing.
    if (quantizers.length) for (const w of unmatchedPatterns(result.model.proto, options)) root.warn(w);
    const target = (await import("../accuracy/run.ts")).targetOf(options);
    const search = target && quantizers.length ? new (await import("../accuracy/run.ts")).AccuracySearch(target, options, dataOptions, root, quantizers.some((q) => !!q.activations)) : undefined;
    if (search) await search.beforeCalibrate(result.model);
    await enter("calibrate", async () => {
      const wanted = new Set<string>();
      for (const q of quantizers) if (q.activations) for (const t of await call(q, (c) => q.activations!(result.model, c))) wanted.add(t);
      if (wanted.size === 0) return;
      const calibrators = byKind(plugins, "calibrator");
      const { runCalibration } = await import("./calibration.ts");
      const out = await runCalibration(result.model, [...wanted], calibrators, { batchSize: options.batchSize, data: dataOptions, runData }, {
        call: (p, fn) => call(p, fn),
        ctxOf,
        logger: root,
        progress: (done, total) => emit({ type: "progress", phase: "calibrate", done, total, label: "samples" }),
        protect,
      });
      result.ranges = out.ranges;
      result.calibration = out.states;
      result.unobservable = out.unobservable;
    });

    let minOpset = 0; // lowest default-domain opset the quantizers' and packers' output needs
    await enter("quantize", async () => {
      // The accuracy target: trials from the calibrated ranges decide what the real quantization keeps float.
      if (search) result.accuracySearch = await search.run({ model: result.model, quantizers, packers: byKind(plugins, "packer") as PackerPlugin[], ranges: result.ranges, call }, input.options);
      const before = input.requireQuantized && quantizers.length ? graphSignature(result.model) : undefined;
      for (const q of quantizers) {
        const r = await call(q, (c) => q.quantize(result.model, { ranges: result.ranges }, c));
        result.pending.push(...r.pending);
        result.entries.push(...r.entries);
        minOpset = Math.max(minOpset, r.minOpset ?? 0);
        result.notes.push(...(r.notes ?? []));
      }
      if (before !== undefined) assertQuantizedSomething(result.entries, result.pending, result.model, before);
    });

    await enter("pack", async () => {
      const packers = byKind(plugins, "packer");
      let open = result.pending;
      for (const p of packers) {
        if (!p.packGraph) continue;
        const r = await call(p, (c) => p.packGraph!(result.model, open, c));
        const done = new Set(r.packed);
        open = open.filter((t) => !done.has(t));
        if (r.entries) result.entries.push(...r.entries);
        minOpset = Math.max(minOpset, r.minOpset ?? 0);
      }
      for (const t of open) {
        const packer = packers.find((p) => p.accepts(t, ctxOf(p)));
        if (!packer)
          throw new QuantError("E_CONFIG", `no packer in the chain accepts ${t.type} tensor "${t.tensor.name}" (packers: ${packers.map((p) => p.name).join(", ") || "none"})`, { phase: "pack", target: t.tensor.name });
        const r = await call(packer, (c) => (c.at(t.tensor.name), packer.pack(t, c)));
        minOpset = Math.max(minOpset, r?.minOpset ?? 0);
        spillPacked(result.model, t); // a streaming run keeps packed bytes on disk, not in memory
      }
      // Safety net for quantizers/packers that did not declare their needs up front (`requires` / `minOpset`).
      const current = defaultOpset(result.model);
      if (minOpset > current) {
        if (options.opset !== undefined)
          throw new QuantError("E_OPSET", `--opset ${options.opset} is too low: this output needs opset ${minOpset} (per-channel axis needs 13, block_size and Int4 storage need 21)`, { phase: "pack" });
        const silent = plugins.filter((p) => (p.kind === "quantizer" && !p.requires) || (p.kind === "packer" && !p.minOpset)).map((p) => p.name);
        root.warn(`the output needs opset ${minOpset}, more than declared up front${silent.length ? ` (plugins without requires/minOpset: ${silent.join(", ")})` : ""}; converting after the rewrite`);
        const { convertOpset } = await import("../onnx/opset/index.ts");
        convertOpset(result.model, minOpset);
      }
      result.opset.to = defaultOpset(result.model);
    });

    await enter("export", async () => {
      for (const ex of byKind(plugins, "exporter")) {
        const arts = await call(ex, (c) => ex.export(result, c));
        if (input.write === false) {
          for (const a of arts) result.artifacts.push({ path: a.path, kind: a.kind, bytes: 0 });
          continue;
        }
        // Staged, not published: renames wait until the outputs were checked and validated.
        for (const a of arts) result.artifacts.push(await call(ex, (c) => (c.at(a.path), txn.run(() => writeArtifact(a)))));
      }
    });

    await enter("validate", async () => {
      const { checkStagedModel } = await import("./output-check.ts");
      for (const a of result.artifacts) {
        const temp = txn.tempOf(a.path);
        if (!temp) continue;
        a.staged = temp;
        if (a.kind === "onnx") result.diagnostics.push(...(await checkStagedModel(temp, a.path, { ort: options.ortCheck !== false, ortMaxBytes: options.ortCheckMaxBytes, logger: root })));
      }
      for (const v of byKind(plugins, "validator")) {
        const ds = await call(v, (c) => v.validate(result, c));
        result.diagnostics.push(...ds.map((d) => ({ ...d, code: d.code || v.name })));
      }
      const errors = result.diagnostics.filter((d) => d.level === "error");
      if (errors.length)
        throw new QuantError("E_VALIDATE", `${errors.length} validation error(s): ${errors.map((d) => `${d.code}${d.target ? ` (${d.target})` : ""}: ${d.message}`).join("; ")}`, { phase: "validate" });
    });
    testHook("before-publish");
    txn.publish();
    for (const a of result.artifacts) delete a.staged;
    return result;
  } finally {
    txn.abort(); // no-op once published: a failed run removes every staged file and leaves old outputs untouched
    for (const p of setupDone.reverse()) {
      if (!p.cleanup) continue;
      try {
        await p.cleanup(ctxOf(p));
      } catch (e) {
        root.warn(`cleanup of plugin "${p.name}" failed: ${reason(e)}`);
      }
    }
    await runData.close();
    model.external?.close();
  }
}

/** Write one artifact atomically. */
function writeArtifact(a: Artifact): { path: string; kind: string; bytes: number } {
  if ("data" in a) {
    writeFileAtomic(a.path, a.data);
    return { path: a.path, kind: a.kind, bytes: typeof a.data === "string" ? Buffer.byteLength(a.data) : a.data.byteLength };
  }
  return { path: a.path, kind: a.kind, bytes: a.write(a.path).bytes };
}

/** Wrap any failure as a QuantError naming plugin, phase and target. */
export function attribute(e: unknown, p: Plugin, phase: Phase, target?: string): QuantError {
  if (isQuantError(e)) {
    const site = e.site as { plugin?: string; phase?: string; target?: string };
    site.plugin ??= p.name;
    site.phase ??= phase;
    site.target ??= target;
    return e;
  }
  return new QuantError("E_PLUGIN", `plugin "${p.name}" failed in ${phase}${target ? ` on ${target}` : ""}: ${reason(e)}`, { plugin: p.name, phase, target, cause: e });
}
