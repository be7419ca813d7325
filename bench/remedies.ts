/**
 * The remedies of issue 13 measured one by one: per model and chain, static INT8 output SQNR against the float model
 * (all outputs together) and single-thread speed against fp32, with and without each remedy.
 *
 *   nice -n 10 bun bench/remedies.ts [--chains base,fold,eq,eqw,bc,fso,clip,margin,w8,w8clip,w8bc,on,all] [--no-speed] [--runs N] [model …]
 *
 * Models: corpus (digits_cnn, digits_transformer with their calibration/test data; squeezenet1_1, mobilenet_v2,
 * resnet18 on ImageNet-normalized 1/f-noise images) and the zoo's face models (bench/zoo: 1/f-noise images normalized
 * as each package does). Speed: median per-inference process CPU time of interleaved runs, batch 1, one thread (wall
 * clock is meaningless on the shared machine), float / quantized.
 */
import { parseArgs } from "node:util";
import { builtinPlugins } from "../plugins/registry.ts";
import { resolve } from "node:path";
import { readNpy, saveModel, resolveChain, runPipeline, serializeModel, type PluginSpec, type TensorMap } from "../src/index.ts";
import { RuntimeSession, SINGLE_THREAD } from "../src/runtime/session.ts";
import { naturalImages } from "./zoo/synthetic.ts";
import { ZOO, imageInput, runOutputs, sqnr, zooPath } from "./zoo/runs.ts";
import { hostileDetector } from "./zoo/hostile.ts";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const { values, positionals } = parseArgs({
  args: Bun.argv.slice(2),
  options: { chains: { type: "string", default: "base,fold,eq,bc,fso,on,all" }, "no-speed": { type: "boolean", default: false }, runs: { type: "string", default: "30" } },
  allowPositionals: true,
});
const CORPUS = process.env.QUANT_CORPUS ?? resolve(import.meta.dir, "../../shared/models");
const IMAGENET = { mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375] };

/** The chains compared: the default static chain, and it with each remedy (and all of them). */
const CHAINS: Record<string, PluginSpec[]> = {
  base: ["normalize", "fold-batchnorm", "minmax", "static-qdq", "int8"],
  fold: ["normalize", "fold-batchnorm", "fold-conv-affine", "minmax", "static-qdq", "int8"],
  eq: ["normalize", "fold-batchnorm", "fold-conv-affine", "equalize", "minmax", "static-qdq", "int8"],
  eqw: ["normalize", "fold-batchnorm", "fold-conv-affine", ["equalize", { method: "weights" }], "minmax", "static-qdq", "int8"],
  bc: ["normalize", "fold-batchnorm", "minmax", "static-qdq", "bias-correction", "int8"],
  margin: ["normalize", "fold-batchnorm", "minmax", "range-margin", "static-qdq", "int8"],
  clip: ["normalize", "fold-batchnorm", "clip-outliers", "minmax", "static-qdq", "int8"],
  w8: ["normalize", "fold-batchnorm", ["weight-only", { perChannel: true }], "int8"],
  w8clip: ["normalize", "fold-batchnorm", "clip-outliers", ["weight-only", { perChannel: true }], "int8"],
  w8bc: ["normalize", "fold-batchnorm", ["weight-only", { perChannel: true }], "bias-correction", "int8"],
  fso: ["normalize", "fold-batchnorm", "minmax", "static-qdq", "float-spread-outputs", "int8"],
  margin20: ["normalize", "fold-batchnorm", "minmax", ["range-margin", { minWiden: 0.2 }], "static-qdq", "int8"],
  margin50: ["normalize", "fold-batchnorm", "minmax", ["range-margin", { minWiden: 0.5 }], "static-qdq", "int8"],
  /** The remedies on by default (src/config/plan.ts, the cnn preset). */
  on: ["normalize", "fold-batchnorm", "fold-conv-affine", "equalize", "minmax", "static-qdq", "float-spread-outputs", "bias-correction", "int8"],
  /** Every remedy, the opt-in ones too. */
  all: ["normalize", "fold-batchnorm", "fold-conv-affine", "clip-outliers", "equalize", "minmax", "range-margin", "static-qdq", "float-spread-outputs", "bias-correction", "int8"],
};

interface Case {
  path: string;
  /** Calibration data (a path or values) and sample count. */
  data: string | Record<string, { dims: number[]; data: Float32Array }>;
  samples: number;
  evalFeeds: TensorMap[];
}

async function tensor(data: Float32Array, dims: number[]) {
  const ort = await import("onnxruntime-node");
  return new ort.Tensor("float32", data, dims);
}

async function corpusCase(name: string): Promise<Case> {
  if (name === "digits_cnn" || name === "digits_transformer") {
    const stem = name === "digits_cnn" ? "digits_cnn" : "digits_tf";
    const test = readNpy(resolve(CORPUS, `${stem}_test_x.npy`));
    const dims = test.dims as number[];
    const per = dims.slice(1).reduce((a, b) => a * b, 1);
    const data = test.data as Float32Array;
    const feeds: TensorMap[] = [];
    const s = await RuntimeSession.create(resolve(CORPUS, `${name}.onnx`), SINGLE_THREAD);
    const input = s.inputNames[0]!;
    await s.release();
    for (let i = 0; i < dims[0]!; i++) feeds.push({ [input]: await tensor(data.subarray(i * per, (i + 1) * per), [1, ...dims.slice(1)]) });
    return { path: resolve(CORPUS, `${name}.onnx`), data: resolve(CORPUS, `${stem}_calib.npy`), samples: 128, evalFeeds: feeds };
  }
  const path = resolve(CORPUS, `${name}.onnx`);
  const s = await RuntimeSession.create(path, SINGLE_THREAD);
  const input = s.inputNames[0]!;
  await s.release();
  const calib = naturalImages(16, 3, 224, 224, IMAGENET, 1);
  const evalFeeds = await Promise.all([0, 1, 2, 3].map(async (i) => ({ [input]: await tensor(naturalImages(1, 3, 224, 224, IMAGENET, 1000 + i), [1, 3, 224, 224]) })));
  return { path, data: { [input]: { dims: [16, 3, 224, 224], data: calib } }, samples: 16, evalFeeds };
}

async function zooCase(model: string): Promise<Case> {
  const name = model.startsWith("fr_detect_hostile") ? "fr_detect" : model;
  const { input, chw } = imageInput(name);
  const n = ZOO[name]!.calibSamples;
  const calib = naturalImages(n, ...chw, ZOO[name]!.norm, 1);
  const evalFeeds = await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map(async (i) => ({ [input]: await tensor(naturalImages(1, ...chw, ZOO[name]!.norm, 1000 + i), [1, ...chw]) })));
  let path = zooPath(name);
  if (model.startsWith("fr_detect_hostile")) saveModel(hostileDetector(path, 50, 7, model.endsWith("_inside")), (path = join(mkdtempSync(join(tmpdir(), "remedies-")), `${model}.onnx`)));
  return { path, data: { [input]: { dims: [n, ...chw], data: calib } }, samples: n, evalFeeds };
}

function median(a: number[]): number {
  const s = [...a].sort((x, y) => x - y);
  return s[s.length >> 1]!;
}

/** Median CPU-time ratio float / quantized over interleaved runs. */
async function speedup(float: string, quantized: Uint8Array, feeds: TensorMap, runs: number): Promise<number> {
  const sessions = [await RuntimeSession.create(float, SINGLE_THREAD), await RuntimeSession.create(quantized, SINGLE_THREAD)];
  try {
    const cpu = async (k: number) => {
      const t0 = process.cpuUsage();
      await sessions[k]!.run(feeds);
      const d = process.cpuUsage(t0);
      return (d.user + d.system) / 1000;
    };
    for (let w = 0; w < 3; w++) for (const k of [0, 1]) await cpu(k);
    const t: number[][] = [[], []];
    for (let r = 0; r < runs; r++) for (const k of r & 1 ? [1, 0] : [0, 1]) t[k]!.push(await cpu(k));
    return median(t[0]!) / median(t[1]!);
  } finally {
    for (const s of sessions) await s.release();
  }
}

const models = positionals.length ? positionals : ["digits_cnn", "digits_transformer", "squeezenet1_1", "mobilenet_v2", "resnet18", "fr_detect", "fr_detect_hostile", "fr_detect_hostile_inside", "fr_eye", "fr_feature", "fr_landmark", "fr_liveness", "fr_pose"];
const chains = values.chains!.split(",");
console.log(`| model | ${chains.join(" | ")} |`);
console.log(`|---|${chains.map(() => "---").join("|")}|`);
for (const name of models) {
  const c = name.startsWith("fr_") ? await zooCase(name) : await corpusCase(name);
  const reference = await runOutputs(c.path, c.evalFeeds);
  const cells: string[] = [];
  for (const chain of chains) {
    const spec = CHAINS[chain];
    if (!spec) throw new Error(`unknown chain ${chain} (known: ${Object.keys(CHAINS).join(", ")})`);
    const t0 = performance.now();
    try {
      const p0 = performance.now();
      const result = await runPipeline({ model: c.path, plugins: await resolveChain(spec, { registry: builtinPlugins }), options: { data: c.data as never, samples: c.samples }, logger: (await import("consola")).consola.create({ level: 1 }) });
      const seconds = (performance.now() - p0) / 1000;
      const bytes = serializeModel(result.model);
      const db = sqnr(reference, await runOutputs(bytes as never, c.evalFeeds));
      const sp = values["no-speed"] ? undefined : await speedup(c.path, bytes, c.evalFeeds[0]!, Number(values.runs));
      cells.push(`${db.toFixed(1)} dB${sp ? ` ${sp.toFixed(2)}×` : ""} ${seconds.toFixed(1)} s`);
    } catch (e) {
      cells.push(`error ${(e as Error).message.slice(0, process.env.FULL_ERRORS ? 1000 : 60)}`);
    }
    process.stderr.write(`${name} ${chain}: ${cells.at(-1)} (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
  }
  console.log(`| ${name} | ${cells.join(" | ")} |`);
}
console.log(`\ncells: static INT8 output SQNR vs fp32 (all outputs, ${"8 eval images (zoo), 4 (ImageNet models), the 469 digits test samples"}) and speed (median CPU time fp32 / int8, one thread, batch 1, ${values.runs} interleaved runs), and the quantization run's wall time (load → quantize, calibration included)`);
