/**
 * The rule "never exit 0 having done nothing without saying so": a run whose quantizers quantized nothing fails with
 * E_NOTHING_QUANTIZED (non-zero exit, nothing written) naming the most common reasons, instead of writing a copy of
 * the input and burying the reasons in the JSON report. An already-quantized model is left to its own handling
 * (E_QUANT_ALREADY / the "already quantized" note).
 */
import { QuantError } from "../errors/errors.ts";
import type { PendingTensor, ReportEntry } from "../kernel/types.ts";
import type { Model } from "../onnx/model.ts";

/**
 * A cheap fingerprint of a model's main graph structure (nodes with their wiring, initializers by name, type and
 * dims): a quantizer that reports nothing but rewrote the graph its own way (a user plugin) has done something.
 */
export function graphSignature(model: Model): string {
  const g = model.proto.graph;
  const parts: string[] = [];
  for (const n of g?.node ?? []) parts.push(`${n.domain ?? ""}:${n.op_type}(${(n.input ?? []).join(",")})->${(n.output ?? []).join(",")}`);
  for (const t of g?.initializer ?? []) parts.push(`${t.name}:${t.data_type}[${(t.dims ?? []).join(",")}]`);
  return parts.join("\n");
}

/**
 * Throw E_NOTHING_QUANTIZED when the quantizers produced no quantized tensor and left the graph as it was
 * (`before`: its {@link graphSignature} before the quantize phase).
 */
export function assertQuantizedSomething(entries: readonly ReportEntry[], pending: readonly PendingTensor[], model: Model, before: string): void {
  if (pending.length || entries.some((e) => e.action === "quantized")) return;
  if (graphSignature(model) !== before) return;
  const counts = new Map<string, number>();
  for (const e of entries) {
    // Per-tensor reasons carry names; count them by their shape ("input "x" is …" → "input is …").
    const r = (e.reason ?? "unspecified").replace(/"[^"]*"\s*/g, "");
    counts.set(r, (counts.get(r) ?? 0) + 1);
  }
  if (counts.has("already quantized")) return;
  const top = [...counts].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([r, n]) => `${n}× ${r}`);
  const why = top.length ? `: ${top.join("; ")}${counts.size > 3 ? `; +${counts.size - 3} other reason(s)` : ""}` : " (the model has no weight or activation the chain quantizes)";
  throw new QuantError("E_NOTHING_QUANTIZED", `nothing was quantized, so no output was written${why}`, { phase: "quantize" });
}
