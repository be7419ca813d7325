/**
 * Multi-input models through the CLI and the library: a stateful LSTM model (audio [batch, T], state [D, batch, H],
 * an int64 scalar sample rate) calibrated from an .npz keyed by input name and from a folder of per-input .npy
 * files, checked in onnxruntime-node against the float model; validate's random data refuses the scalar input; a
 * model whose second input has its batch on axis 1.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import normalize from "../../plugins/passes/normalize.ts";
import minmax from "../../plugins/calibrators/minmax.ts";
import staticQdq from "../../plugins/quantizers/static-qdq/index.ts";
import int8 from "../../plugins/packers/int8.ts";
import { type Batch, type CalibrationDataset, DataType, loadModel, runPipeline, serializeModel, sqnrDb } from "../../src/index.ts";
import { writeNpy } from "../../src/data/npy.ts";
import { buildZip, tempDir } from "../data/helpers.ts";
import { randomFloats } from "../helpers/random.ts";
import { axis1Model, H, statefulModel, T, tokenModel } from "../helpers/stateful.ts";
import { quant } from "./helpers.ts";

const dir = tempDir("quant-multi-input-");
const N = 24;
const TEST = 16;

/** Audio-like rows: a few sines with noise, in [-1, 1]. */
function audio(n: number, seed: number): Float32Array {
  const noise = randomFloats(n * T, seed, 0.05);
  const out = new Float32Array(n * T);
  for (let s = 0; s < n; s++) for (let t = 0; t < T; t++) out[s * T + t] = 0.7 * Math.sin((t * (s + 3)) / 9 + s) + noise[s * T + t]!;
  return out;
}

/** Logits of `model` over TEST held-out samples, one run each (state and sample rate as a deployed VAD feeds them). */
async function logits(model: string, D: number): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(model);
  const x = audio(TEST, 99);
  const st = randomFloats(TEST * D * H, 98, 0.5);
  const out = new Float32Array(TEST * 4);
  for (let i = 0; i < TEST; i++) {
    const r = await s.run({
      input: new ort.Tensor("float32", x.slice(i * T, (i + 1) * T), [1, T]),
      h: new ort.Tensor("float32", st.slice(i * D * H, (i + 1) * D * H), [D, 1, H]),
      c: new ort.Tensor("float32", st.slice(i * D * H, (i + 1) * D * H).map((v) => -v), [D, 1, H]),
      sr: new ort.Tensor("int64", BigInt64Array.of(16000n), []),
    });
    out.set(r.logits!.data as Float32Array, i * 4);
  }
  await s.release();
  return out;
}

/** Write the calibration set as an .npz keyed by input name (zip64 local headers, as numpy writes): h [D, N, H] (samples on axis 1), c as rows, sr scalar. */
function writeNpz(path: string, D: number): void {
  const folder = `${path}.parts`;
  mkdirSync(folder, { recursive: true });
  const st = randomFloats(N * D * H, 7, 0.5);
  writeNpy(join(folder, "input.npy"), audio(N, 1), [N, T]);
  writeNpy(join(folder, "h.npy"), st, [D, N, H]);
  const rows = new Float32Array(N * D * H);
  for (let n = 0; n < N; n++) for (let d = 0; d < D; d++) for (let k = 0; k < H; k++) rows[(n * D + d) * H + k] = -st[(d * N + n) * H + k]!;
  writeNpy(join(folder, "c.npy"), rows, [N, D, 1, H]);
  writeNpy(join(folder, "sr.npy"), BigInt64Array.of(16000n), []);
  const files = ["input", "h", "c", "sr"].map((n) => ({ name: `${n}.npy`, data: new Uint8Array(readFileSync(join(folder, `${n}.npy`))) }));
  writeFileSync(path, buildZip(files, { zip64Local: true }));
}


/** The D=`D` model, its .npz and its per-input folder (written once per file run). */
const prepared = new Map<number, { model: string; npz: string; folder: string }>();
function prepare(D: 1 | 2): { model: string; npz: string; folder: string } {
  const done = prepared.get(D);
  if (done) return done;
  const model = join(dir, `vad${D}.onnx`);
  // D=2 names the batch dim like tf2onnx does (unk__0): the state's batch axis is inferred from the shared name.
  writeFileSync(model, statefulModel({ dirs: D, batchName: D === 2 ? "unk__0" : "batch" }));
  const npz = join(dir, `calib${D}.npz`);
  writeNpz(npz, D);
  // Per-sample folder: c as [D, N, H], h as rows, a per-sample sample rate (all 16000).
  const folder = join(dir, `calib${D}`);
  mkdirSync(folder, { recursive: true });
  const st = randomFloats(N * D * H, 7, 0.5);
  const rows = new Float32Array(N * D * H);
  for (let n = 0; n < N; n++) for (let d = 0; d < D; d++) for (let k = 0; k < H; k++) rows[(n * D + d) * H + k] = st[(d * N + n) * H + k]!;
  writeNpy(join(folder, "input.npy"), audio(N, 1), [N, T]);
  writeNpy(join(folder, "h.npy"), rows, [N, D, 1, H]);
  writeNpy(join(folder, "c.npy"), st.map((v) => -v), [D, N, H]);
  writeNpy(join(folder, "sr.npy"), BigInt64Array.from({ length: N }, () => 16000n), [N]);
  const p = { model, npz, folder };
  prepared.set(D, p);
  return p;
}

/** The D=2 model calibrated from its .npz. */
function calibrated2(): { float: string; q: string } {
  const { model, npz } = prepare(2);
  const q = join(dir, "vad2.npz.qdq.onnx");
  if (!existsSync(q)) expect(quant(["calibrate", model, "--data", npz, "-o", q]).code).toBe(0);
  return { float: model, q };
}

const sqnrOf = async (float: string, q: string, D: number) => sqnrDb(await logits(float, D), await logits(q, D));

describe("stateful model (LSTM state [D, batch, H], int64 scalar sample rate)", () => {
  for (const D of [1, 2] as const) {
    test(`D=${D}: calibrates from an .npz keyed by input name and from a folder of <input>.npy; outputs load in ORT, SQNR vs float`, async () => {
      const { model, npz, folder } = prepare(D);
      const fromNpz = join(dir, `vad${D}.npz.qdq.onnx`);
      const r1 = quant(["calibrate", model, "--data", npz, "-o", fromNpz, "--format", "json"]);
      expect(r1.stderr).toContain(`input 'h' [${D}, ${D === 2 ? "unk__0" : "batch"}, ${H}]: ${N} samples along axis 1`);
      expect(r1.code).toBe(0);
      const rep = JSON.parse(r1.stdout);
      expect(rep.activations.quantized).toBeGreaterThanOrEqual(3);
      const s1 = await sqnrOf(model, fromNpz, D);
      const fromDir = join(dir, `vad${D}.dir.qdq.onnx`);
      const r2 = quant(["calibrate", model, "--data", folder, "-o", fromDir]);
      expect(r2.code).toBe(0);
      expect(r2.stderr).toContain(`input 'sr' []: ${N} samples, one per row (no batch axis: one sample per run)`);
      // The same samples in two layouts calibrate the same ranges: identical outputs.
      expect(readFileSync(fromDir)).toEqual(readFileSync(fromNpz));
      const s2 = await sqnrOf(model, fromDir, D);
      console.log(`stateful D=${D}: logits SQNR vs float ${s1.toFixed(2)} dB (.npz), ${s2.toFixed(2)} dB (folder)`);
      expect(s1).toBeGreaterThan(35);
      expect(s2).toBe(s1);
    });
  }

  test("--input sr=16000 with random data: the state's random samples stacked on axis 1; a wrong rate calibrates worse", async () => {
    const { model } = prepare(1);
    const out = join(dir, "vad1.rand.onnx");
    const none = quant(["calibrate", model, "-o", out]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("error E_DATA_REQUIRED (sr): input sr (int64 scalar) needs a value: --input sr=...");
    expect(existsSync(out)).toBe(false);
    const ok = quant(["calibrate", model, "--input", "sr=16000", "-o", out]);
    expect(ok.code).toBe(0);
    expect(ok.stderr).toContain("no calibration data for 'input', 'h', 'c': calibrating on 16 random N(0,1) samples");
    expect(ok.stderr).toContain("input 'sr' []: one value [] fed as-is to every run, from the value of sr");
    const right = await sqnrOf(model, out, 1);
    const wrongOut = join(dir, "vad1.8k.onnx");
    expect(quant(["calibrate", model, "--input", "sr=8000", "-o", wrongOut]).code).toBe(0);
    const wrong = await sqnrOf(model, wrongOut, 1);
    console.log(`random data, sr=16000: ${right.toFixed(2)} dB; sr=8000: ${wrong.toFixed(2)} dB`);
    expect(right).toBeGreaterThan(20);
    expect(wrong).toBeLessThan(right - 3);
  });

  test("config file: data, inputs (a value and a .npy path, relative to the config) and sampleAxis", () => {
    const { model, folder } = prepare(1);
    const ref = join(dir, "vad1.dir.qdq.onnx");
    if (!existsSync(ref)) expect(quant(["calibrate", model, "--data", folder, "-o", ref]).code).toBe(0);
    const cfgDir = join(dir, "cfg");
    mkdirSync(cfgDir, { recursive: true });
    writeFileSync(join(cfgDir, "h.npy"), readFileSync(join(folder, "h.npy")));
    writeFileSync(
      join(cfgDir, "quant.config.json"),
      JSON.stringify({ data: { input: "../calib1/input.npy", c: "../calib1/c.npy" }, inputs: { sr: 16000, h: "h.npy" }, sampleAxis: { c: 1 } }),
    );
    const out = join(dir, "vad1.cfg.qdq.onnx");
    const r = quant(["calibrate", model, "-c", join(cfgDir, "quant.config.json"), "-o", out]);
    expect(r.stderr).toContain(`input 'h' [1, batch, ${H}]: ${N} samples, one per row (batch axis 1), from ${join(cfgDir, "h.npy")}`);
    expect(r.code).toBe(0);
    expect(readFileSync(out)).toEqual(readFileSync(ref));
  });

  test("validate: random data refuses the scalar input without a value, works with --input sr=16000 and with --data", () => {
    const { float, q } = calibrated2();
    const refused = quant(["validate", float, q]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("error E_DATA_REQUIRED (sr): input sr (int64 scalar) needs a value: --input sr=...");
    expect(refused.stdout).not.toContain("PASS");
    const withSr = quant(["validate", float, q, "--input", "sr=16000", "--format", "json", "--min-sqnr", "15"]); // random inputs, off the calibration data
    expect(withSr.code).toBe(0);
    const rep = JSON.parse(withSr.stdout);
    expect(rep.ok).toBe(true);
    expect(rep.fidelity.randomData).toBe(true);
    const logitsSqnr = rep.outputs.find((o: { name: string }) => o.name === "logits").sqnrDb;
    expect(typeof logitsSqnr).toBe("number");
    expect(logitsSqnr).toBeGreaterThan(15);
    const real = quant(["validate", float, q, "--data", join(dir, "calib2.npz"), "--format", "json", "--min-sqnr", "35"]);
    expect(real.code).toBe(0);
    const r = JSON.parse(real.stdout);
    expect(r.fidelity.samples).toBe(N);
    expect(r.fidelity.randomData).toBe(false);
    expect(r.outputs.find((o: { name: string }) => o.name === "logits").sqnrDb).toBeGreaterThan(35);
  });

  test("benchmark times the path real inputs take: --data / --input feed the run (a missing scalar is asked for)", () => {
    const { float, q } = calibrated2();
    const { folder } = prepare(2);
    const r = quant(["benchmark", float, q, "--data", folder, "--runs", "3", "--warmup", "0", "--format", "json"]);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.latency.original.runs).toBe(3);
    expect(rep.latency.original.medianMs).toBeGreaterThan(0);
    expect(quant(["benchmark", float, q, "--input", "sr=16000", "--runs", "3", "--warmup", "0"]).code).toBe(0);
    const missing = quant(["benchmark", float, q, "--input", "h=0", "--runs", "3", "--warmup", "0"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("error E_DATA_REQUIRED (sr)");
  });

  test("quantize --bits 4 measures INT4 sensitivity on the given data (not random)", () => {
    const { model, folder } = prepare(2);
    const out = join(dir, "vad2.int4.onnx");
    const r = quant(["quantize", model, "--bits", "4", "--data", folder, "--samples", "4", "-o", out, "--debug"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/measuring the output sensitivity of \d+ layers at INT4 on 4 samples\n/);
    expect(r.stderr).not.toContain("sensitivity not measured");
    const refused = quant(["quantize", model, "--bits", "4", "-o", join(dir, "vad2.int4b.onnx"), "--debug"]);
    expect(refused.stderr).toContain("per-layer sensitivity not measured (input sr (int64 scalar) needs a value");
  });

  test("library: data as arrays per input (ORT-tensor-like, typed arrays, bigint) and as a dataset object", async () => {
    const bytes = statefulModel({ dirs: 1 });
    const float = join(dir, "lib.onnx");
    writeFileSync(float, bytes);
    const st = randomFloats(N * H, 7, 0.5);
    const data = {
      input: { dims: [N, T], data: audio(N, 1) },
      h: { dims: [1, N, H], data: st },
      c: { dims: [1, N, H], data: st.map((v) => -v) },
      sr: 16000n,
    };
    const plugins = () => [normalize(), minmax(), staticQdq(), int8()];
    const r = await runPipeline({ model: loadModel(bytes), plugins: plugins(), options: { data } });
    const q = join(dir, "lib.qdq.onnx");
    writeFileSync(q, serializeModel(r.model));
    const s = await sqnrOf(float, q, 1);
    expect(s).toBeGreaterThan(35);
    // The same samples from a dataset object of the user's own: the same model.
    const x = audio(N, 1);
    const own: CalibrationDataset = {
      count: N,
      inputs: ["input", "h", "c", "sr"],
      layout: (name) => ({ batchAxis: name === "sr" ? null : name === "input" ? 0 : 1, varies: name !== "sr" }),
      batch(start, size): Batch {
        if (size !== 1) throw new Error("one at a time");
        return {
          input: { data: x.slice(start * T, (start + 1) * T), dims: [1, T], elemType: DataType.FLOAT },
          h: { data: st.slice(start * H, (start + 1) * H), dims: [1, 1, H], elemType: DataType.FLOAT },
          c: { data: st.slice(start * H, (start + 1) * H).map((v) => -v), dims: [1, 1, H], elemType: DataType.FLOAT },
          sr: { data: BigInt64Array.of(16000n), dims: [], elemType: DataType.INT64 },
        };
      },
      close() {},
    };
    const r2 = await runPipeline({ model: loadModel(bytes), plugins: plugins(), options: { data: own } });
    expect(serializeModel(r2.model)).toEqual(serializeModel(r.model));
  });
});

describe("batch on axis 1 for one input", () => {
  test("inferred from the sample counts, or given with --sample-axis (CLI and config); a wrong axis is refused", async () => {
    const model = join(dir, "ax1.onnx");
    writeFileSync(model, axis1Model());
    const a = randomFloats(N * 8, 31);
    const b = randomFloats(8 * N, 32);
    const folder = join(dir, "ax1");
    mkdirSync(folder, { recursive: true });
    writeNpy(join(folder, "a.npy"), a, [N, 8]);
    writeNpy(join(folder, "b.npy"), b, [8, N]);
    const inferred = join(dir, "ax1.inferred.onnx");
    const r1 = quant(["calibrate", model, "--data", folder, "-o", inferred]);
    expect(r1.code).toBe(0);
    expect(r1.stderr).toContain(`input 'b' [8, d1]: ${N} samples along axis 1`);
    const given = join(dir, "ax1.given.onnx");
    expect(quant(["calibrate", model, "--data", folder, "--sample-axis", "b=1", "-o", given]).code).toBe(0);
    expect(readFileSync(given)).toEqual(readFileSync(inferred));
    writeFileSync(join(dir, "quant.config.json"), JSON.stringify({ sampleAxis: { b: 1 } }));
    const viaConfig = join(dir, "ax1.config.onnx");
    expect(quant(["calibrate", model, "--data", folder, "-c", join(dir, "quant.config.json"), "-o", viaConfig]).code).toBe(0);
    expect(readFileSync(viaConfig)).toEqual(readFileSync(inferred));
    const wrong = quant(["calibrate", model, "--data", folder, "--sample-axis", "b=0", "-o", join(dir, "ax1.wrong.onnx")]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain(`inputs have different sample counts: 'a' has ${N} along axis 0, 'b' has 8 along axis 0`);
    expect(existsSync(join(dir, "ax1.wrong.onnx"))).toBe(false);
    // Held-out samples, fed as the model takes them (b: [8, 1]).
    const fs = await ort.InferenceSession.create(model);
    const qs = await ort.InferenceSession.create(inferred);
    const ta = randomFloats(TEST * 8, 41);
    const tb = randomFloats(TEST * 8, 42);
    const ref: number[] = [];
    const got: number[] = [];
    for (let i = 0; i < TEST; i++) {
      const feeds = { a: new ort.Tensor("float32", ta.slice(i * 8, i * 8 + 8), [1, 8]), b: new ort.Tensor("float32", tb.slice(i * 8, i * 8 + 8), [8, 1]) };
      ref.push(...((await fs.run(feeds)).y!.data as Float32Array));
      got.push(...((await qs.run(feeds)).y!.data as Float32Array));
    }
    const s = sqnrDb(Float32Array.from(ref), Float32Array.from(got));
    console.log(`axis-1 model: output SQNR vs float ${s.toFixed(2)} dB`);
    expect(s).toBeGreaterThan(30);
    const v = quant(["validate", model, inferred, "--data", folder, "--format", "json"]);
    expect(v.code).toBe(0);
    expect(JSON.parse(v.stdout).fidelity.samples).toBe(N);
  });
});

describe("token ids and masks", () => {
  test("come from the data (an .npz by name); random data asks for both by name", async () => {
    const model = join(dir, "tokens.onnx");
    writeFileSync(model, tokenModel());
    const S = 6;
    const ids = (n: number, seed: number) => BigInt64Array.from(randomFloats(n * S, seed), (v) => BigInt(Math.floor((v + 1) * 24.99)));
    const mask = (n: number) => BigInt64Array.from({ length: n * S }, (_, i) => (i % S < 2 + ((i / S) % 4) ? 1n : 0n));
    const folder = join(dir, "tokens");
    mkdirSync(folder, { recursive: true });
    writeNpy(join(folder, "input_ids.npy"), ids(N, 51), [N, S]);
    writeNpy(join(folder, "attention_mask.npy"), mask(N), [N, S]);
    const files = ["input_ids", "attention_mask"].map((n) => ({ name: `${n}.npy`, data: new Uint8Array(readFileSync(join(folder, `${n}.npy`))) }));
    writeFileSync(join(dir, "tokens.npz"), buildZip(files));
    const out = join(dir, "tokens.qdq.onnx");
    const none = quant(["calibrate", model, "--shape", "1x6", "-o", out]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain(
      "error E_DATA_REQUIRED (input_ids): input input_ids (int64 [batch, seq]) needs a value: --input input_ids=... (or an array 'input_ids' in --data); random integers are not valid token ids, masks or indices; also without a value: attention_mask (int64 [batch, seq])",
    );
    const r = quant(["calibrate", model, "--data", join(dir, "tokens.npz"), "-o", out]);
    expect(r.code).toBe(0);
    // Held-out ids and masks, one run each.
    const fs = await ort.InferenceSession.create(model);
    const qs = await ort.InferenceSession.create(out);
    const ti = ids(TEST, 52);
    const tm = mask(TEST);
    const ref: number[] = [];
    const got: number[] = [];
    for (let i = 0; i < TEST; i++) {
      const feeds = { input_ids: new ort.Tensor("int64", ti.slice(i * S, (i + 1) * S), [1, S]), attention_mask: new ort.Tensor("int64", tm.slice(i * S, (i + 1) * S), [1, S]) };
      ref.push(...((await fs.run(feeds)).logits!.data as Float32Array));
      got.push(...((await qs.run(feeds)).logits!.data as Float32Array));
    }
    const s = sqnrDb(Float32Array.from(ref), Float32Array.from(got));
    console.log(`token model: logits SQNR vs float ${s.toFixed(2)} dB`);
    expect(s).toBeGreaterThan(30);
    const v = quant(["validate", model, out, "--data", folder, "--format", "json"]);
    expect(v.code).toBe(0);
    expect(JSON.parse(v.stdout).fidelity.samples).toBe(N);
  });
});
