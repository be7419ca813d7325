/**
 * Isolated per-node sensitivity of a quantized model (`validate --detailed`): the output SQNR against the float
 * model with ONLY that node quantized (its input Q/DQ, weights and the Q that exists for it), every other node float —
 * the ranking the accuracy search uses. Where the per-layer error of `--detailed` shows where error accumulates, this
 * shows which node causes it. One onnxruntime session (the probe, src/accuracy/probe.ts), one run per node and sample.
 */
import type { Model } from "../onnx/model.ts";
import { cloneModel } from "../onnx/codec.ts";
import type { DataOptions } from "../kernel/options.ts";
import { RuntimeSession, SINGLE_THREAD } from "../runtime/session.ts";
import { openEvalSet, runEval, Scorer } from "./evaluate.ts";
import { exposeMeasured } from "./outputs.ts";
import { buildProbe } from "./probe.ts";

/** One node's isolated sensitivity. */
export interface NodeSensitivity {
  node: string;
  opType: string;
  /** Output SQNR (dB, on pre-activation logits for Sigmoid/Softmax outputs) with only this node quantized; Infinity: no effect. */
  isolatedSqnrDb: number;
}

/** Options of {@link isolatedSensitivity}: the data options of `validate`, and at most `samples` samples (default 2). */
export type IsolatedOptions = Partial<Pick<DataOptions, "data" | "inputs" | "sampleAxis" | "shapes" | "seed" | "images">> & {
  samples?: number;
  /**
   * Applied to a copy of the original before the comparison: the passes the quantization ran that change weights
   * (e.g. folding BatchNormalization into Conv), so each node's float weights are the ones it was quantized from.
   */
  prepare?: (original: Model) => void | Promise<void>;
};

/**
 * Isolated sensitivity of every quantized node of `quantized` against `original` (nodes matched by name), most
 * sensitive first. Nodes without a name, and edges whose float value cannot be found, are not ranked.
 */
export async function isolatedSensitivity(original: Model, quantized: Model, opts: IsolatedOptions = {}): Promise<NodeSensitivity[]> {
  const float = cloneModel(original);
  await opts.prepare?.(float);
  const probe = buildProbe(float, quantized);
  const names = exposeMeasured(probe.model);
  // The quantized model's inputs (the probe adds its gates as inputs); at most `samples` of the data, or random.
  const set = await openEvalSet(quantized, { seed: 0, ...opts } as DataOptions, undefined, undefined, undefined, false);
  const keep = Math.max(1, Math.min(opts.samples ?? 2, set.batches.length));
  set.batches = set.batches.slice(0, keep);
  set.count = keep * set.step;
  const s = await RuntimeSession.create(probe.model, SINGLE_THREAD);
  try {
    const on = s.tensor(Float32Array.of(1), [], 1), off = s.tensor(Float32Array.of(0), [], 1);
    const gates = (u: number) => Object.fromEntries(probe.units.map((x, i) => [x.gate, i === u ? on : off]));
    const scorer = new Scorer(await runEval(s, set, names, gates(-1)), { kind: "sqnr", db: 0 }, set);
    const out: NodeSensitivity[] = [];
    for (let u = 0; u < probe.units.length; u++) {
      const unit = probe.units[u]!;
      out.push({ node: unit.node, opType: unit.opType, isolatedSqnrDb: scorer.sqnrOf(scorer.noise(await runEval(s, set, names, gates(u)))) });
    }
    return out.sort((a, b) => a.isolatedSqnrDb - b.isolatedSqnrDb || a.node.localeCompare(b.node));
  } finally {
    await s.release();
  }
}
