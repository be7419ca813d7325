/** Human lines of an accuracy search for the job summary. */
import type { AccuracySearchSummary } from "../kernel/accuracy.ts";

const db = (v: number) => (Number.isFinite(v) ? `${v.toFixed(1)} dB` : "∞ dB");

/** The summary lines (indented two spaces), every decision included. */
export function formatAccuracySearch(s: AccuracySearchSummary): string[] {
  const fmt = (v: number) => (s.target.kind === "sqnr" ? db(v) : v.toFixed(4));
  const target = s.target.kind === "sqnr" ? `${s.target.db} dB` : `≤ ${s.target.drop} top-1 drop`;
  const lines = [
    `  accuracy target ${target}: ${s.met ? "met" : "NOT met"}, ${fmt(s.achieved)} (as quantized ${fmt(s.baseline)}); ${s.floatNodes} of ${s.totalNodes} nodes ${s.decisions.some((d) => d.action === "int8") ? "kept at 8 bits" : "kept float"}`,
    `    metric: ${s.metric}`,
    `    evaluated on: ${s.evalSource}`,
    `    search: ${s.sessions} onnxruntime sessions, ${s.seconds.toFixed(1)} s`,
  ];
  if (s.why) lines.push(`    why: ${s.why}`);
  for (const d of s.decisions) lines.push(`    ${d.action === "float" ? "float" : "8-bit"} ${d.node} (${d.opType}): ${d.reason}`);
  return lines;
}

/** One line for a batch summary: "target 25 dB met: 26.1 dB, 3/52 nodes float". */
export function accuracyLine(s: AccuracySearchSummary): string {
  const fmt = (v: number) => (s.target.kind === "sqnr" ? db(v) : v.toFixed(4));
  const target = s.target.kind === "sqnr" ? `${s.target.db} dB` : `≤ ${s.target.drop} drop`;
  return `target ${target} ${s.met ? "met" : "NOT met"}: ${fmt(s.achieved)}, ${s.floatNodes}/${s.totalNodes} nodes ${s.decisions.some((d) => d.action === "int8") ? "at 8 bits" : "float"}`;
}
