/**
 * A strict, predictable CLI (issue 11), typed as a user would: unknown flags and config keys are refused with the
 * closest known name, configs mean what they say under `extends`, implicit choices are announced once, stats files
 * serve any method, batch expands folders and globs itself, patterns that match nothing are warned, `--bits 4` alone
 * is real INT4.
 */
import { describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import sharp from "sharp";
import { loadModel } from "../../src/index.ts";
import { configKeys } from "../../src/config/schema.ts";
import { ROOT, corpus, hasCorpus } from "../helpers/corpus.ts";
import { quant } from "./helpers.ts";

const CNN = join(ROOT, "examples/digits_cnn.onnx");
const CALIB = join(ROOT, "examples/digits_cnn_calib.npy");
const tmp = () => mkdtempSync(join(tmpdir(), "quant-strict-"));

describe("unknown flags are usage errors (exit 2) naming the closest flag; nothing is written", () => {
  const cases: [string[], string, string][] = [
    [["quantize", CNN, "--bitz", "4", "-o", "OUT"], "--bitz", "--bits"],
    [["quantize", CNN, "--dynamic", "-o", "OUT"], "--dynamic", "--"],
    [["validate", CNN, CNN, "--lables", "y.npy"], "--lables", "--labels"],
    [["calibrate", CNN, "--methd", "mse", "-o", "OUT"], "--methd", "--method"],
    [["batch", CNN, "-o", "OUT", "--job", "2"], "--job", "--jobs"],
    [["quantize", CNN, "-k", "-o", "OUT"], "-k", ""],
  ];
  for (const [argv, flag, hint] of cases)
    test(argv.join(" "), () => {
      const d = tmp();
      const out = join(d, "out.onnx");
      const r = quant(argv.map((a) => (a === "OUT" ? out : a)));
      expect(r.code).toBe(2);
      expect(r.stderr).toStartWith(`error E_USAGE: unknown flag ${flag} for "quant ${argv[0]}"`);
      if (hint) expect(r.stderr).toContain(`did you mean ${hint}`);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(existsSync(out)).toBe(false);
      expect(readdirSync(d)).toEqual([]);
    });
  test("declared flags, --no-<boolean>, aliases and --flag=value are accepted", () => {
    const d = tmp();
    const r = quant(["quantize", CNN, "--no-per-channel", "--bits=8", "-x", "h.2.weight", "-qo", join(d, "a.onnx")]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(existsSync(join(d, "a.onnx"))).toBe(true);
  });
  test("a string flag without its value is a usage error", () => {
    const r = quant(["quantize", CNN, "-o"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("-o needs a value");
  });
  test("`quant` alone: the short command list on stderr, exit 2; `quant --help`: exit 0, every line short", () => {
    const r = quant([]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Commands:");
    expect(r.stderr).toContain("error E_USAGE: no command given");
    const h = quant(["--help"]);
    expect(h.code).toBe(0);
    for (const c of ["quantize", "calibrate", "batch", "validate", "benchmark", "info", "config"]) expect(h.stdout).toMatch(new RegExp(`^  ${c} `, "m"));
    expect(Math.max(...h.stdout.split("\n").map((l) => l.length))).toBeLessThanOrEqual(110);
    expect(h.stdout).not.toContain("Examples");
    expect(quant(["quantise", CNN]).stderr).toContain('unknown command "quantise" (did you mean quantize?)');
  });
});

describe("config keys are checked at every level", () => {
  const run = (yaml: string, name = "quant.config.yaml") => {
    const d = tmp();
    copyFileSync(CNN, join(d, "m.onnx"));
    writeFileSync(join(d, name), yaml);
    return { d, r: quant(["config", join(d, name), "--dry-run"]) };
  };
  test("per_chanel → E_CONFIG with file, key and did you mean perChannel", () => {
    const { d, r } = run("per_chanel: true\nmodels: [{input: m.onnx, output: o.onnx}]\n");
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`error E_CONFIG ${join(d, "quant.config.yaml")}: unknown key "per_chanel" (did you mean perChannel?)`);
  });
  test("in models[i], batch and images", () => {
    expect(run("models: [{input: m.onnx, output: o.onnx, sampels: 3}]\n").r.stderr).toContain('unknown key "sampels" in models[0] (did you mean samples?)');
    expect(run("batch: {input_dir: ., output_dir: o, skip_existng: true}\n").r.stderr).toContain('unknown key "skip_existng" in batch (did you mean skipExisting?)');
    expect(run("images: {preset: imagenet, meen: [0.5]}\nmodels: [{input: m.onnx, output: o.onnx}]\n").r.stderr).toContain('unknown key "meen" in images (did you mean mean?)');
  });
  test("plugin options are checked against the plugin's declared options", () => {
    const { r } = run("plugins: [normalize, [percentile, {percentil: 99}], static-qdq, int8, onnx]\nmodels: [{input: m.onnx, output: o.onnx}]\n");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('unknown key "percentil" in the options of plugin "percentile" (did you mean percentile?)');
    expect(run("plugins: [normalize, [int8, {bits: 4}], onnx]\nmodels: [{input: m.onnx, output: o.onnx}]\n").r.stderr).toContain('plugin "int8" takes no options');
  });
  test("a .ts config: same check, names the .ts file", () => {
    const { d, r } = run(`export default { extends: ["cnn"], methd: "mse", models: [{ input: "m.onnx", output: "o.onnx" }] };\n`, "quant.config.ts");
    expect(r.stderr.trim()).toBe(`error E_CONFIG ${join(d, "quant.config.ts")}: unknown key "methd" (did you mean method?)`);
  });
});

describe("layering under extends: the file's explicit choice is kept, for every key", () => {
  const plan = (body: string, ext = "cnn") => {
    const d = tmp();
    copyFileSync(CNN, join(d, "m.onnx"));
    writeFileSync(join(d, "c.yaml"), `extends: ${ext}\n${body}models: [{input: m.onnx, output: o.onnx}]\n`);
    const r = quant(["config", join(d, "c.yaml"), "--dry-run", "--format", "json"]);
    if (r.code !== 0) throw new Error(r.stderr);
    return JSON.parse(r.stdout).jobs[0] as { chain: { name: string; options: Record<string, unknown> }[]; options: Record<string, unknown> };
  };
  test("extends: cnn + method: entropy → the chain calibrates with entropy", () => {
    expect(plan("method: entropy\n").chain.map((p) => p.name)).toEqual(["normalize", "fold-batchnorm", "fold-conv-affine", "equalize", "entropy", "static-qdq", "float-spread-outputs", "bias-correction", "int8", "onnx", "connectivity"]);
    const pct = plan("method: percentile\npercentile: 99.9\n").chain.find((p) => p.name === "percentile");
    expect(pct?.options).toEqual({ percentile: 99.9 });
    expect(plan("native_int4: true\n").chain.map((p) => p.name)).toContain("int4");
    expect(plan("native_int4: false\n", "int4-weights").chain.map((p) => p.name)).not.toContain("int4");
  });
  // One value per option key, different from every preset's: the file's value must be the plan's.
  const values: Record<string, unknown> = {
    bits: 4, perChannel: false, blockSize: 64, symmetric: false, nativeInt4: false, weightType: "uint8", activationType: "int8",
    clipSearch: true, exclude: ["h.0.weight"], opTypes: ["Conv"], opTypesExclude: ["Gemm"], minElements: 17, layerBits: { "h.*": 4 },
    opset: 21, output: "x.onnx", data: "d.npy", samples: 7, batchSize: 3, shapes: { image: [1, 1, 32, 32] }, seed: 5, method: "mse",
    percentile: 99.5, statsIn: "in.json", statsOut: "out.json", images: "inception", externalData: true, ortCheck: false, ortCheckMaxBytes: 1234,
    inputsAsConstants: true, inputs: { sr: 16000 }, sampleAxis: { state: 1 }, threads: 3, streamAbove: 1000,
    targetSqnr: 27, targetAccuracy: 0.02, labels: "l.npy", evalData: "e.npy", searchBudget: { seconds: 90 },
  };
  const optionKeys = configKeys.top.filter((k) => !["extends", "plugins", "models", "batch", "family", "mode"].includes(k));
  test("the table covers every option key", () => expect(Object.keys(values).sort()).toEqual([...optionKeys].sort()));
  for (const key of optionKeys)
    test(`extends: cnn + ${key}`, () => {
      const v = values[key];
      const o = plan(`${key}: ${JSON.stringify(v)}\n`).options;
      if (key === "output") return expect(o.output).toEndWith("o.onnx"); // a models entry's output wins over the key
      if (["data", "statsIn", "statsOut", "labels", "evalData"].includes(key)) return expect(o[key]).toEndWith(String(v)); // resolved against the file
      expect(o[key]).toEqual(v);
    });
});

describe("implicit choices are announced once", () => {
  test("an image folder: count, size, scaling and skipped files in one line", async () => {
    const d = tmp();
    mkdirSync(join(d, "imgs"));
    for (let i = 0; i < 3; i++) await sharp(new Uint8Array(48 * 40 * 3).fill(40 * i), { raw: { width: 48, height: 40, channels: 3 } }).png().toFile(join(d, "imgs", `i${i}.png`));
    writeFileSync(join(d, "imgs", "f.ppm"), "P3\n");
    const r = quant(["calibrate", CNN, "--data", "imgs", "-o", "q.onnx"], d);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("images: 3 files from imgs/, resized to 32×32, grayscale NCHW, scaled to [0,1] (no mean/std); skipped f.ppm (unsupported)");
    expect(r.stderr).toContain("calibration: 3 of 3 samples from imgs");
  });
  test("--image-preset with data that is not an image folder is refused, not ignored", () => {
    const v = quant(["validate", CNN, CNN, "--data", CALIB, "--image-preset", "imagenet"]);
    expect(v.code).toBe(2);
    expect(v.stderr).toContain("--image-preset applies to a folder of images given with --data");
    expect(quant(["calibrate", CNN, "--image-preset", "unit", "-o", join(tmp(), "q.onnx")]).stderr).toContain("(no --data given)");
  });
  test("random data: one warning with the count and shape", () => {
    const d = tmp();
    const r = quant(["calibrate", CNN, "-o", join(d, "q.onnx")]);
    expect(r.code).toBe(0);
    expect(r.stderr.match(/random/g)).toHaveLength(1);
    expect(r.stderr).toContain("calibrating on 16 random N(0,1) samples of shape 1×32×32 (seed 0)");
  });
});

describe("the calibrate --help stats example works", () => {
  test("--stats-out ranges.json then --stats-in ranges.json --method mse", async () => {
    const d = tmp();
    const a = quant(["calibrate", CNN, "--data", CALIB, "--stats-out", "ranges.json", "-o", "a.onnx", "--format", "json"], d);
    expect(a.code).toBe(0);
    const b = quant(["calibrate", CNN, "--stats-in", "ranges.json", "--method", "mse", "-o", "b.onnx", "--format", "json"], d);
    if (b.code !== 0) throw new Error(b.stderr);
    expect(JSON.parse(b.stdout).chain).toContain("mse");
    const c = quant(["calibrate", CNN, "--stats-in", "ranges.json", "-o", "c.onnx"], d);
    expect(c.code).toBe(0);
    // minmax from the file reproduces the first run exactly; mse chose other ranges
    expect(Bun.hash(await Bun.file(join(d, "c.onnx")).arrayBuffer())).toBe(Bun.hash(await Bun.file(join(d, "a.onnx")).arrayBuffer()));
    expect(Bun.hash(await Bun.file(join(d, "b.onnx")).arrayBuffer())).not.toBe(Bun.hash(await Bun.file(join(d, "a.onnx")).arrayBuffer()));
    const s = await ort.InferenceSession.create(join(d, "b.onnx"));
    const y = await s.run({ image: new ort.Tensor("float32", new Float32Array(1024).fill(0.3), [1, 1, 32, 32]) });
    expect((y.logits!.data as Float32Array).every(Number.isFinite)).toBe(true);
  }, 60_000);
});

describe("batch: folders and quoted globs, honest counts", () => {
  test("'models/*.onnx' and models/ are expanded by quant; not run is counted apart from failed", () => {
    const d = tmp();
    mkdirSync(join(d, "models"));
    copyFileSync(CNN, join(d, "models/b.onnx"));
    copyFileSync(CNN, join(d, "models/c.onnx"));
    writeFileSync(join(d, "models/a.onnx"), new Uint8Array(64).fill(7));
    const r = quant(["batch", "models/*.onnx", "-o", "out"], d);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("0 ok, 0 skipped, 1 failed, 2 not run");
    const all = quant(["batch", "models", "-o", "out", "--continue-on-error", "--format", "json"], d);
    expect(JSON.parse(all.stdout).counts).toEqual({ ok: 2, skipped: 0, failed: 1, notRun: 0 });
    expect(readdirSync(join(d, "out")).sort()).toEqual(["b.onnx", "c.onnx"]);
    expect(quant(["batch", "nothing/*.onnx", "-o", "out"], d).stderr).toContain("nothing/*.onnx matches no .onnx file");
  });
});

describe("selection patterns", () => {
  test("-x Gemm and -x nonexistent_layer warn; --op-types-exclude Gemm keeps Gemm weights float", () => {
    const d = tmp();
    const x = quant(["quantize", CNN, "-x", "Gemm", "-x", "nonexistent_layer", "-o", join(d, "x.onnx")]);
    expect(x.stderr).toContain("--exclude Gemm matches no node, weight or tensor name (Gemm is an op type: use --op-types-exclude Gemm)");
    expect(x.stderr).toContain("--exclude nonexistent_layer matches no node, weight or tensor name");
    expect(quant(["quantize", CNN, "--op-types", "Foo", "-o", join(d, "f.onnx")]).stderr).toContain("--op-types Foo: the model has no Foo node");
    const r = quant(["quantize", CNN, "--op-types-exclude", "Gemm", "-o", join(d, "g.onnx"), "--format", "json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).skippedReasons["op type Gemm not selected"]).toBe(2);
    expect(JSON.parse(r.stdout).weights.quantized).toBe(5);
    expect(r.stderr).toBe("");
  });
});

describe("--bits 4 alone is real INT4", () => {
  test("block-wise 32, native Int4, smaller than INT8, summary bytes match the file", () => {
    const d = tmp();
    const r8 = JSON.parse(quant(["quantize", CNN, "-o", join(d, "m8.onnx"), "--format", "json"]).stdout);
    const r4 = JSON.parse(quant(["quantize", CNN, "--bits", "4", "-o", join(d, "m4.onnx"), "--format", "json"]).stdout);
    const size4 = statSync(join(d, "m4.onnx")).size;
    expect(size4).toBeLessThan(statSync(join(d, "m8.onnx")).size * 0.7);
    expect(r4.opset.to).toBe(21);
    expect(r4.chain).toContain("int4");
    const w = r4.tensors.filter((e: { action: string; kind: string }) => e.action === "quantized" && e.kind === "weight");
    expect(w.some((e: { granularity: string }) => e.granularity.startsWith("block 32"))).toBe(true);
    // what the summary says the weights take is what the file stores (plus the float biases and the graph)
    expect(r4.weights.bytesAfter).toBeLessThan(size4);
    expect(r4.weights.bytesAfter).toBeGreaterThan(size4 - 8 * 1024);
    expect(r8.weights.bytesAfter).toBeGreaterThan(statSync(join(d, "m8.onnx")).size - 8 * 1024);
    const m = loadModel(join(d, "m4.onnx"));
    const types = m.proto.graph!.initializer!.filter((t) => t.name!.endsWith("_quantized")).map((t) => t.data_type);
    // INT4 storage, except the layers the summary says were kept at 8 bits (too sensitive at 4)
    const kept8 = w.filter((e: { reason?: string }) => e.reason?.startsWith("kept at 8 bits")).length;
    expect(types.filter((t) => t === 22).length).toBe(w.length - kept8);
    expect(types.filter((t) => t === 3).length).toBe(kept8);
    expect(kept8).toBeLessThan(w.length / 2);
    // --opset 13 pins the output: no block-wise, no Int4 storage, still valid
    const pinned = quant(["quantize", CNN, "--bits", "4", "--opset", "13", "-o", join(d, "p.onnx"), "--format", "json"]);
    expect(pinned.code).toBe(0);
    expect(JSON.parse(pinned.stdout).opset.to).toBe(13);
  });
});

describe.skipIf(!hasCorpus)("validate --image-preset (squeezenet, RGB 224×224)", () => {
  test("imagenet normalization is applied and announced; numbers differ from the [0,1] default", async () => {
    const d = tmp();
    mkdirSync(join(d, "imgs"));
    for (let i = 0; i < 3; i++)
      await sharp(new Uint8Array(300 * 260 * 3).map((_, k) => (k * 13 + i * 71) & 255), { raw: { width: 300, height: 260, channels: 3 } }).png().toFile(join(d, "imgs", `i${i}.png`));
    const model = corpus("squeezenet1_1.onnx");
    expect(quant(["quantize", model, "-o", join(d, "q.onnx"), "-q"]).code).toBe(0);
    const run = (extra: string[]) => quant(["validate", model, join(d, "q.onnx"), "--data", join(d, "imgs"), "--format", "json", ...extra]);
    const plain = run([]);
    const inet = run(["--image-preset", "imagenet"]);
    expect(plain.code).toBe(0);
    expect(inet.code).toBe(0);
    expect(plain.stderr).toContain("scaled to [0,1] (no mean/std; --image-preset imagenet for ImageNet normalization)");
    expect(inet.stderr).toContain("(preset imagenet), shorter side resized to 256, center-cropped to 224×224, RGB NCHW, scaled by 0.003922, mean [0.485, 0.456, 0.406], std [0.229, 0.224, 0.225]");
    const a = JSON.parse(plain.stdout).outputs[0];
    const b = JSON.parse(inet.stdout).outputs[0];
    expect(a.sqnrDb).not.toBe(b.sqnrDb);
    expect(JSON.parse(inet.stdout).fidelity.samples).toBe(3);
  }, 120_000);
});
