/**
 * The HTML report, rendered by a real headless browser (Debian's chromium): sections present, one bar per layer, one
 * row per fallback decision, no console errors (the CSP would log any attempt to load something), and node names
 * that are HTML stay text. Skips, saying why, when chromium is not installed. Screenshot: bench/out/report.png.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DataType, GraphBuilder, encodeModelProto, loadModel } from "../../src/index.ts";
import { writeNpy } from "../../src/data/npy.ts";
import { renderReportHtml } from "../../src/report/html.ts";
import { collectReport } from "../../src/report/collect.ts";
import type { AccuracySearchSummary } from "../../src/report/types.ts";
import { measureFidelity } from "../../src/validate/fidelity.ts";
import { ROOT } from "../helpers/corpus.ts";
import { quant } from "../cli/helpers.ts";

const HOSTILE = "<script>alert(1)</script>";
const HOSTILE_TENSOR = `"><img src=x onerror=alert(2)>`;

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
if (!CHROMIUM) console.log("html-report: chromium not installed (apt-get install chromium): the browser checks are skipped");

const dir = mkdtempSync(join(tmpdir(), "quant-report-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** x[N,1,8,8] → Conv (hostile node and tensor names) → Relu → Conv → Relu → GlobalAveragePool → Flatten → Gemm → y[N,4]. */
function hostileModel(): string {
  const b = new GraphBuilder("hostile");
  b.input("x", DataType.FLOAT, ["N", 1, 8, 8]);
  const w1 = new Float32Array(4 * 9).map((_, i) => Math.sin(i * 0.9) * 0.5);
  const w2 = new Float32Array(4 * 4 * 9).map((_, i) => Math.cos(i * 0.37) * 0.3);
  const w3 = new Float32Array(4 * 4).map((_, i) => ((i % 5) - 2) * 0.4);
  b.initializer("w1", DataType.FLOAT, [4, 1, 3, 3], w1);
  b.initializer("w2", DataType.FLOAT, [4, 4, 3, 3], w2);
  b.initializer("w3", DataType.FLOAT, [4, 4], w3);
  b.initializer("b3", DataType.FLOAT, [4], new Float32Array([0.1, -0.2, 0.05, 0]));
  b.node("Conv", ["x", "w1"], { pads: [1, 1, 1, 1] }, [HOSTILE_TENSOR], { name: HOSTILE });
  b.node("Relu", [HOSTILE_TENSOR], {}, ["r1"], { name: "relu1" });
  b.node("Conv", ["r1", "w2"], { pads: [1, 1, 1, 1] }, ["c2"], { name: "conv2" });
  b.node("Relu", ["c2"], {}, ["r2"], { name: "relu2" });
  b.node("GlobalAveragePool", ["r2"], {}, ["gap"], { name: "gap" });
  b.node("Flatten", ["gap"], {}, ["flat"], { name: "flat" });
  b.node("Gemm", ["flat", "w3", "b3"], {}, ["y"], { name: "head" });
  b.output("y", DataType.FLOAT, ["N", 4]);
  const path = join(dir, "hostile.onnx");
  writeFileSync(path, encodeModelProto(b.model({ opset: 13 })));
  return path;
}

const model = hostileModel();
const data = join(dir, "x.npy");
writeNpy(data, new Float32Array(16 * 64).map((_, i) => Math.sin(i * 0.13) + 0.3 * Math.cos(i * 0.71)), [16, 1, 8, 8]);

/** Load a file in headless chromium: the serialized DOM and the console/CSP lines it logged. */
function render(file: string, screenshot?: string): { dom: string; log: string } {
  const flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", `--user-data-dir=${mkdtempSync(join(dir, "chrome-"))}`, "--enable-logging=stderr", "--v=0"];
  const dom = Bun.spawnSync([CHROMIUM!, ...flags, "--dump-dom", `file://${file}`], { stdout: "pipe", stderr: "pipe", timeout: 90_000 });
  if (screenshot) {
    mkdirSync(join(ROOT, "bench/out"), { recursive: true });
    Bun.spawnSync([CHROMIUM!, ...flags, "--window-size=1280,2400", `--screenshot=${screenshot}`, `file://${file}`], { stdout: "pipe", stderr: "pipe", timeout: 90_000 });
  }
  return { dom: dom.stdout.toString(), log: dom.stderr.toString() };
}

/** Console messages and CSP refusals chromium logged (its own dbus/GPU noise is not about the page). */
const pageErrors = (log: string) => log.split("\n").filter((l) => /CONSOLE|Content Security Policy|Refused to|Uncaught/i.test(l));

const count = (s: string, re: RegExp) => (s.match(re) ?? []).length;

describe("report HTML (no browser)", () => {
  test("every model string is escaped; no script, no external reference", async () => {
    const q = join(dir, "plain.qdq.onnx");
    expect(quant(["calibrate", model, "--data", data, "-o", q, "-q"]).code).toBe(0);
    const original = loadModel(model);
    const quantized = loadModel(q);
    const fid = await measureFidelity(original, quantized, { data, detailed: true });
    const html = renderReportHtml(await collectReport({ title: HOSTILE, facts: [["node", HOSTILE]], original, quantized, fileBytes: { before: 1, after: 1 }, fidelity: fid, source: "x.npy", minSqnrDb: 20 }));
    expect(html).not.toContain(HOSTILE);
    expect(html).not.toContain(HOSTILE_TENSOR);
    expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(count(html, /<script/gi)).toBe(0);
    expect(html).not.toMatch(/(src|href)=["']?(https?:|\/\/)/i);
    expect(html).not.toMatch(/@import|url\(/i);
  });
});

describe("the report exporter and --report", () => {
  test("a config's report exporter with an .html path writes the HTML report beside the model", () => {
    const out = join(dir, "cfg.qdq.onnx");
    const html = join(dir, "cfg.report.html");
    const cfg = join(dir, "report.config.json");
    writeFileSync(cfg, JSON.stringify({ plugins: ["normalize", "minmax", "static-qdq", "int8", "onnx", ["report", { path: html }]] }));
    const r = quant(["calibrate", model, "--data", data, "-o", out, "-c", cfg, "--format", "json"]);
    if (r.code !== 0) throw new Error(r.stderr);
    expect(JSON.parse(r.stdout).artifacts.map((a: { kind: string }) => a.kind)).toEqual(["onnx", "report-html"]);
    const text = readFileSync(html, "utf8");
    expect(text).toContain(`<section id="sensitivity">`);
    expect(text).toContain(`<span class="badge pass" id="verdict">PASS</span>`);
    expect(text).not.toContain(HOSTILE);
  });

  test("--report not ending in .html, or on data that fails: exit non-zero, neither model nor report written", () => {
    const out = join(dir, "never.onnx");
    const bad = quant(["calibrate", model, "--data", data, "-o", out, "--report", join(dir, "r.txt")]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("E_USAGE");
    expect(existsSync(out)).toBe(false);
    // 64 samples asked of a 16-sample file: the run fails, and the report goes with the model (nothing written).
    const html = join(dir, "never.html");
    const fail = quant(["calibrate", model, "--data", data, "--samples", "64", "-o", out, "--report", html]);
    expect(fail.code).toBe(1);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(html)).toBe(false);
  });
});

describe("report HTML with nothing measured", () => {
  test("every section is present and says what is missing", () => {
    const html = renderReportHtml({ title: "m", facts: [], sensitivity: [], tensors: [], keptFloat: [], notes: [] });
    for (const id of ["summary", "accuracy", "sensitivity", "tensors", "size", "decisions"]) expect(html).toContain(`<section id="${id}">`);
    expect(html).toContain("<h2>Accuracy before/after</h2><p class=\"muted\">Not measured.</p>");
    expect(html).toContain("No accuracy search ran");
    expect(count(html, /<g class="bar">/g)).toBe(0);
  });
});

describe.skipIf(!CHROMIUM)("report in headless chromium", () => {
  test("calibrate --report: sections, one bar per layer, the hostile names as text, no page errors", () => {
    const q = join(dir, "hostile.qdq.onnx");
    const html = join(dir, "report.html");
    const r = quant(["calibrate", model, "--data", data, "-o", q, "--report", html, "--format", "json"]);
    if (r.code !== 0) throw new Error(r.stderr);
    const job = JSON.parse(r.stdout);
    expect(job.artifacts.map((a: { kind: string }) => a.kind)).toContain("report-html");
    // The layers the report must show: every intermediate tensor both models produce (validate --detailed lists them).
    const v = JSON.parse(quant(["validate", model, q, "--data", data, "--detailed", "--format", "json"]).stdout);
    const layers = v.layers.length as number;
    expect(layers).toBeGreaterThanOrEqual(5);
    const { dom, log } = render(html, join(ROOT, "bench/out/report.png"));
    for (const id of ["summary", "accuracy", "sensitivity", "tensors", "size", "decisions"]) expect(dom).toContain(`<section id="${id}">`);
    expect(count(dom, /<g class="bar">/g)).toBe(layers);
    expect(dom).toContain(`<div class="sensitivity-chart" id="sensitivity-cumulative"><h3>Cumulative: ${layers} layers`);
    expect(dom).not.toContain(`id="sensitivity-isolated"`); // no search, no --detailed: nothing isolated was measured
    // The hostile node's output is a layer: the node and tensor names are text in the bars, never elements (the
    // serialized DOM escapes < > & in text, not quotes).
    expect(dom).toContain(`Conv &lt;script&gt;alert(1)&lt;/script&gt;`);
    expect(dom).toContain(`"&gt;&lt;img src=x onerror=alert(2)&gt;`);
    expect(count(dom, /<script/gi)).toBe(0);
    expect(count(dom, /<img/gi)).toBe(0);
    // Accuracy table: one output, its SQNR as validate measures it (same data, same models).
    expect(count(dom, /<tr class="output">/g)).toBe(1);
    expect(dom).toContain(`>${v.outputs[0].sqnrDb.toFixed(2)}</td>`);
    // Histograms of activations that carry a Q (the worst six), each with its quantized range drawn.
    expect(count(dom, /<div class="tensor">/g)).toBeGreaterThanOrEqual(3);
    expect(count(dom, /class="qrange"/g)).toBeGreaterThanOrEqual(6);
    expect(pageErrors(log)).toEqual([]);
    expect(existsSync(join(ROOT, "bench/out/report.png"))).toBe(true);
  }, 240_000);

  test("validate --report on a failing comparison: written anyway, FAIL verdict with the bar, labelled accuracy", () => {
    const q = join(dir, "hostile.qdq.onnx");
    if (!existsSync(q)) expect(quant(["calibrate", model, "--data", data, "-o", q, "-q"]).code).toBe(0);
    const labels = join(dir, "y.npy");
    writeNpy(labels, Int32Array.from({ length: 16 }, (_, i) => i % 4), [16]);
    const html = join(dir, "validate.html");
    const r = quant(["validate", model, q, "--data", data, "--labels", labels, "--min-sqnr", "90", "--report", html, "--format", "json"]);
    expect(r.code).toBe(1);
    const j = JSON.parse(r.stdout);
    expect(j.layers).toBeUndefined(); // measured for the report, not asked for (--detailed)
    const { dom, log } = render(html);
    expect(dom).toContain(`<span class="badge fail" id="verdict">FAIL</span> worst output SQNR ${j.outputs[0].sqnrDb.toFixed(2)} dB (y) against a bar of 90.00 dB`);
    expect(dom).toContain(`<th>labelled top-1 (y, 16 labels from ${labels})</th>`);
    expect(dom).toContain(`<td class="num">${(100 * j.accuracy.float).toFixed(2)}%</td><td class="num">${(100 * j.accuracy.quantized).toFixed(2)}%</td>`);
    expect(count(dom, /<script/gi)).toBe(0);
    expect(pageErrors(log)).toEqual([]);
  }, 120_000);

  test("the page-error check sees a blocked load and a console error (so the checks above can fail)", () => {
    const bad = join(dir, "bad.html");
    writeFileSync(bad, `<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:"></head><body><img src="http://127.0.0.1:9/x.png"><p>x</p></body></html>`);
    expect(pageErrors(render(bad).log).join("\n")).toContain("violates the following Content Security Policy");
  }, 120_000);

  test("a search summary: isolated bars per candidate, one decisions row per decision, the verdict", async () => {
    const q = join(dir, "hostile.qdq.onnx");
    if (!existsSync(q)) expect(quant(["calibrate", model, "--data", data, "-o", q, "-q"]).code).toBe(0);
    const search: AccuracySearchSummary = {
      target: { kind: "sqnr", db: 25 }, metric: "output SQNR (pre-sigmoid logits)", evalSource: "held-out 20% of --data", achieved: 26.4, baseline: 14.9,
      floatNodes: 2, totalNodes: 7, sessions: 9, seconds: 3.2, met: true,
      decisions: [
        { node: HOSTILE, opType: "Conv", isolatedSqnrDb: 12.5, action: "float", reason: "rank 1 of 7 by isolated sensitivity; leave-one-out keeps it" },
        { node: "conv2", opType: "Conv", isolatedSqnrDb: 21.0, action: "float", reason: "rank 2 of 7" },
        { node: "head", opType: "Gemm", isolatedSqnrDb: 38.2, action: "int8", reason: "pruned by leave-one-out: target holds without it" },
      ],
    };
    const original = loadModel(model);
    const quantized = loadModel(q);
    const html = renderReportHtml(await collectReport({ title: "search", facts: [], original, quantized, fileBytes: { before: 1, after: 1 }, source: "x.npy", minSqnrDb: 25, search }));
    const file = join(dir, "search.html");
    writeFileSync(file, html);
    const { dom, log } = render(file);
    expect(count(dom, /<tr class="decision">/g)).toBe(3);
    expect(count(dom, /<g class="bar">/g)).toBe(3);
    expect(dom).toContain(`<div class="sensitivity-chart" id="sensitivity-isolated"><h3>Isolated: 3 nodes (the nodes the accuracy search decided on)`);
    expect(dom).toContain("2 of 7");
    expect(dom).toContain(`<td class="name">&lt;script&gt;alert(1)&lt;/script&gt;</td>`);
    expect(count(dom, /<script/gi)).toBe(0);
    expect(pageErrors(log)).toEqual([]);
    expect(readFileSync(file, "utf8")).not.toContain(HOSTILE);
  }, 120_000);
});
