/**
 * The input of the HTML report: everything it shows, already measured. Built by collect.ts from a run (quantize,
 * calibrate) or a validation, rendered by html.ts. Strings in it come from the model (node and tensor names) and are
 * hostile input: the renderer escapes every one.
 */
import type { LabelledAccuracy } from "../validate/metrics-by-shape.ts";
import type { OutputKind } from "../validate/output-kind.ts";

/** The accuracy search's summary and decisions, as the search reports them. */
export type { AccuracySearchSummary, FallbackDecision } from "../kernel/accuracy.ts";
import type { AccuracySearchSummary } from "../kernel/accuracy.ts";

/** One output's accuracy figures. */
export interface ReportOutput {
  name: string;
  kind: OutputKind;
  sqnrDb: number | null;
  cosine: number;
  maxAbsError: number;
  top1Agreement: number | null;
  pixelAgreement: number | null;
  foregroundIoU: number | null;
}

/** Accuracy of the quantized model against the float one. */
export interface ReportAccuracy {
  samples: number;
  randomData: boolean;
  /** Where the inputs came from ("test_x.npy", "the calibration data", "random N(0,1)"). */
  source: string;
  minSqnrDb: number | null;
  outputs: ReportOutput[];
  labelled?: LabelledAccuracy;
}

/** One layer's sensitivity bar. */
export interface ReportLayer {
  name: string;
  opType: string;
  /** The node producing it (cumulative) or the node itself (isolated), when it has a name. */
  node?: string;
  /** null: identical to the float model. */
  sqnrDb: number | null;
}

/** Per-layer sensitivity: isolated (only this node quantized) or cumulative (every layer quantized up to it). */
export interface ReportSensitivity {
  kind: "isolated" | "cumulative";
  /** Where the figures come from ("the accuracy search's fallback decisions", "validate --detailed"). */
  source: string;
  layers: ReportLayer[];
}

/** Values of one tensor and the range its quantization can represent. */
export interface ReportTensor {
  name: string;
  opType: string;
  kind: "activation" | "weight";
  /** The layer SQNR that made it one of the worst (cumulative or weight reconstruction). */
  sqnrDb: number | null;
  /** Observed min/max of the float values. */
  min: number;
  max: number;
  /** Histogram over [lo, hi] in equal bins. */
  lo: number;
  hi: number;
  counts: number[];
  /** Representable range of its quantization [qmin·s, qmax·s] shifted by the zero point, and the step (per-tensor only). */
  qRange?: { lo: number; hi: number; step: number; type: string };
  /** Share of values outside qRange (clipped). */
  clipped?: number;
  values: number;
}

/** Stored bytes of a model, grouped. */
export interface SizeBreakdown {
  total: number;
  byDtype: Record<string, number>;
  byOpType: Record<string, number>;
}

/** Everything the report shows. */
export interface ReportInput {
  title: string;
  /** What produced it (command, chain, date) — one line each. */
  facts: [string, string][];
  accuracy?: ReportAccuracy;
  /** Isolated first when measured, then cumulative. */
  sensitivity: ReportSensitivity[];
  tensors: ReportTensor[];
  /** Stored constants of both models; file sizes when known (an exporter runs before the model file is written). */
  size?: { before: SizeBreakdown; after: SizeBreakdown; fileBefore?: number; fileAfter?: number };
  search?: AccuracySearchSummary;
  /** Tensors the quantizers kept float, with their reason (when no search ran, these are the fallback decisions). */
  keptFloat: { tensor: string; node?: string; opType?: string; reason: string }[];
  notes: string[];
}
