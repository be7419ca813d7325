import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { DataType, GraphBuilder, encodeModelProto, loadModel, type Model } from "../../src/index.ts";
import { writeNpy } from "../../src/data/npy.ts";
import { classLayout, outputKind, outputRules } from "../../src/validate/output-kind.ts";
import { ShapeMetricsAccumulator } from "../../src/validate/metrics-by-shape.ts";
import { readLabels } from "../../src/validate/labels.ts";
import { measureFidelity } from "../../src/validate/fidelity.ts";

const dir = mkdtempSync(join(tmpdir(), "quant-shape-metrics-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** x → op chain → y, for output-kind rules (only the graph matters, not whether it runs). */
function chain(ops: [string, Record<string, number | number[]>?][], opset = 13): Model {
  const b = new GraphBuilder("k");
  b.input("x", DataType.FLOAT, ["N", 4]);
  let v = "x";
  ops.forEach(([op, attrs], i) => (v = b.node(op, [v], attrs ?? {}, [i === ops.length - 1 ? "y" : `v${i}`], { name: `n${i}` })));
  b.output("y", DataType.FLOAT);
  return loadModel(encodeModelProto(b.model({ opset })), { check: false });
}

describe("output kinds", () => {
  test("a Softmax output is a classifier along its axis, through Cast/Identity, at any rank", () => {
    const rule = outputRules(chain([["Softmax", { axis: 2 }], ["Identity"]])).get("y")!;
    expect(rule).toEqual({ source: "softmax", axis: 2, flatten: false });
    // fr_detect's scores [1, 4420, 2]: one decision per anchor.
    expect(classLayout(rule, [1, 4420, 2])).toEqual({ outer: 4420, classes: 2, inner: 1, axis: 2 });
    // Per-pixel softmax over channels: strided.
    const seg = outputRules(chain([["Softmax", { axis: 1 }]])).get("y")!;
    expect(classLayout(seg, [2, 5, 3, 4])).toEqual({ outer: 2, classes: 5, inner: 12, axis: 1 });
    // Before opset 13 the input is coerced to 2-D at the axis: one row over C·H·W.
    const old = outputRules(chain([["Softmax", { axis: 1 }]], 11)).get("y")!;
    expect(classLayout(old, [2, 5, 3, 4])).toEqual({ outer: 2, classes: 60, inner: 1, axis: 1 });
  });

  test("a Softmax moved by a Transpose falls back to the shape rule", () => {
    expect(outputRules(chain([["Softmax", { axis: 1 }], ["Transpose", { perm: [1, 0] }]])).get("y")).toEqual({ source: "shape" });
  });

  test("shape rule: [N, C], [N, C, 1, 1], [N, 1, C] and [C] are classifiers; maps and sequences are values", () => {
    const shape = { source: "shape" } as const;
    expect(classLayout(shape, [8, 10])).toEqual({ outer: 8, classes: 10, inner: 1, axis: 1 });
    expect(classLayout(shape, [8, 10, 1, 1])).toEqual({ outer: 8, classes: 10, inner: 1, axis: 1 });
    expect(classLayout(shape, [1, 1, 1000])).toEqual({ outer: 1, classes: 1000, inner: 1, axis: 2 });
    expect(classLayout(shape, [1000])).toEqual({ outer: 1, classes: 1000, inner: 1, axis: 0 });
    expect(outputKind(shape, [1, 1, 1024, 1024])).toBe("values"); // a dense map: no row-argmax
    expect(outputKind(shape, [1, 4420, 4])).toBe("values"); // boxes
    expect(outputKind(shape, [1, 12, 768])).toBe("values"); // a hidden state
    expect(outputKind(shape, [4, 1])).toBe("values"); // one value per sample (a regression or a score)
  });

  test("a Sigmoid through Resize/Reshape is a probability map with spatial dims, probabilities without", () => {
    const rule = outputRules(chain([["Sigmoid"], ["Resize"], ["Cast", { to: 1 }]])).get("y")!;
    expect(rule).toEqual({ source: "sigmoid" });
    expect(outputKind(rule, [1, 1, 320, 320])).toBe("probability-map");
    expect(outputKind(rule, [1, 4420, 1])).toBe("probabilities"); // one score per anchor: same metrics, no "pixels"
    expect(outputKind(rule, [4, 1])).toBe("probabilities");
    expect(outputKind(rule, [4, 7])).toBe("probabilities");
    // A Sigmoid followed by arithmetic is no longer a probability.
    expect(outputRules(chain([["Sigmoid"], ["Relu"]])).get("y")).toEqual({ source: "shape" });
  });
});

describe("ShapeMetricsAccumulator", () => {
  test("classifier along a strided axis: agreement counted per (outer, inner) position, with labels", () => {
    // dims [2, 3, 2]: 2 samples × 3 classes × 2 positions. Labels need one row per sample, so a separate case below.
    const acc = new ShapeMetricsAccumulator("seg", { source: "softmax", axis: 1 }, undefined);
    const ref = new Float32Array([
      0.1, 0.7, /* c0 */ 0.8, 0.2, /* c1 */ 0.1, 0.1, /* c2 */ // sample 0: argmax (c1, c0)
      0.5, 0.1, 0.2, 0.1, 0.3, 0.8, // sample 1: argmax (c0, c2)
    ]);
    const q = new Float32Array([
      0.1, 0.7, 0.8, 0.2, 0.1, 0.1, // same: (c1, c0)
      0.2, 0.1, 0.5, 0.1, 0.3, 0.8, // (c1, c2): one of the two positions flips
    ]);
    acc.add(ref, q, [2, 3, 2], 0, 2);
    expect(acc.result()).toEqual({ kind: "classifier", dims: [2, 3, 2], classAxis: 1, rows: 4, top1Agreement: 3 / 4 });
  });

  test("labelled accuracy of both models and the drop, over batches", () => {
    const labels = { values: new Int32Array([0, 2, 1, 1]), source: "y.npy" };
    const acc = new ShapeMetricsAccumulator("logits", { source: "shape" }, labels);
    // batch 1: samples 0-1; float argmax (0, 2), quantized (0, 1)
    acc.add(new Float32Array([5, 1, 0, 0, 1, 3]), new Float32Array([5, 1, 0, 0, 3, 1]), [2, 3], 0, 2);
    // batch 2: samples 2-3; float (1, 0), quantized (1, 1)
    acc.add(new Float32Array([0, 2, 1, 4, 1, 1]), new Float32Array([0, 2, 1, 1, 4, 1]), [2, 3], 2, 2);
    const r = acc.result();
    expect(r.top1Agreement).toBe(2 / 4);
    expect(r.accuracy).toEqual({ labels: "y.npy", output: "logits", samples: 4, float: 3 / 4, quantized: 3 / 4, drop: 0 });
  });

  test("probability map: agreement at 0.5 and foreground IoU; a value outside [0, 1] demotes it", () => {
    const acc = new ShapeMetricsAccumulator("mask", { source: "sigmoid" });
    const ref = new Float32Array([0.9, 0.8, 0.2, 0.1, 0.6, 0.4, 0.0, 1.0]);
    const q = new Float32Array([0.9, 0.4, 0.2, 0.7, 0.6, 0.4, 0.0, 0.99]);
    acc.add(ref, q, [1, 1, 2, 4], 0, 1);
    // decisions ref: 1 1 0 0 1 0 0 1; q: 1 0 0 1 1 0 0 1 → 6 of 8 agree; ∩ = 3, ∪ = 5
    expect(acc.result()).toEqual({ kind: "probability-map", dims: [1, 1, 2, 4], pixelAgreement: 6 / 8, foregroundIoU: 3 / 5 });
    const bad = new ShapeMetricsAccumulator("m", { source: "sigmoid" });
    bad.add(new Float32Array([0.5, 1.5]), new Float32Array([0.5, 1.5]), [1, 1, 1, 2], 0, 1);
    expect(bad.result().kind).toBe("values");
    expect(bad.result().pixelAgreement).toBeUndefined();
    expect(bad.result().note).toContain("1 reference value(s) lie outside [0, 1]");
  });

  test("readLabels: int64 indices, one-hot rows, refusals", () => {
    writeNpy(join(dir, "i.npy"), BigInt64Array.from([3n, 0n, 9n]), [3]);
    expect([...readLabels(join(dir, "i.npy")).values]).toEqual([3, 0, 9]);
    writeNpy(join(dir, "h.npy"), new Float32Array([0, 1, 0, 1, 0, 0]), [2, 3]);
    expect([...readLabels(join(dir, "h.npy")).values]).toEqual([1, 0]);
    writeNpy(join(dir, "f.npy"), new Float32Array([0.5]), [1]);
    expect(() => readLabels(join(dir, "f.npy"))).toThrow(/E_DATA_FORMAT|not a class index/);
  });
});

/** x[1,1,4,4] → Conv(3×3, pad 1, weight w) → Sigmoid → y: a probability map. */
function sigmoidMap(w: number[]): Model {
  const b = new GraphBuilder("map");
  b.input("x", DataType.FLOAT, [1, 1, 4, 4]);
  b.initializer("W", DataType.FLOAT, [1, 1, 3, 3], new Float32Array(w));
  b.node("Conv", ["x", "W"], { pads: [1, 1, 1, 1] }, ["logit"], { name: "conv" });
  b.node("Sigmoid", ["logit"], {}, ["y"], { name: "sig" });
  b.output("y", DataType.FLOAT, [1, 1, 4, 4]);
  return loadModel(encodeModelProto(b.model({ opset: 13 })));
}

describe("measureFidelity on a Sigmoid map", () => {
  test("pixel agreement and IoU equal a count over ONNX Runtime's outputs; no top-1 for a dense map", async () => {
    const w = [0.1, -0.2, 0.3, 0.5, 1, -0.4, 0.2, 0.1, -0.3];
    const w2 = w.map((v, i) => (i === 4 ? 0.2 : v)); // the centre tap cut: pixels near 0.5 flip
    const a = sigmoidMap(w);
    const b = sigmoidMap(w2);
    const X = new Float32Array(3 * 16).map((_, i) => Math.sin(i * 1.7) * 2);
    writeNpy(join(dir, "map.npy"), X, [3, 1, 1, 4, 4]);
    const r = await measureFidelity(a, b, { data: join(dir, "map.npy") });
    const [y] = r.outputs;
    // By hand from ORT.
    const sa = await ort.InferenceSession.create(encodeModelProto(a.proto));
    const sb = await ort.InferenceSession.create(encodeModelProto(b.proto));
    let agree = 0, inter = 0, union = 0;
    for (let s = 0; s < 3; s++) {
      const feed = { x: new ort.Tensor("float32", X.slice(s * 16, s * 16 + 16), [1, 1, 4, 4]) };
      const ya = (await sa.run(feed)).y!.data as Float32Array;
      const yb = (await sb.run(feed)).y!.data as Float32Array;
      for (let i = 0; i < 16; i++) {
        const p = ya[i]! > 0.5, q = yb[i]! > 0.5;
        agree += +(p === q);
        inter += +(p && q);
        union += +(p || q);
      }
    }
    expect(agree).toBeLessThan(48); // the perturbation flips some pixels: the test can fail
    expect(y!.byShape).toMatchObject({ kind: "probability-map", dims: [1, 1, 4, 4], pixelAgreement: agree / 48, foregroundIoU: inter / union });
    expect(y!.top1Agreement).toBeUndefined();
    expect(y!.byShape.top1Agreement).toBeUndefined();
  });
});
