/**
 * Gather what the HTML report shows from measurements already made (a fidelity comparison with per-layer error, the
 * quantizers' entries, the accuracy search's summary) plus what only the report needs: value histograms of the worst
 * tensors and the size breakdown of both models.
 */
import type { Model } from "../onnx/model.ts";
import type { ReportEntry } from "../kernel/types.ts";
import type { CalibrationDataset } from "../data/dataset.ts";
import type { LabelledAccuracy, ShapeMetrics } from "../validate/metrics-by-shape.ts";
import { sizeBreakdown } from "./size.ts";
import { activationHistograms, quantRange, weightHistograms } from "./tensors.ts";
import type { AccuracySearchSummary, ReportInput, ReportLayer } from "./types.ts";

/** The fidelity measurement the report renders (what `measureFidelity` returns). */
export interface FidelityLike {
  samples: number;
  randomData: boolean;
  outputs: { name: string; sqnrDb: number; cosine: number; maxAbsError: number; byShape: ShapeMetrics }[];
  /** Per-layer cumulative error, worst first. */
  layers?: { name: string; opType: string; sqnrDb: number }[];
}

/** Input of {@link collectReport}. */
export interface CollectOptions {
  title: string;
  facts: [string, string][];
  original: Model;
  quantized: Model;
  fileBytes?: { before: number; after: number };
  fidelity?: FidelityLike;
  /** Where the compared inputs came from. */
  source: string;
  minSqnrDb: number | null;
  /** The compared data, for activation histograms (up to `histogramSamples` samples). */
  dataset?: CalibrationDataset;
  histogramSamples?: number;
  entries?: readonly ReportEntry[];
  search?: AccuracySearchSummary;
  /** Isolated per-node sensitivity of every quantized node (validate --detailed), most sensitive first. */
  isolated?: readonly { node: string; opType: string; isolatedSqnrDb: number | null }[];
  notes?: string[];
  /** How many activations (and weights) get a histogram (default 6 and 4). */
  worstActivations?: number;
  worstWeights?: number;
}

const dbOrNull = (v: number) => (v === Infinity ? null : v);

/** Build the report's input. */
export async function collectReport(o: CollectOptions): Promise<ReportInput> {
  const f = o.fidelity;
  const labelled: LabelledAccuracy | undefined = f?.outputs.find((x) => x.byShape.accuracy)?.byShape.accuracy;
  const accuracy: ReportInput["accuracy"] = f && {
    samples: f.samples,
    randomData: f.randomData,
    source: o.source,
    minSqnrDb: o.minSqnrDb,
    outputs: f.outputs.map((x) => ({
      name: x.name, kind: x.byShape.kind, sqnrDb: dbOrNull(x.sqnrDb), cosine: x.cosine, maxAbsError: x.maxAbsError,
      top1Agreement: x.byShape.top1Agreement ?? null, pixelAgreement: x.byShape.pixelAgreement ?? null, foregroundIoU: x.byShape.foregroundIoU ?? null,
    })),
    ...(labelled ? { labelled } : {}),
  };
  // Isolated sensitivity when the search measured it (every candidate it ranked), else the cumulative per-layer error.
  const sensitivity: ReportInput["sensitivity"] = [];
  const worstFirst = (a: ReportLayer, b: ReportLayer) => (a.sqnrDb ?? Infinity) - (b.sqnrDb ?? Infinity);
  if (o.isolated?.length)
    sensitivity.push({ kind: "isolated", source: "every quantized node, measured by validate --detailed", layers: o.isolated.map((d) => ({ name: d.node, opType: d.opType, sqnrDb: d.isolatedSqnrDb === null ? null : dbOrNull(d.isolatedSqnrDb) })).sort(worstFirst) });
  else if (o.search?.decisions.length)
    sensitivity.push({ kind: "isolated", source: "the nodes the accuracy search decided on", layers: o.search.decisions.map((d) => ({ name: d.node, opType: d.opType, sqnrDb: dbOrNull(d.isolatedSqnrDb) })).sort(worstFirst) });
  if (f?.layers) {
    const producer = new Map<string, string>();
    for (const n of o.original.proto.graph?.node ?? []) for (const out of n.output ?? []) if (out && n.name) producer.set(out, n.name);
    sensitivity.push({ kind: "cumulative", source: "every intermediate tensor both models produce", layers: f.layers.map((l) => ({ name: l.name, opType: l.opType, node: producer.get(l.name), sqnrDb: dbOrNull(l.sqnrDb) })) });
  }

  // The worst activations that the quantized model actually quantizes (a Q on them), then the worst weights.
  const acts = (f?.layers ?? []).filter((l) => quantRange(o.quantized, l.name)).slice(0, o.worstActivations ?? 6);
  const tensors = o.dataset ? await activationHistograms(o.original, o.quantized, acts.map((l) => ({ name: l.name, opType: l.opType, sqnrDb: dbOrNull(l.sqnrDb) })), o.dataset, o.histogramSamples ?? 8) : [];
  const weights = (o.entries ?? [])
    .filter((e) => e.kind !== "activation" && e.action === "quantized" && e.sqnrDb !== undefined)
    .sort((a, b) => a.sqnrDb! - b.sqnrDb!)
    .slice(0, o.worstWeights ?? 4);
  tensors.push(...weightHistograms(o.original, o.quantized, weights.map((e) => ({ name: e.tensor, opType: e.opType ?? "", sqnrDb: e.sqnrDb! }))));

  const keptFloat = (o.entries ?? []).filter((e) => e.action === "skipped").map((e) => ({ tensor: e.tensor, node: e.node, opType: e.opType, reason: e.reason ?? "unspecified" }));
  return {
    title: o.title,
    facts: o.facts,
    accuracy,
    sensitivity,
    tensors,
    size: { before: sizeBreakdown(o.original), after: sizeBreakdown(o.quantized), fileBefore: o.fileBytes?.before, fileAfter: o.fileBytes?.after },
    search: o.search,
    keptFloat,
    notes: o.notes ?? [],
  };
}
