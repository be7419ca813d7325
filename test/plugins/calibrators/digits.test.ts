/**
 * The calibrators on real activations: digits_cnn's ReLU/pooling outputs, histograms from its 128 calibration
 * images, per-tensor uint8 quantization SQNR measured on the 469 held-out test images.
 */
import { describe, expect, test } from "bun:test";
import * as ort from "onnxruntime-node";
import { loadModel, serializeModel, valueInfo } from "../../../src/index.ts";
import { readNpy } from "../../../src/data/npy.ts";
import { HistogramObserver } from "../../../src/tensor/histogram.ts";
import { entropyRange } from "../../../plugins/calibrators/entropy.ts";
import { mseRange } from "../../../plugins/calibrators/mse.ts";
import { percentileRange } from "../../../plugins/calibrators/percentile.ts";
import { corpus, hasCorpus } from "../../helpers/corpus.ts";
import { qdqSqnr } from "./fixtures.ts";

describe.skipIf(!hasCorpus)("digits_cnn activations", async () => {
  const model = loadModel(corpus("digits_cnn.onnx"));
  const g = model.proto.graph!;
  const acts = g.node!.filter((n) => n.op_type === "Relu" || n.op_type === "GlobalAveragePool").map((n) => n.output![0]!);
  const probe = { ...model, proto: { ...model.proto, graph: { ...g, output: acts.map((a) => valueInfo(a, 1)) } } };
  const session = await ort.InferenceSession.create(serializeModel(probe), { intraOpNumThreads: 1, logSeverityLevel: 3 });
  const run = async (file: string) => {
    const d = readNpy(corpus(file));
    return session.run({ image: new ort.Tensor("float32", d.data as Float32Array, d.dims) });
  };
  const calib = await run("digits_cnn_calib.npy");
  const testSet = await run("digits_cnn_test_x.npy");
  const rows = acts.map((a) => {
    const h = new HistogramObserver();
    h.observe(calib[a]!.data as Float32Array);
    const x = testSet[a]!.data as Float32Array;
    const db = (r: { min: number; max: number }) => qdqSqnr(x, r);
    return {
      tensor: a,
      minmax: db({ min: h.min, max: h.max }),
      percentile: db(percentileRange(h, 99.99)),
      entropy: db(entropyRange(h)),
      tensorrt: db(entropyRange(h, { weight: 0 })),
      mse: db(mseRange(h)),
    };
  });
  if (process.env.SHOW_ROWS) console.table(rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === "number" ? +v.toFixed(2) : v.split("/").slice(-2).join("/")]))));
  const mean = (k: keyof (typeof rows)[0]) => rows.reduce((s, r) => s + (r[k] as number), 0) / rows.length;

  test("mse: best mean SQNR on unseen data, never more than 0.75 dB below min/max on a tensor", () => {
    expect(mean("mse")).toBeGreaterThan(mean("minmax"));
    expect(mean("mse")).toBeGreaterThan(mean("percentile"));
    expect(mean("mse")).toBeGreaterThan(mean("entropy"));
    for (const r of rows) expect(r.mse).toBeGreaterThan(r.minmax - 0.75);
  });

  test("entropy (|x|-weighted KL): within 1.5 dB of min/max on every tensor, where TensorRT's plain KL loses > 15 dB", () => {
    for (const r of rows) expect(r.entropy).toBeGreaterThan(r.minmax - 1.5);
    const worst = Math.min(...rows.map((r) => r.tensorrt - r.minmax));
    expect(worst).toBeLessThan(-15);
  });
});
