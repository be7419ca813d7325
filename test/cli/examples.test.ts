/**
 * The examples work as shipped: user plugins from examples/plugins run from a config file without any change to
 * src/ or plugins/, and the seed-format YAML runs. Outputs go to out/ (git-ignored), as the example configs say.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { openSafetensors } from "../../src/index.ts";
import { ROOT } from "../helpers/corpus.ts";
import { quant } from "./helpers.ts";

const OUT = join(ROOT, "out");

describe("examples", () => {
  test("examples/configs/user-plugins.ts: a user calibrator and a user exporter run from a config", async () => {
    const r = quant(["config", "examples/configs/user-plugins.ts", "--format", "json"]);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.models[0].chain).toEqual(["normalize", "fold-batchnorm", "fold-conv-affine", "equalize", "static-qdq", "float-spread-outputs", "bias-correction", "int8", "onnx", "connectivity", "mean-std", "safetensors", "stats-json"]);
    expect(rep.models[0].artifacts.map((a: { kind: string }) => a.kind)).toEqual(["onnx", "safetensors", "stats-json"]);
    // the quantized model runs
    const s = await ort.InferenceSession.create(join(OUT, "digits_cnn.user.onnx"));
    const y = await s.run({ image: new ort.Tensor("float32", new Float32Array(1024).fill(0.5), [1, 1, 32, 32]) });
    expect((y.logits!.data as Float32Array).length).toBe(10);
    // the user exporter's safetensors holds the int8 weights and int32 biases
    const st = openSafetensors(join(OUT, "digits_cnn.user.safetensors"));
    try {
      const dtypes = new Set(st.names.map((n) => st.entry(n).dtype));
      expect(dtypes).toEqual(new Set(["I8", "U8", "I32"]));
      expect(st.names.length).toBeGreaterThanOrEqual(14);
    } finally {
      st.close();
    }
    // the user calibrator's ranges are what static-qdq used: mean ± 4 std inside [min, max]
    const stats = JSON.parse(readFileSync(join(OUT, "digits_cnn.user.stats.json"), "utf8"));
    const ranges = Object.values(stats.activations) as { min: number; max: number }[];
    expect(ranges.length).toBeGreaterThan(0);
    expect(ranges.every((x) => x.min <= x.max)).toBe(true);
  }, 60_000);

  test("examples/configs/seed.yaml (the seed tool's format) runs", () => {
    const r = quant(["config", "examples/configs/seed.yaml", "--format", "json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).ok).toBe(true);
  }, 60_000);
});
