/**
 * Inline SVG charts for the HTML report: sensitivity bars, value histograms, size bars. Plain strings, no script, no
 * external reference; every model-provided string goes through {@link esc}.
 */

const ESC: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Escape text for HTML/SVG element content and quoted attribute values. */
export function esc(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ESC[c]!);
}

/** A number for display: fixed decimals, "∞" for ±Infinity/null SQNR, "—" for NaN/undefined. */
export function fmt(v: number | null | undefined, digits = 2): string {
  if (v === null) return "∞";
  if (v === undefined || Number.isNaN(v)) return "—";
  if (v === Infinity) return "∞";
  if (v === -Infinity) return "-∞";
  return v.toFixed(digits);
}

/** Bytes as B/KB/MB. */
export function fmtBytes(n: number): string {
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(2)} MB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${n} B`;
}

/** Colour of an SQNR against the bar: red below it, amber within 10 dB above, green beyond. */
export function sqnrColor(db: number | null, bar: number): string {
  if (db === null || db >= bar + 10) return "#2e7d32";
  if (db >= bar) return "#f9a825";
  return "#c62828";
}

const r2 = (v: number) => Math.round(v * 100) / 100;

/** Horizontal SQNR bars, one `<g class="bar">` per row, with a dashed line at the bar. */
export function sqnrBars(rows: readonly { label: string; sub: string; db: number | null }[], bar: number): string {
  const finite = rows.map((r) => r.db).filter((d): d is number => d !== null && Number.isFinite(d));
  const top = Math.max(bar + 20, ...finite.map((d) => Math.ceil(d / 10) * 10));
  const labelW = 330, barW = 400, rowH = 18, pad = 24;
  const width = labelW + barW + 300; // room for the value and the op/node after the longest bar
  const height = pad + rows.length * rowH + 8;
  const x = (db: number) => labelW + (barW * Math.max(0, Math.min(db, top))) / top;
  const parts: string[] = [];
  parts.push(`<svg class="chart sensitivity" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="per-layer SQNR">`);
  for (let t = 0; t <= top; t += 10) parts.push(`<line x1="${r2(x(t))}" y1="${pad - 6}" x2="${r2(x(t))}" y2="${height - 4}" class="grid"/><text x="${r2(x(t))}" y="${pad - 10}" class="tick">${t}</text>`);
  parts.push(`<line x1="${r2(x(bar))}" y1="${pad - 6}" x2="${r2(x(bar))}" y2="${height - 4}" class="threshold"/>`);
  rows.forEach((r, i) => {
    const y = pad + i * rowH;
    const db = r.db === null ? top : r.db;
    const w = Math.max(1, x(db) - labelW);
    parts.push(
      `<g class="bar"><title>${esc(r.label)} (${esc(r.sub)}): ${esc(fmt(r.db))} dB</title>` +
        `<text x="${labelW - 6}" y="${y + 13}" class="label">${esc(clip(r.label, 46))}</text>` +
        `<rect x="${labelW}" y="${y + 3}" width="${r2(w)}" height="${rowH - 6}" fill="${sqnrColor(r.db, bar)}"/>` +
        `<text x="${r2(labelW + w + 4)}" y="${y + 13}" class="value">${esc(fmt(r.db, 1))} dB · ${esc(clip(r.sub, 40))}</text></g>`,
    );
  });
  parts.push("</svg>");
  return parts.join("");
}

/** A long name cut in the middle (the full name is in the bar's title). */
function clip(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, Math.ceil(n / 2) - 1)}…${s.slice(s.length - Math.floor(n / 2))}`;
}

/** A value histogram (sqrt count scale) with the representable range of the quantization drawn over it. */
export function histogram(h: { lo: number; hi: number; counts: readonly number[]; qRange?: { lo: number; hi: number } }): string {
  const W = 440, H = 120, padX = 8, padTop = 8, padBottom = 20;
  const n = h.counts.length;
  const maxC = Math.max(1, ...h.counts);
  const lo = Math.min(h.lo, h.qRange?.lo ?? h.lo);
  const hi = Math.max(h.hi, h.qRange?.hi ?? h.hi);
  const span = hi - lo || 1;
  const x = (v: number) => padX + ((W - 2 * padX) * (v - lo)) / span;
  const binW = (h.hi - h.lo) / n;
  const parts = [`<svg class="chart histogram" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="value histogram">`];
  const base = H - padBottom;
  for (let i = 0; i < n; i++) {
    const c = h.counts[i]!;
    if (!c) continue;
    const bh = ((base - padTop) * Math.sqrt(c)) / Math.sqrt(maxC);
    const x0 = x(h.lo + i * binW);
    parts.push(`<rect class="bin" x="${r2(x0)}" y="${r2(base - bh)}" width="${r2(Math.max(0.6, x(h.lo + (i + 1) * binW) - x0))}" height="${r2(bh)}"/>`);
  }
  parts.push(`<line x1="${padX}" y1="${base}" x2="${W - padX}" y2="${base}" class="axis"/>`);
  if (h.qRange) {
    for (const v of [h.qRange.lo, h.qRange.hi]) parts.push(`<line class="qrange" x1="${r2(x(v))}" y1="${padTop - 4}" x2="${r2(x(v))}" y2="${base}"/>`);
  }
  parts.push(`<text x="${padX}" y="${H - 5}" class="tick" style="text-anchor:start">${esc(fmtNum(lo))}</text><text x="${W - padX}" y="${H - 5}" class="tick" style="text-anchor:end">${esc(fmtNum(hi))}</text>`);
  parts.push("</svg>");
  return parts.join("");
}

/** A number with 4 significant digits. */
export function fmtNum(v: number): string {
  return Number.isFinite(v) ? Number(v.toPrecision(4)).toString() : String(v);
}

/** Two horizontal bars (before, after) split by category, with a shared legend. */
export function sizeBars(before: Record<string, number>, after: Record<string, number>): string {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort((a, b) => (before[b] ?? 0) + (after[b] ?? 0) - (before[a] ?? 0) - (after[a] ?? 0));
  const palette = ["#1565c0", "#ef6c00", "#2e7d32", "#6a1b9a", "#c62828", "#00838f", "#9e9d24", "#4e342e", "#ad1457", "#37474f"];
  const color = (i: number) => palette[i % palette.length]!;
  const total = Math.max(1, sum(before), sum(after));
  const W = 640, barH = 22, labelW = 60;
  const parts = [`<svg class="chart size" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${2 * barH + 30 + 16 * Math.ceil(keys.length / 4)}" role="img" aria-label="size breakdown">`];
  [["before", before], ["after", after]].forEach(([label, m], row) => {
    const rec = m as Record<string, number>;
    let x = labelW;
    const y = 6 + row * (barH + 6);
    parts.push(`<text x="${labelW - 6}" y="${y + 15}" class="label">${label}</text>`);
    keys.forEach((k, i) => {
      const w = ((W - labelW - 10) * (rec[k] ?? 0)) / total;
      if (w <= 0) return;
      parts.push(`<rect class="seg" x="${r2(x)}" y="${y}" width="${r2(w)}" height="${barH}" fill="${color(i)}"><title>${esc(k)}: ${esc(fmtBytes(rec[k]!))}</title></rect>`);
      x += w;
    });
  });
  keys.forEach((k, i) => {
    const lx = labelW + (i % 4) * 145, ly = 2 * (barH + 6) + 18 + Math.floor(i / 4) * 16;
    parts.push(`<rect x="${lx}" y="${ly - 9}" width="10" height="10" fill="${color(i)}"/><text x="${lx + 14}" y="${ly}" class="legend">${esc(clip(k, 20))}</text>`);
  });
  parts.push("</svg>");
  return parts.join("");
}

const sum = (m: Record<string, number>) => Object.values(m).reduce((a, b) => a + b, 0);
