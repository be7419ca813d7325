/**
 * The rule "never exit 0 having done nothing without saying so": a run whose quantizers quantized nothing fails with
 * E_NOTHING_QUANTIZED (non-zero exit, nothing written) naming the most common reasons, instead of writing a copy of
 * the input and burying the reasons in the JSON report. An already-quantized model is left to its own handling
 * (E_QUANT_ALREADY / the "already quantized" note).
 */
import { QuantError } from "./errors.ts";
import type { PendingTensor, ReportEntry } from "./types.ts";

/** Throw E_NOTHING_QUANTIZED when the quantizers produced no quantized tensor. */
export function assertQuantizedSomething(entries: readonly ReportEntry[], pending: readonly PendingTensor[]): void {
  if (pending.length || entries.some((e) => e.action === "quantized")) return;
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
