/**
 * The INT4 sensitivity probe's budget is counted (multiply-accumulates of the model), never timed: the same model and
 * data give the same decision, and so the same output bytes, on an idle or a loaded machine.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { DataType, GraphBuilder, encodeModelProto, loadModel, weightSensitivity, type Model } from "../../src/index.ts";
import { inferenceMacs } from "../../src/quant/probe-cost.ts";
import { PROBE_MACS_PER_MS, probeSamples } from "../../src/quant/sensitivity.ts";
import { randomFloats } from "../helpers/models.ts";

/** x [B,1,8,8] → Conv (4 filters 3×3, pad 1) → Flatten → MatMul [256, 10] → y. */
function convNet(): Model {
  const b = new GraphBuilder();
  b.input("x", DataType.FLOAT, ["B", 1, 8, 8]);
  b.initializer("w1", DataType.FLOAT, [4, 1, 3, 3], randomFloats(36, 1));
  b.initializer("w2", DataType.FLOAT, [256, 10], randomFloats(2560, 2));
  b.node("Conv", ["x", "w1"], { pads: [1, 1, 1, 1] }, ["c"], { name: "conv" });
  b.node("Flatten", ["c"], {}, ["f"], { name: "flat" });
  b.node("MatMul", ["f", "w2"], {}, ["y"], { name: "mm" });
  b.output("y", DataType.FLOAT, ["B", 10]);
  return loadModel(encodeModelProto(b.model({ opset: 13 })));
}

const batch = (n: number) => ({ x: { data: randomFloats(n * 64, 7), dims: [n, 1, 8, 8], elemType: DataType.FLOAT } });

describe("probe cost", () => {
  test("multiply-accumulates counted from the output shapes of one run", async () => {
    // Conv: 4×8×8 outputs × 9 products; MatMul: 10 outputs × 256 products — per sample.
    expect(await inferenceMacs(convNet(), batch(1))).toBe(4 * 64 * 9 + 10 * 256);
    expect(await inferenceMacs(convNet(), batch(3))).toBe(3 * (4 * 64 * 9 + 10 * 256));
  });

  test("samples afforded by a budget, and the refusal past 2.5× of it", () => {
    // 300.8 M MAC (mobilenet_v2) × 54 runs at 5 M MAC/ms ≈ 3.25 s per sample: one sample in a 3 s budget.
    expect(PROBE_MACS_PER_MS).toBe(5e6);
    expect(probeSamples(300.8e6, 53, 1, 4, 3000)).toBe(1);
    expect(probeSamples(1e6, 9, 1, 4, 3000)).toBe(4); // 2 ms per sample: all 4 wanted
    expect(probeSamples(400e6, 9, 1, 4, 3000)).toBe(3); // 0.8 s per sample: three
    expect(probeSamples(1e9, 9, 1, 4, 3000)).toBe(1); // 2 s per sample: one
    expect(probeSamples(2e9, 9, 2, 8, 3000)).toBe(2); // 4 s per batch of 2: still one whole batch
    expect(probeSamples(3.75e9, 9, 1, 4, 3000)).toBe(1); // 7.5 s: 2.5× the budget, still measured
    expect(() => probeSamples(4e9, 9, 1, 4, 3000)).toThrow("measuring would take about 8.0 s per sample");
  });
});

describe("the probe's decision does not depend on the clock", () => {
  const realNow = performance.now.bind(performance);
  afterEach(() => void (performance.now = realNow));

  test("a clock that says every run took a minute changes nothing", async () => {
    const model = convNet();
    const w2 = model.proto.graph!.initializer!.find((t) => t.name === "w2")!;
    const original = new Float32Array(new Float32Array(w2.raw_data!.buffer.slice(w2.raw_data!.byteOffset, w2.raw_data!.byteOffset + w2.raw_data!.byteLength)));
    const w1 = randomFloats(36, 1);
    const nudge = (a: Float32Array, d: number) => a.map((v, i) => v + (i % 3 === 0 ? d : 0));
    const candidates = [
      { name: "w1", dims: [4, 1, 3, 3], original: w1, dequantized: nudge(w1, 0.01) },
      { name: "w2", dims: [256, 10], original, dequantized: nudge(original, 0.02) },
    ];
    const opts = { shapes: { x: [1, 1, 8, 8] }, budgetMs: 3000 };
    const idle = await weightSensitivity(model, candidates, opts);
    let t = 0;
    performance.now = () => (t += 60_000); // every reading a minute later: a machine under heavy load
    const loaded = await weightSensitivity(model, candidates, opts);
    expect([...loaded]).toEqual([...idle]);
    expect(idle.get("w1")!).toBeGreaterThan(0);
    expect(idle.get("w2")!).toBeGreaterThan(0);
  });
});
