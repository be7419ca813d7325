/**
 * The HTML report: one self-contained file (inline CSS and SVG; no script, no font, no network — a Content Security
 * Policy forbids any), readable offline and safe to open: every string from the model is escaped.
 * Sections (ids stable for tests and links): summary, accuracy, sensitivity, tensors, size, decisions.
 */
import type { ReportInput, ReportOutput, ReportTensor } from "./types.ts";
import { esc, fmt, fmtBytes, fmtNum, histogram, sizeBars, sqnrBars, sqnrColor } from "./svg.ts";

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1b1b1b;background:#fafafa}
main{max-width:1100px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:22px;margin:8px 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;margin:6px 0 10px;background:#fff}th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f0f0f0;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.facts td:first-child{color:#555;white-space:nowrap}.muted{color:#666}.badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-weight:600}
.pass{background:#2e7d32}.fail{background:#c62828}.warn{background:#f9a825;color:#222}
.chart text{font:11px system-ui,sans-serif;fill:#333}.chart .label{text-anchor:end}.chart .tick{text-anchor:middle;fill:#777}
.chart .grid{stroke:#eee}.chart .threshold{stroke:#c62828;stroke-dasharray:4 3}.chart .axis{stroke:#999}
.chart .bin{fill:#1565c0}.chart .qrange{stroke:#c62828;stroke-width:1.5;stroke-dasharray:3 2}.chart .legend{font-size:11px}
.tensors{display:grid;grid-template-columns:repeat(auto-fill,minmax(460px,1fr));gap:12px}.tensor{background:#fff;border:1px solid #ddd;padding:8px}
.tensor h3{font-size:13px;margin:0 0 4px;word-break:break-all}.name{word-break:break-all}
`;

const pct = (v: number | null | undefined) => (v === null || v === undefined ? "—" : `${(100 * v).toFixed(2)}%`);

/** Render the report (a complete HTML document). */
export function renderReportHtml(r: ReportInput): string {
  const bar = r.accuracy?.minSqnrDb ?? 20;
  const body = [
    `<h1>quant report: ${esc(r.title)}</h1>`,
    summary(r, bar),
    accuracy(r, bar),
    sensitivity(r, bar),
    tensors(r.tensors),
    size(r),
    decisions(r),
  ].join("\n");
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>quant report: ${esc(r.title)}</title>
<style>${CSS}</style></head>
<body><main>
${body}
</main></body></html>
`;
}

function summary(r: ReportInput, bar: number): string {
  const rows = r.facts.map(([k, v]) => `<tr><td>${esc(k)}</td><td class="name">${esc(v)}</td></tr>`);
  const a = r.accuracy;
  let verdict = "";
  if (a) {
    const worst = a.outputs.reduce<ReportOutput | undefined>((w, o) => (!w || (o.sqnrDb ?? Infinity) < (w.sqnrDb ?? Infinity) ? o : w), undefined);
    const ok = a.outputs.every((o) => o.sqnrDb === null || o.sqnrDb >= bar);
    const [cls, word] = a.minSqnrDb === null ? ["warn", "NOT JUDGED"] : ok ? ["pass", "PASS"] : ["fail", "FAIL"];
    verdict = `<p><span class="badge ${cls}" id="verdict">${word}</span> worst output SQNR ${esc(fmt(worst?.sqnrDb ?? null))} dB${worst ? ` (${esc(worst.name)})` : ""}${a.minSqnrDb === null ? `, not judged (random inputs; the bar is ${bar} dB on real data)` : ` against a bar of ${esc(fmt(a.minSqnrDb))} dB`}, on ${a.samples} ${a.randomData ? "random " : ""}sample(s) from ${esc(a.source)}.</p>`;
  }
  const notes = r.notes.length ? `<ul class="notes">${r.notes.map((n) => `<li>${esc(n)}</li>`).join("")}</ul>` : "";
  return `<section id="summary"><table class="facts">${rows.join("")}</table>${verdict}${notes}</section>`;
}

function accuracy(r: ReportInput, bar: number): string {
  const a = r.accuracy;
  const s = r.search;
  if (!a && !s) return `<section id="accuracy"><h2>Accuracy before/after</h2><p class="muted">Not measured.</p></section>`;
  const parts = [`<section id="accuracy"><h2>Accuracy before/after</h2>`];
  if (a) {
    if (a.randomData) parts.push(`<p><span class="badge warn">random data</span> compared on random N(0,1) inputs: the figures say little about accuracy on real data.</p>`);
    parts.push(`<table class="outputs"><tr><th>output</th><th>kind</th><th>SQNR (dB)</th><th>cosine</th><th>max abs error</th><th>top-1 agreement</th><th>agreement at 0.5</th><th>foreground IoU</th></tr>`);
    for (const o of a.outputs)
      parts.push(`<tr class="output"><td class="name">${esc(o.name)}</td><td>${esc(o.kind)}</td><td class="num" style="color:${sqnrColor(o.sqnrDb, bar)}">${esc(fmt(o.sqnrDb))}</td><td class="num">${o.cosine.toFixed(6)}</td><td class="num">${esc(fmtNum(o.maxAbsError))}</td><td class="num">${pct(o.top1Agreement)}</td><td class="num">${pct(o.pixelAgreement)}</td><td class="num">${o.foregroundIoU === null ? "—" : o.foregroundIoU.toFixed(4)}</td></tr>`);
    parts.push(`</table>`);
    const l = a.labelled;
    if (l)
      parts.push(`<table class="labelled"><tr><th>labelled top-1 (${esc(l.output)}, ${l.samples} labels from ${esc(l.labels)})</th><th>float</th><th>quantized</th><th>drop</th></tr><tr><td></td><td class="num">${pct(l.float)}</td><td class="num">${pct(l.quantized)}</td><td class="num">${(100 * l.drop).toFixed(2)} points</td></tr></table>`);
  }
  if (s) {
    const t = s.target.kind === "sqnr" ? `output SQNR ≥ ${s.target.db} dB` : `accuracy drop ≤ ${s.target.drop}`;
    parts.push(`<table class="search"><tr><th>accuracy search</th><th></th></tr>` +
      `<tr><td>target</td><td>${esc(t)} (${esc(s.metric)}, on ${esc(s.evalSource)})</td></tr>` +
      `<tr><td>all quantized (before the search)</td><td class="num">${esc(fmt(s.baseline))}</td></tr>` +
      `<tr><td>after the search</td><td class="num">${esc(fmt(s.achieved))} <span class="badge ${s.met ? "pass" : "fail"}">${s.met ? "met" : "not met"}</span></td></tr>` +
      `<tr><td>nodes kept float</td><td>${s.floatNodes} of ${s.totalNodes}</td></tr>` +
      `<tr><td>cost</td><td>${s.sessions} session(s), ${s.seconds.toFixed(1)} s</td></tr>` +
      (s.why ? `<tr><td>why not met</td><td>${esc(s.why)}</td></tr>` : "") + `</table>`);
  }
  parts.push(`</section>`);
  return parts.join("");
}

function sensitivity(r: ReportInput, bar: number): string {
  const charts = r.sensitivity.filter((s) => s.layers.length);
  if (!charts.length) return `<section id="sensitivity"><h2>Per-layer sensitivity</h2><p class="muted">No per-layer measurement (no intermediate tensor is shared by both models).</p></section>`;
  const parts = charts.map((s) => {
    const what = s.kind === "isolated"
      ? "Output SQNR of the model with only this node quantized (isolated sensitivity: the nodes that hurt most on their own), worst first."
      : "SQNR of each layer's output against the float model, every layer quantized (cumulative error: where error enters and grows), worst first.";
    const rows = s.layers.map((l) => ({ label: l.name, sub: l.node && l.node !== l.name ? `${l.opType} ${l.node}` : l.opType, db: l.sqnrDb }));
    return `<div class="sensitivity-chart" id="sensitivity-${s.kind}"><h3>${s.kind === "isolated" ? "Isolated" : "Cumulative"}: ${s.layers.length} ${s.kind === "isolated" ? "nodes" : "layers"} (${esc(s.source)})</h3><p class="muted">${what} The dashed line is the ${esc(fmt(bar))} dB bar.</p>${sqnrBars(rows, bar)}</div>`;
  });
  return `<section id="sensitivity"><h2>Per-layer sensitivity</h2>${parts.join("")}</section>`;
}

function tensors(ts: readonly ReportTensor[]): string {
  if (!ts.length) return `<section id="tensors"><h2>Ranges of the worst tensors</h2><p class="muted">No tensor values were sampled.</p></section>`;
  const cards = ts.map((t) => {
    const q = t.qRange;
    const qs = q ? `quantized range [${esc(fmtNum(q.lo))}, ${esc(fmtNum(q.hi))}] (${esc(q.type)}, step ${esc(fmtNum(q.step))}), ${pct(t.clipped)} clipped` : "no per-tensor quantization range";
    return `<div class="tensor"><h3>${esc(t.name)} <span class="muted">(${esc(t.kind)} of ${esc(t.opType)}, ${esc(fmt(t.sqnrDb, 1))} dB)</span></h3>` +
      `${histogram(t)}<div class="muted">values [${esc(fmtNum(t.min))}, ${esc(fmtNum(t.max))}] over ${t.values} value(s); ${qs}</div></div>`;
  });
  return `<section id="tensors"><h2>Ranges of the worst tensors</h2><p class="muted">Float values (square-root count scale) and, dashed, the range the quantized model can represent.</p><div class="tensors">${cards.join("")}</div></section>`;
}

function size(r: ReportInput): string {
  const s = r.size;
  if (!s) return `<section id="size"><h2>Size</h2><p class="muted">Not measured.</p></section>`;
  const table = (title: string, key: "byDtype" | "byOpType") => {
    const keys = [...new Set([...Object.keys(s.before[key]), ...Object.keys(s.after[key])])].sort((a, b) => (s.before[key][b] ?? 0) - (s.before[key][a] ?? 0) || a.localeCompare(b));
    return `<table class="size-${key}"><tr><th>${title}</th><th>before</th><th>after</th></tr>${keys
      .map((k) => `<tr><td class="name">${esc(k)}</td><td class="num">${fmtBytes(s.before[key][k] ?? 0)}</td><td class="num">${fmtBytes(s.after[key][k] ?? 0)}</td></tr>`)
      .join("")}<tr><th>total</th><th class="num">${fmtBytes(s.before.total)}</th><th class="num">${fmtBytes(s.after.total)}</th></tr></table>`;
  };
  const file = s.fileBefore && s.fileAfter ? `File: ${fmtBytes(s.fileBefore)} → ${fmtBytes(s.fileAfter)} (${(s.fileAfter / s.fileBefore).toFixed(3)}×). ` : "";
  return `<section id="size"><h2>Size</h2><p>${file}Stored weights and constants: ${fmtBytes(s.before.total)} → ${fmtBytes(s.after.total)} (${(s.after.total / Math.max(1, s.before.total)).toFixed(3)}×).</p>` +
    `<h3>by tensor type</h3>${sizeBars(s.before.byDtype, s.after.byDtype)}${table("tensor type", "byDtype")}` +
    `<h3>by consuming op type</h3>${sizeBars(s.before.byOpType, s.after.byOpType)}${table("op type", "byOpType")}</section>`;
}

function decisions(r: ReportInput): string {
  const parts = [`<section id="decisions"><h2>Fallback decisions</h2>`];
  const d = r.search?.decisions ?? [];
  if (d.length) {
    parts.push(`<table class="decisions"><tr><th>node</th><th>op</th><th>isolated SQNR (dB)</th><th>action</th><th>why</th></tr>`);
    for (const x of d) parts.push(`<tr class="decision"><td class="name">${esc(x.node)}</td><td>${esc(x.opType)}</td><td class="num">${esc(fmt(x.isolatedSqnrDb))}</td><td>${esc(x.action)}</td><td>${esc(x.reason)}</td></tr>`);
    parts.push(`</table>`);
  } else parts.push(`<p class="muted">${r.search ? "The search kept every node quantized." : "No accuracy search ran (--target-sqnr / --target-accuracy)."}</p>`);
  if (r.keptFloat.length) {
    parts.push(`<h3>Tensors the quantizers kept float (${r.keptFloat.length})</h3><table class="kept"><tr><th>tensor</th><th>node</th><th>why</th></tr>`);
    for (const k of r.keptFloat) parts.push(`<tr class="kept-float"><td class="name">${esc(k.tensor)}</td><td class="name">${esc(k.node ?? "")}${k.opType ? ` (${esc(k.opType)})` : ""}</td><td>${esc(k.reason)}</td></tr>`);
    parts.push(`</table>`);
  }
  parts.push(`</section>`);
  return parts.join("");
}
