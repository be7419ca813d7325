/**
 * `weight-only` quantizer: every selected float weight becomes integer + scale + zero point + DequantizeLinear
 * (output keeps the weight's name). Per-tensor, per-channel (axis from the consumer op) or block-wise (along the
 * reduction axis); INT8/INT4, symmetric (default) or not, optional clip search. Activations stay float.
 *
 * INT4 default selection: 4 bits cost every layer about the same weight error, but not the same output error. The
 * quantizer measures, in onnxruntime-node, how much each layer quantized alone disturbs the outputs, and keeps at
 * 8 bits the layers whose output noise per byte saved is far above the average (embeddings projections and
 * classifier heads, typically). When it cannot measure, it keeps the output layer and low-SQNR layers at 8 bits.
 */
import {
  GraphIndex, granularityLabel, QuantError, isQuantError, alreadyQuantizedError, defineQuantizer, describeQuantOps, isQuantOp, isQuantized, dequantizeWeights, findWeights, layerBitsFor, matchesAny, quantizeWeights,
  replaceWithDequantize, tensorFloat32, weightUse, readsShapeOnly, explicitPerms, agreedAxis, DataType, dataTypeName, isOnnxOp, weightSensitivity, modelInputs,
  quantizeInParallel, streamPlan, withoutValues, lazyPending, spillTensor, DEFAULT_STREAM_ABOVE,
  type Granularity, type IntType, type Model, type PendingTensor, type PluginContext, type QuantType, type QuantizedWeights,
  type ReportEntry, type Weight, type WeightRole, type WeightUse, type OptionKeys,
} from "../../src/index.ts";

/** Options of the `weight-only` quantizer (each defaults to the run's global option). */
export interface WeightOnlyOptions {
  opTypes?: string[];
  bits?: 4 | 8;
  perChannel?: boolean;
  blockSize?: number;
  symmetric?: boolean;
  clipSearch?: boolean;
  /**
   * INT4 default selection: measure each layer's output sensitivity in onnxruntime-node on this many samples
   * (calibration data when given, else random) — `false` to skip the measurement. Default: up to 4 samples within
   * about 3 s of estimated time (fewer on big models; none, with the weight SQNR rule instead, when one sample would
   * take over 7.5 s). The estimate counts the model's multiply-accumulates at a fixed rate, so the choice, and the
   * output's bytes, do not depend on the machine's load.
   */
  sensitivity?: number | false;
  /** A layer stays at 8 bits when its output noise per byte saved exceeds this multiple of the average. Default 4. */
  sensitivityFactor?: number;
  /** Without a measurement: layers whose INT4 weight SQNR is below this (dB) stay at 8 bits. Default 16. */
  int4FallbackDb?: number;
}

/** The options this plugin takes: a config giving any other key is refused (E_CONFIG). */
export const optionKeys: OptionKeys<WeightOnlyOptions> = { opTypes: true, bits: true, perChannel: true, blockSize: true, symmetric: true, clipSearch: true, sensitivity: true, sensitivityFactor: true, int4FallbackDb: true };


const DEFAULT_OPS = ["Conv", "ConvTranspose", "MatMul", "Gemm", "Gather", "LSTM", "GRU", "RNN"];
/** Input slot of the bias of ops that have one (kept float: it is small and added in float). */
const BIAS_SLOT: Record<string, number> = { Conv: 2, ConvTranspose: 2, Gemm: 2, LSTM: 3, GRU: 3, RNN: 3 };
/** Candidate weights beyond this many bytes are not probed (the probe feeds a float copy of each). */
const PROBE_LIMIT = 1 << 30;

interface Choice {
  w: Weight;
  /** The float values (read again on each access when the run streams). */
  readonly data: Float32Array;
  roles: WeightRole[];
  uses: WeightUse[];
  names: (string | undefined)[];
  bits: number;
  explicitBits: boolean;
  q: QuantizedWeights;
  granularity: Granularity;
  sqnr: number;
  note?: string;
}

/** Does a consumer of the weight produce a main-graph output (a classifier head)? */
function feedsGraphOutput(index: GraphIndex, w: Weight): boolean {
  const main = index.main.graph;
  return w.consumers.some((c) => c.graph === main && (c.node.output ?? []).some((o) => index.isGraphOutput(o, main)));
}

/** Integer types the options can produce (INT4 runs may keep layers at 8 bits). */
function emittedTypes(opts: WeightOnlyOptions, ctx: PluginContext): IntType[] {
  const o = ctx.options;
  const fourBit = (opts.bits ?? o.bits) === 4 || Object.values(o.layerBits ?? {}).some((b) => Number(b) === 4);
  const unsigned = o.weightType === "uint8";
  return [unsigned ? "uint8" : "int8", ...(fourBit ? [unsigned ? "uint4" : "int4"] as const : [])];
}

/** The use the report names (the one through a data-movement chain, when there is one) and that chain. */
function reportedUse(uses: readonly WeightUse[]): Pick<ReportEntry, "node" | "opType" | "via"> {
  const chained = uses.find((u) => u.steps.some((s) => s.node.op_type !== "Identity"));
  const u = chained ?? uses[0];
  return { node: u?.node.name, opType: u?.opType, ...(chained ? { via: chained.steps.map((s) => s.node.op_type ?? "").join(" → ") } : {}) };
}

/** Why a weight asked to be per-channel went per-tensor, when a chain is the cause. */
function perTensorWhy(c: Choice, g: Granularity, asked: boolean): string | undefined {
  if (!asked || g.kind !== "tensor") return undefined;
  const u = c.uses.find((x) => x.untraced);
  return u ? `per-tensor: ${u.steps.map((s) => s.node.op_type).join(" → ")} mixes the channel axis of ${u.opType}` : undefined;
}

/** `weight-only` quantizer factory. */
export default function weightOnly(opts: WeightOnlyOptions = {}) {
  return defineQuantizer({
    name: "weight-only",
    options: { ...opts },
    requires(model: Model, ctx) {
      const state = isQuantized(model);
      if (state.state === "full") throw alreadyQuantizedError(state);
      const o = ctx.options;
      const blockSize = opts.blockSize ?? o.blockSize;
      const perChannel = opts.perChannel ?? o.perChannel ?? false;
      const types = emittedTypes(opts, ctx);
      // Float16/bfloat16 weights get scales of their own type: DequantizeLinear takes those from opset 19.
      const half = findWeights(model).some((w) => !w.shadowed && w.dataType !== DataType.FLOAT && w.dataType !== DataType.DOUBLE);
      const need = blockSize ? { opset: 21, reason: `${blockSize}-element weight blocks` } : perChannel ? { opset: 13, reason: "per-channel weights" } : { opset: 10, reason: "per-tensor weights" };
      return half && need.opset < 19 ? { opset: 19, reason: "float16 weight scales", types } : { ...need, types };
    },
    async quantize(model: Model, _input, ctx) {
      const state = isQuantized(model);
      if (state.state === "full") throw alreadyQuantizedError(state);
      const o = ctx.options;
      const bits = opts.bits ?? o.bits;
      const explicitOps = opts.opTypes ?? o.opTypes;
      const opTypes = new Set(explicitOps ?? DEFAULT_OPS);
      for (const t of o.opTypesExclude ?? []) opTypes.delete(t);
      const blockSize = opts.blockSize ?? o.blockSize;
      const perChannel = opts.perChannel ?? o.perChannel ?? false;
      // Symmetric by default: integer kernels want zp 0, and on the corpus it is as accurate or better (digits_cnn
      // INT8 per-channel: 40.0 dB symmetric vs 36.4 dB asymmetric logits SQNR).
      const symmetric = opts.symmetric ?? o.symmetric ?? true;
      const clipSearch = opts.clipSearch ?? o.clipSearch;
      const index = new GraphIndex(model);
      const entries: ReportEntry[] = [];
      const weights = findWeights(model, index);
      // Weights already behind a DequantizeLinear (an already-quantized model) are reported, never quantized again.
      for (const scope of index.scopes)
        for (const n of scope.graph.node ?? [])
          if (isOnnxOp(n, "DequantizeLinear") && n.input?.[0] && scope.producers.get(n.input[0])?.kind === "initializer")
            entries.push({ tensor: n.output?.[0] ?? n.input[0], action: "skipped", reason: "already quantized", kind: "weight", opType: "DequantizeLinear" });
      if (state.state === "partial")
        ctx.logger.info(`the model is partly quantized (${describeQuantOps(state)}): its quantized parts are kept, its ${state.floatWeights.count} float weight(s) are quantized now`);

      const gran = (roles: WeightRole[], b: number): Granularity => {
        if (blockSize && b) {
          const axis = agreedAxis(roles, "blockAxis");
          if (axis !== undefined) return { kind: "block", axis, blockSize };
        }
        if (perChannel || blockSize) {
          const axis = agreedAxis(roles, "channelAxis");
          if (axis !== undefined) return { kind: "channel", axis };
        }
        return { kind: "tensor" };
      };
      const typeFor = (b: number): QuantType => (o.weightType === "uint8" ? (b === 4 ? "uint4" : "uint8") : b === 4 ? "int4" : "int8");
      const run = (c: Pick<Choice, "w" | "data" | "roles">, b: number) => {
        const granularity = gran(c.roles, b);
        const q = quantizeWeights(c.data, c.w.dims, { type: typeFor(b), symmetric, granularity, clipSearch, measure: true }, c.w.name);
        return { q, granularity, sqnr: q.sqnrDb! };
      };

      // 1. Select, then quantize at the requested bits (on every core; streamed to disk for big models).
      const picked: Omit<Choice, "data" | "q" | "granularity" | "sqnr">[] = [];
      weights.forEach((w, i) => {
        ctx.at(w.name);
        ctx.progress(i, weights.length, "weights");
        const skip = (reason: string) =>
          entries.push({ tensor: w.name, action: "skipped", reason, kind: "weight", elements: w.dims.reduce((a, b) => a * b, 1), opType: w.consumers[0]?.opType });
        const qc = w.consumers.find((c) => isQuantOp(c.node));
        if (qc) return skip(qc.input > 0 ? "quantization parameter" : "already quantized");
        if (w.shadowed) return skip("a graph input of the same name can override it");
        const roles: WeightRole[] = [];
        const uses: WeightUse[] = [];
        let bad: string | undefined;
        for (const c of w.consumers) {
          if (readsShapeOnly(c)) continue;
          const use = weightUse(c, w.dims);
          if (!use) bad ??= BIAS_SLOT[c.opType] === c.input && !c.steps.length ? "bias" : `not a weight input (${c.opType} input ${c.input}${c.steps.length ? ` via ${c.steps.map((s) => s.node.op_type).join(" → ")}` : ""})`;
          else if (!opTypes.has(use.opType)) bad ??= `op type ${use.opType} not selected`;
          else {
            roles.push(use.role);
            uses.push(use);
          }
        }
        if (!bad && !uses.length) bad = "only its shape is read";
        if (bad) return skip(bad);
        const names = [w.name, ...w.consumers.flatMap((c) => [c.node.name, ...(c.node.output ?? []), ...c.steps.map((s) => s.node.name)])];
        const excluded = matchesAny(o.exclude, names);
        if (excluded) return skip(`excluded (${excluded})`);
        if (w.dims.reduce((a, b) => a * b, 1) < o.minElements) return skip(`fewer than ${o.minElements} elements`);
        if (w.dataType === DataType.DOUBLE) return skip("float64 weights are not supported by DequantizeLinear");
        const explicit = layerBitsFor(o.layerBits, names);
        picked.push({ w, roles, uses, names, bits: explicit ?? bits, explicitBits: explicit !== undefined });
      });
      const elementsOf = (w: Weight) => w.dims.reduce((a, b) => a * b, 1);
      const plan = streamPlan(model, picked.reduce((s, p) => s + 4 * elementsOf(p.w), 0), o, picked.reduce((m, p) => Math.max(m, 4 * elementsOf(p.w)), 0));
      const chosen: Choice[] = new Array(picked.length);
      let done = 0;
      await quantizeInParallel(
        picked.map((p) => ({ name: p.w.name, dims: p.w.dims, spec: { type: typeFor(p.bits), symmetric, granularity: gran(p.roles, p.bits), clipSearch, measure: true }, load: () => tensorFloat32(model, p.w.tensor) })),
        (i, q) => {
          const p = picked[i]!;
          let memo: Float32Array | undefined;
          const data = () => (plan.stream ? tensorFloat32(model, p.w.tensor) : (memo ??= tensorFloat32(model, p.w.tensor)));
          chosen[i] = { ...p, get data() { return data(); }, q: plan.keep(q), granularity: gran(p.roles, p.bits), sqnr: q.sqnrDb! };
          ctx.progress(++done, picked.length, "weights");
        },
        { threads: plan.threads },
      );

      // 2. INT4 default selection: the layers not worth 4 bits go back to 8.
      const auto = chosen.filter((c) => c.bits === 4 && !c.explicitBits);
      if (auto.length && !explicitOps) {
        // sensitivity: false asks for the weight SQNR rule alone.
        const limit = plan.stream ? (o.streamAbove ?? DEFAULT_STREAM_ABOVE) : PROBE_LIMIT;
        const measured = opts.sensitivity === false ? Promise.resolve(undefined) : measuredFallback(model, auto, opts, ctx, limit);
        const noisy = await measured.catch((e) => {
          // Data the user gave that cannot be used is an error, not a reason to quietly measure nothing.
          if (ctx.data?.given && isQuantError(e) && /^E_(DATA|CALIB)_/.test(e.code)) throw e;
          ctx.logger.info(`per-layer sensitivity not measured (${(e as Error).message}); using the weight SQNR rule`);
          return undefined;
        });
        for (const c of auto) {
          const note = noisy ? noisy.get(c.w.name) : feedsGraphOutput(index, c.w) ? "output layer" : c.sqnr < (opts.int4FallbackDb ?? 16) ? `INT4 SQNR ${c.sqnr.toFixed(1)} dB` : undefined;
          if (!note) continue;
          const r = run(c, 8);
          Object.assign(c, { bits: 8, note, granularity: r.granularity, sqnr: r.sqnr, q: plan.keep(r.q) });
        }
      }

      // 3. Rewrite.
      const pending: PendingTensor[] = [];
      let minOpset = 0;
      const unique = (p: string) => index.uniqueName(p);
      for (const c of chosen) {
        const { w, q, granularity } = c;
        ctx.at(w.name);
        if (granularity.kind === "channel") minOpset = Math.max(minOpset, 13);
        if (granularity.kind === "block") minOpset = Math.max(minOpset, 21);
        if (w.dataType !== DataType.FLOAT) minOpset = Math.max(minOpset, 19);
        const constantNode = w.location === "constant" ? w.node : undefined;
        if (constantNode && !isOnnxOp(constantNode, "Constant")) throw new QuantError("E_GRAPH", `weight ${w.name} comes from a ${constantNode.op_type} node`, { target: w.name });
        const added = replaceWithDequantize({ name: w.name, graph: w.graph, constantNode, dataType: w.dataType, dims: w.dims }, plan.stream ? withoutValues(q) : q, unique);
        if (plan.stream) {
          added[0] = lazyPending(added[0]!, q);
          // The scale (pushed between the integers and the zero point) goes to disk too: 1/32 of the weight at block 32.
          const inits = w.graph.initializer!;
          spillTensor(model, inits[inits.length - 2]!, { minBytes: 256 << 10 });
        }
        pending.push(...added);
        for (const c of w.consumers) explicitPerms(c.steps);
        const elements = elementsOf(w);
        const groups = q.paramDims.reduce((a, b) => a * b, 1); // (not q.scale.length: a streamed run would read it back)
        const paramBytes = groups * (w.dataType === DataType.FLOAT ? 4 : 2) + Math.ceil((groups * c.bits) / 8);
        entries.push({
          tensor: w.name,
          action: "quantized",
          kind: "weight",
          reason: c.note ? `kept at 8 bits: ${c.note}` : perTensorWhy(c, granularity, perChannel || !!blockSize),
          ...reportedUse(c.uses),
          type: q.type,
          granularity: granularityLabel(granularity),
          elements,
          bytesBefore: w.bytes,
          bytesAfter: Math.ceil((elements * c.bits) / 8) + paramBytes,
          sqnrDb: c.sqnr,
          relError: 10 ** (-c.sqnr / 20),
        });
      }
      ctx.progress(weights.length, weights.length, "weights");
      // float16/bfloat16 weights keep their type: the DequantizeLinear outputs it, with a scale of that type.
      const half = [...new Set(chosen.map((c) => c.w.dataType).filter((t) => t === DataType.FLOAT16 || t === DataType.BFLOAT16))].map(dataTypeName);
      const notes = half.length ? [`${half.join("/")} weights: DequantizeLinear to ${half.join("/")} with ${half.join("/")} scales (opset 19), so the model's computation keeps its type`] : [];
      return { pending, entries, minOpset, ...(notes.length ? { notes } : {}) };
    },
  });
}

/**
 * Layers whose measured output noise per byte saved is far above the average, with the reason. Throws when it cannot
 * run (the caller falls back to the weight SQNR rule).
 */
async function measuredFallback(model: Model, auto: Choice[], opts: WeightOnlyOptions, ctx: PluginContext, limit: number): Promise<Map<string, string>> {
  const probed = auto.filter((c) => c.w.dataType === DataType.FLOAT && c.w.location === "initializer" && !c.w.outerScope);
  const bytes = probed.reduce((s, c) => s + 4 * c.w.dims.reduce((a, b) => a * b, 1), 0);
  if (probed.length < 2) throw new Error("fewer than two layers to compare");
  if (bytes > limit) throw new Error(`the layers hold ${(bytes / 2 ** 20).toFixed(0)} MiB`);
  // The probe costs (layers + 1) × samples inferences: unless asked for a count, it fits them into ~3 s (counted, not timed).
  if (!ctx.data) throw new Error("the context has no run data");
  const samples = opts.sensitivity || ctx.data.samples || undefined;
  ctx.at(""); // errors from here on are about the data or the model as a whole, not the last weight quantized
  ctx.logger.info(`measuring the output sensitivity of ${probed.length} layers at INT4 on ${samples ?? "up to 4"} samples${ctx.data.options.data ? "" : " of random data"}`);
  // The run's data (random N(0,1) without any), opened and closed by the runner.
  const { dataset } = await ctx.data.open(modelInputs(model), { samples, maxSamples: 4 });
  const noise = await weightSensitivity(
    model,
    probed.map((c) => ({ name: c.w.name, dims: c.w.dims, original: c.data, dequantized: dequantizeWeights(c.q, c.w.dims) })),
    { data: dataset, samples, budgetMs: opts.sensitivity || ctx.data.samples ? undefined : 3000 },
  );
  const saved = (c: Choice) => c.w.dims.reduce((a, b) => a * b, 1) / 2;
  const total = probed.reduce((s, c) => s + noise.get(c.w.name)!, 0);
  const avg = total / probed.reduce((s, c) => s + saved(c), 0);
  const factor = opts.sensitivityFactor ?? 4;
  const out = new Map<string, string>();
  for (const c of probed) {
    const perByte = noise.get(c.w.name)! / saved(c);
    if (perByte > factor * avg) out.set(c.w.name, `output noise per byte ${(perByte / avg).toFixed(1)}× the average (alone: ${(-10 * Math.log10(noise.get(c.w.name)!)).toFixed(1)} dB)`);
  }
  return out;
}
