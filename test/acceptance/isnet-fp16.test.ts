/**
 * Issue 10 item 5 acceptance on the zoo's ISNet medium (background removal, float16 weights and activations between
 * float32 Casts, opset 15, 88 MB): per-channel INT8 weight-only and static INT8 both succeed, load in
 * onnxruntime-node, and their SQNR against the float16 model is recorded.
 *
 * The input is fixed at [1, 3, 1024, 1024] (no reduced resolution possible), so calibration uses ONE synthetic
 * natural-image-like sample (1/f noise, test/helpers/natural.ts — not a photograph) and judging one other; ~25 s and
 * ~2 GB for calibration. On noise the mask is background everywhere (the float model's output stays below 0.02), so
 * the mask's SQNR mostly measures how finely near-zero probabilities survive; the decoder features (graph outputs
 * input.656 … input.1252) are recorded too.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { sqnrDb, writeNpy } from "../../src/index.ts";
import { hasZoo, zoo } from "../helpers/zoo.ts";
import { pinkNoiseBatch } from "../helpers/natural.ts";
import { quant } from "../cli/helpers.ts";

const S = 1024;
/** imgly's preprocessing: pixels in [0, 1] minus 0.5. */
const image = (seed: number) => pinkNoiseBatch(1, 3, S, S, seed).map((v) => v - 0.5);

/** Every output of a model on one image (one thread), the session released before returning. */
async function outputs(model: string, x: Float32Array): Promise<Record<string, Float32Array>> {
  const s = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 3 });
  try {
    const out = await s.run({ [s.inputNames[0]!]: new ort.Tensor("float32", x, [1, 3, S, S]) });
    return Object.fromEntries(s.outputNames.map((k) => [k, out[k]!.data as Float32Array]));
  } finally {
    await s.release();
  }
}

describe.skipIf(!hasZoo)("ISNet medium (float16): weight-only and static INT8", async () => {
  const dir = mkdtempSync(join(tmpdir(), "quant-isnet-"));
  const src = zoo("isnet_medium");
  const x = image(101);
  const ref = hasZoo ? await outputs(src, x) : {};
  const features = ["input.656", "input.740", "input.832", "input.948", "input.1088", "input.1252"];
  const report = (name: string, got: Record<string, Float32Array>) => {
    const mask = sqnrDb(ref.output!, got.output!);
    const feat = features.map((k) => sqnrDb(ref[k]!, got[k]!));
    console.log(`isnet_medium ${name}: mask SQNR ${mask.toFixed(2)} dB, decoder features ${feat.map((d) => d.toFixed(1)).join(" / ")} dB`);
    return { mask, feat };
  };

  test("per-channel INT8 weight-only: ≤ 0.55× the float16 file, loads in ORT, mask ≥ 17 dB, features ≥ 30 dB", async () => {
    const out = join(dir, "wo.onnx");
    const r = quant(["quantize", src, "-o", out, "--bits", "8", "--per-channel", "--format", "json"]);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.weights.quantized).toBe(119); // every Conv weight; the 119 biases stay float16
    expect(rep.opset.to).toBe(19); // DequantizeLinear to float16 needs a float16 scale
    const ratio = statSync(out).size / statSync(src).size;
    expect(ratio).toBeLessThanOrEqual(0.55);
    const { mask, feat } = report(`weight-only per-channel (${ratio.toFixed(3)}×)`, await outputs(out, x));
    expect(mask).toBeGreaterThanOrEqual(17);
    expect(Math.min(...feat)).toBeGreaterThanOrEqual(30);
  }, 240_000);

  test("static INT8 (1 calibration sample of 1/f noise): ≤ 0.6× the float16 file, float32 compute noted, loads in ORT", async () => {
    const calib = join(dir, "calib.npy");
    writeNpy(calib, image(1), [1, 3, S, S]);
    const out = join(dir, "static.onnx");
    const r = quant(["calibrate", src, "-o", out, "--data", calib, "--format", "json"]);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.notes.join(" ")).toContain("FLOAT16 model: quantized region computes in float32");
    expect(rep.activations.quantized).toBeGreaterThan(200);
    const ratio = statSync(out).size / statSync(src).size;
    expect(ratio).toBeLessThanOrEqual(0.6);
    const { feat } = report(`static (${ratio.toFixed(3)}×)`, await outputs(out, x));
    // Recorded, not a target: error accumulates through ~100 uint8 activations (measured 8.3–19.4 dB on the decoder
    // features; 5–7 dB before Concats with disparate input ranges got one scale per input). The mask is not
    // asserted: the side outputs' logits calibrate to [-2289, -4] on noise, so its near-zero probabilities round
    // to sigmoid(0) (−56 dB; the float32 twin of the model gives the same numbers).
    expect(Math.min(...feat)).toBeGreaterThanOrEqual(7);
    rmSync(dir, { recursive: true, force: true });
  }, 300_000);
});
