/**
 * `quant validate`'s default SQNR bar (20 dB), metrics per output kind, and --labels: on a model broken on purpose,
 * on the digits corpus with its labels, and on zoo models (fr_detect's softmax scores, isnet_medium's sigmoid maps).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { DataType, GraphBuilder, encodeModelProto } from "../../src/index.ts";
import { readNpy, writeNpy } from "../../src/data/npy.ts";
import { corpus, hasCorpus } from "../helpers/corpus.ts";
import { hasZoo, zoo } from "../helpers/zoo.ts";
import { quant } from "./helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "quant-validate-bar-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** x[N,4] → MatMul(W) → Softmax → y[N,3]; `scale` multiplies W (the "broken" copy has a wrong scale on one column). */
function write(name: string, broken: boolean): string {
  const b = new GraphBuilder(name);
  b.input("x", DataType.FLOAT, ["N", 4]);
  const w = new Float32Array(12).map((_, i) => (i - 6) / 8);
  if (broken) for (let r = 0; r < 4; r++) w[r * 3 + 1]! *= -3; // a dequantization scale gone wrong, sign and all
  b.initializer("W", DataType.FLOAT, [4, 3], w);
  b.node("MatMul", ["x", "W"], {}, ["logits"], { name: "mm" });
  b.node("Softmax", ["logits"], { axis: 1 }, ["y"], { name: "softmax" });
  b.output("y", DataType.FLOAT, ["N", 3]);
  const path = join(dir, name);
  writeFileSync(path, encodeModelProto(b.model({ opset: 13 })));
  return path;
}

const float = write("float.onnx", false);
const broken = write("broken.onnx", true);
const data = join(dir, "x.npy");
writeNpy(data, new Float32Array(32).map((_, i) => Math.sin(i * 0.7) * 2), [8, 4]);

describe("the default bar", () => {
  test("random inputs are not judged against it: a warning per output below it, PASS saying so; an explicit bar applies", () => {
    const r = quant(["validate", float, broken]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/warning: fidelity-sqnr \(y\): output "y": SQNR [0-9.]+ dB on random inputs, below the 20 dB bar/);
    expect(r.stdout).toContain("PASS (structure and loading; numbers on random inputs are not judged against the 20 dB bar: pass --data)");
    expect(quant(["validate", float, broken, "--min-sqnr", "20"]).code).toBe(1);
  });

  test("a broken model fails at 20 dB: exit 1, one line with the figure and the bar", () => {
    const r = quant(["validate", float, broken, "--data", data]);
    expect(r.code).toBe(1);
    const json = JSON.parse(quant(["validate", float, broken, "--data", data, "--format", "json"]).stdout);
    const db = json.outputs[0].sqnrDb as number;
    expect(db).toBeLessThan(20);
    expect(json.fidelity.minSqnrDb).toBe(20);
    expect(json.ok).toBe(false);
    expect(r.stdout).toContain(`FAIL: 1 output(s) below 20 dB SQNR (the default bar; --min-sqnr DB to change it): y ${db.toFixed(2)} dB`);
    expect(r.stdout).toContain(`error: fidelity-sqnr (y): output "y": SQNR ${db.toFixed(2)} dB is below the required 20 dB`);
    // The softmax output is a classifier: its top-1 agreement is reported (and some rows flip).
    expect(json.outputs[0].kind).toBe("classifier");
    expect(json.outputs[0].top1Agreement).toBeLessThan(1);
    expect(json.outputs[0].pixelAgreement).toBeNull();
  });

  test("--min-sqnr lowers it (and off disables it); the same model passes", () => {
    const db = JSON.parse(quant(["validate", float, broken, "--data", data, "--format", "json"]).stdout).outputs[0].sqnrDb as number;
    const low = quant(["validate", float, broken, "--data", data, "--min-sqnr", String(Math.floor(db))]);
    expect(low.code).toBe(0);
    expect(low.stdout).toContain(`PASS (every output ≥ ${Math.floor(db)} dB SQNR)`);
    const off = quant(["validate", float, broken, "--data", data, "--min-sqnr", "off", "--format", "json"]);
    expect(off.code).toBe(0);
    expect(JSON.parse(off.stdout).fidelity.minSqnrDb).toBeNull();
    expect(quant(["validate", float, broken, "--min-sqnr", "x"]).code).toBe(2); // a usage error
  });

  test("--labels on random data (usage, exit 2) or with too few labels (exit 1): one error line", () => {
    writeNpy(join(dir, "y3.npy"), BigInt64Array.from([0n, 1n, 2n]), [3]);
    writeNpy(join(dir, "y8.npy"), BigInt64Array.from([0n, 1n, 2n, 0n, 1n, 2n, 0n, 1n]), [8]);
    const random = quant(["validate", float, float, "--labels", join(dir, "y8.npy")]);
    expect(random.code).toBe(2);
    expect(random.stderr).toContain("labels need the data they label");
    const few = quant(["validate", float, float, "--data", data, "--labels", join(dir, "y3.npy")]);
    expect(few.code).toBe(1);
    expect(few.stderr).toMatch(/E_CALIB_SAMPLES.*holds 3 label\(s\) for 8 compared sample\(s\)/);
  });
});

describe("--report when the model does not load", () => {
  test("no report, a warning saying why, exit 1", () => {
    const b = new GraphBuilder("dangling");
    b.input("x", DataType.FLOAT, ["N", 4]);
    b.node("MatMul", ["x", "W_gone"], {}, ["logits"], { name: "mm" });
    b.node("Softmax", ["logits"], { axis: 1 }, ["y"], { name: "softmax" });
    b.output("y", DataType.FLOAT, ["N", 3]);
    const dangling = join(dir, "dangling.onnx");
    writeFileSync(dangling, encodeModelProto(b.model({ opset: 13 })));
    const html = join(dir, "never.html");
    const r = quant(["validate", float, dangling, "--data", data, "--report", html]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`--report ${html}: not written, the quantized model does not load in onnxruntime-node`);
    expect(existsSync(html)).toBe(false);
  });
});

describe.skipIf(!hasCorpus)("--labels on digits_cnn (corpus)", () => {
  test("labelled top-1 of both models equals a count over ONNX Runtime's argmax; the drop is their difference", async () => {
    const q = join(dir, "digits.qdq.onnx");
    expect(quant(["calibrate", corpus("digits_cnn.onnx"), "--data", corpus("digits_cnn_calib.npy"), "-o", q, "-q"]).code).toBe(0);
    const x = corpus("digits_cnn_test_x.npy");
    const y = corpus("digits_test_y.npy");
    const r = quant(["validate", corpus("digits_cnn.onnx"), q, "--data", x, "--labels", y, "--format", "json"]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    // By hand.
    const X = readNpy(x);
    const Y = readNpy(y).data as BigInt64Array;
    const n = X.dims[0]!;
    const per = X.data.length / n;
    const count = async (path: string) => {
      const s = await ort.InferenceSession.create(path);
      let right = 0;
      for (let i = 0; i < n; i++) {
        const out = (await s.run({ [s.inputNames[0]!]: new ort.Tensor("float32", (X.data as Float32Array).slice(i * per, (i + 1) * per), [1, ...X.dims.slice(1)]) }))[s.outputNames[0]!]!.data as Float32Array;
        let best = 0;
        for (let c = 1; c < out.length; c++) if (out[c]! > out[best]!) best = c;
        if (BigInt(best) === Y[i]) right++;
      }
      return right / n;
    };
    const fa = await count(corpus("digits_cnn.onnx"));
    const qa = await count(q);
    expect(j.accuracy).toEqual({ labels: y, output: "logits", samples: n, float: fa, quantized: qa, drop: fa - qa });
    expect(fa).toBeGreaterThan(0.98);
    expect(j.outputs[0]).toMatchObject({ kind: "classifier", pixelAgreement: null, accuracy: j.accuracy });
    console.log(`digits_cnn static INT8, ${n} labelled samples: float ${(100 * fa).toFixed(2)}%, quantized ${(100 * qa).toFixed(2)}%, SQNR ${j.outputs[0].sqnrDb.toFixed(2)} dB`);
  }, 120_000);
});

describe.skipIf(!hasZoo)("zoo outputs by kind", () => {
  test("fr_detect static INT8: scores (Softmax axis 2) are per-anchor top-1 over 4420 rows a sample; boxes are plain values", () => {
    const q = join(dir, "det.qdq.onnx");
    expect(quant(["calibrate", zoo("fr_detect"), "--samples", "4", "-o", q, "-q"]).code).toBe(0);
    const r = quant(["validate", zoo("fr_detect"), q, "--samples", "4", "--format", "json"]);
    const j = JSON.parse(r.stdout);
    const [scores, boxes] = j.outputs;
    expect(scores).toMatchObject({ name: "scores", kind: "classifier", pixelAgreement: null });
    expect(scores.top1Agreement).toBeGreaterThan(0.99);
    expect(boxes).toMatchObject({ name: "boxes", kind: "values", top1Agreement: null, pixelAgreement: null });
    // Random inputs: not judged against the default bar (exit 0), an output below it is a warning.
    expect(r.code).toBe(0);
    expect(j.fidelity.minSqnrDb).toBeNull();
  }, 180_000);

  test("isnet_medium weight-only INT8: its sigmoid maps get pixel agreement and IoU, no top-1; random inputs: warnings, not a failure", () => {
    const q = join(dir, "isnet.int8.onnx");
    expect(quant(["quantize", zoo("isnet_medium"), "-o", q, "-q"]).code).toBe(0);
    const r = quant(["validate", zoo("isnet_medium"), q, "--samples", "1", "--format", "json"]);
    const j = JSON.parse(r.stdout);
    const maps = j.outputs.filter((o: { kind: string }) => o.kind === "probability-map");
    expect(maps.map((o: { name: string }) => o.name)).toEqual(["output", "1890", "1891", "1892", "1893", "1894"]);
    for (const m of maps) {
      expect(m.top1Agreement).toBeNull();
      expect(m.pixelAgreement).toBeGreaterThan(0.9);
      expect(m.pixelAgreement).toBeLessThanOrEqual(1);
      expect(m.foregroundIoU).toBeGreaterThanOrEqual(0);
      expect(m.foregroundIoU).toBeLessThanOrEqual(1);
    }
    // The six side outputs of the decoder stages are feature maps (Add of Relu): plain values.
    expect(j.outputs.filter((o: { kind: string }) => o.kind === "values")).toHaveLength(6);
    const out = maps[0];
    expect(out.pixelAgreement).toBeLessThan(1);
    expect(out.foregroundIoU).toBeGreaterThan(0);
    expect(out.foregroundIoU).toBeLessThan(out.pixelAgreement); // a sparse mask: agreement flatters, IoU does not
    console.log(`isnet_medium weight-only INT8, 1 random sample: "output" SQNR ${out.sqnrDb.toFixed(2)} dB, pixel agreement ${(100 * out.pixelAgreement).toFixed(2)}%, IoU ${out.foregroundIoU.toFixed(4)}`);
    // Random inputs: the default bar is not applied, each output below it is a warning; an explicit bar applies.
    expect(out.sqnrDb).toBeLessThan(20);
    expect(r.code).toBe(0);
    expect(j.fidelity.diagnostics.filter((d: { code: string; level: string }) => d.code === "fidelity-sqnr" && d.level === "warning").length).toBeGreaterThanOrEqual(1);
  }, 300_000);
});
