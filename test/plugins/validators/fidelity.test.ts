import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConsola } from "consola";
import { DataType, GraphBuilder, defaultOptions, encodeModelProto, loadModel, type Model } from "../../../src/index.ts";
import { writeNpy } from "../../../src/data/npy.ts";
import fidelity from "../../../plugins/validators/fidelity.ts";
import { fidelityDiagnostics, measureFidelity, sharedLayers } from "../../../src/validate/fidelity.ts";

/** x[N,2] → MatMul(W) → h → Mul(2) → y[N,2]. */
function model(w: number[]): Model {
  const b = new GraphBuilder("m");
  b.input("x", DataType.FLOAT, ["N", 2]);
  b.initializer("W", DataType.FLOAT, [2, 2], new Float32Array(w));
  b.initializer("two", DataType.FLOAT, [], new Float32Array([2]));
  b.node("MatMul", ["x", "W"], {}, ["h"], { name: "mm" });
  b.node("Mul", ["h", "two"], {}, ["y"], { name: "mul" });
  b.output("y", DataType.FLOAT, ["N", 2]);
  return loadModel(encodeModelProto(b.model({ opset: 13 })));
}

// Three samples; the third flips its argmax once W[0][0] goes from 1 to 1.1.
const X = new Float32Array([3, 4, 1, -2, 4, 4.2]);
const dir = mkdtempSync(join(tmpdir(), "quant-fidelity-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const data = join(dir, "x.npy");
writeNpy(data, X, [3, 2]);

const f = Math.fround;
const w00 = f(1.1);

/** Expected metrics by hand: y = 2·x·W; only column 0 changes, by 2·x0·(w00 − 1) (each product rounded to float32). */
function expected() {
  let signal = 0, noise = 0, dot = 0, testSq = 0, max = 0;
  for (let s = 0; s < 3; s++) {
    const x0 = X[2 * s]!, x1 = X[2 * s + 1]!;
    const ref = [f(2 * x0), f(2 * x1)];
    const test = [f(2 * f(x0 * w00)), f(2 * x1)];
    for (let j = 0; j < 2; j++) {
      signal += ref[j]! ** 2;
      noise += (ref[j]! - test[j]!) ** 2;
      dot += ref[j]! * test[j]!;
      testSq += test[j]! ** 2;
      max = Math.max(max, Math.abs(ref[j]! - test[j]!));
    }
  }
  return { sqnrDb: 10 * Math.log10(signal / noise), cosine: dot / Math.sqrt(signal * testSq), maxAbsError: max };
}

describe("fidelity on a model with one weight perturbed by a known amount", () => {
  test("SQNR, cosine, max abs error and top-1 agreement equal the hand computation", async () => {
    const e = expected();
    // By hand without float rounding: signal = 4·(9+16+1+4+16+17.64) = 254.56, noise = 4·0.01·(9+1+16) = 1.04.
    expect(e.sqnrDb).toBeCloseTo(10 * Math.log10(254.56 / 1.04), 4);
    const r = await measureFidelity(model([1, 0, 0, 1]), model([1.1, 0, 0, 1]), { data });
    expect(r.samples).toBe(3);
    expect(r.randomData).toBe(false);
    const [y] = r.outputs;
    expect(y!.name).toBe("y");
    expect(y!.sqnrDb).toBeCloseTo(e.sqnrDb, 9);
    expect(y!.sqnrDb).toBeCloseTo(23.8876, 3);
    expect(y!.cosine).toBeCloseTo(e.cosine, 12);
    expect(y!.maxAbsError).toBe(e.maxAbsError);
    expect(y!.top1Agreement).toBe(2 / 3); // sample 3: [8, 8.4] → [8.8, 8.4]
    expect(y!.elements).toBe(6);
  });

  test("detailed: the shared intermediate tensor h has the same SQNR as y (y = 2h)", async () => {
    const a = model([1, 0, 0, 1]);
    const b = model([1.1, 0, 0, 1]);
    expect(sharedLayers(a, b)).toEqual([{ name: "h", opType: "MatMul" }]);
    const r = await measureFidelity(a, b, { data, detailed: true });
    expect(r.layers!.map((l) => l.name)).toEqual(["h"]);
    expect(r.layers![0]!.sqnrDb).toBeCloseTo(expected().sqnrDb, 9);
    expect(r.layers![0]!.maxAbsError).toBeCloseTo(expected().maxAbsError / 2, 6);
  });

  test("identical models: infinite SQNR, cosine 1, error 0; diagnostics are info only", async () => {
    const r = await measureFidelity(model([1, 2, 3, 4]), model([1, 2, 3, 4]), { data });
    expect(r.outputs[0]!.sqnrDb).toBe(Infinity);
    expect(r.outputs[0]!.cosine).toBe(1);
    expect(r.outputs[0]!.maxAbsError).toBe(0);
    expect(fidelityDiagnostics(r, 30).map((d) => d.level)).toEqual(["info"]);
  });

  test("minSqnrDb: an error when an output falls below it", async () => {
    const r = await measureFidelity(model([1, 0, 0, 1]), model([1.1, 0, 0, 1]), { data });
    const ds = fidelityDiagnostics(r, 30);
    const err = ds.filter((d) => d.level === "error");
    expect(err.map((d) => d.code)).toEqual(["fidelity-sqnr"]);
    expect(err[0]!.target).toBe("y");
    expect(fidelityDiagnostics(r, 20).filter((d) => d.level === "error")).toEqual([]);
  });

  test("NaN outputs of the quantized model are an error", async () => {
    const r = await measureFidelity(model([1, 0, 0, 1]), model([NaN, 0, 0, 1]), { data });
    expect(r.outputs[0]!.nonFinite).toBe(3);
    // The finite column still gets compared: it is identical.
    expect(r.outputs[0]!.sqnrDb).toBe(Infinity);
    expect(fidelityDiagnostics(r).filter((d) => d.level === "error").map((d) => d.code)).toEqual(["fidelity-nan"]);
  });

  test("no data: random samples of the declared shapes, with a warning", async () => {
    const r = await measureFidelity(model([1, 0, 0, 1]), model([1.1, 0, 0, 1]), { samples: 5 });
    expect(r.randomData).toBe(true);
    expect(r.samples).toBe(5);
    expect(r.outputs[0]!.sqnrDb).toBeGreaterThan(15);
    expect(r.outputs[0]!.sqnrDb).toBeLessThan(35);
    expect(fidelityDiagnostics(r).some((d) => d.code === "fidelity-random" && d.level === "warning")).toBe(true);
  });

  test("the plugin: metrics in info diagnostics, options from the run", async () => {
    const v = fidelity({ minSqnrDb: 30 });
    const logger = createConsola({ level: -1 });
    // The run's data as the runner hands it over: the plugin reads where the data comes from (`ctx.data.options`).
    const runData = { given: true, options: { data, seed: 0 }, open: () => Promise.reject(new Error("not used")) };
    const ctx = { logger, options: { ...defaultOptions }, data: runData, progress() {}, at() {} };
    const state = { original: model([1, 0, 0, 1]), model: model([1.1, 0, 0, 1]), ranges: new Map(), entries: [], pending: [] };
    const ds = await v.validate(state, ctx);
    const info = ds.find((d) => d.code === "fidelity")!;
    expect(info.metrics!.sqnrDb).toBeCloseTo(expected().sqnrDb, 9);
    expect(info.metrics!.samples).toBe(3);
    expect(ds.filter((d) => d.level === "error").map((d) => d.code)).toEqual(["fidelity-sqnr"]);
  });
});
