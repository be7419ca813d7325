/**
 * One zoo run = one CLI command on one zoo model, as a user types it, then the output loaded in onnxruntime-node
 * (one thread) and compared with the float model on synthetic natural-image-like inputs (bench/zoo/synthetic.ts).
 * Shared by test/acceptance/zoo.test.ts (asserts) and bench/zoo/table.ts (the README table, with speed).
 */
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { loadModel } from "../../src/onnx/codec.ts";
import { modelInputs } from "../../src/runtime/session.ts";
import { RuntimeSession, SINGLE_THREAD, type TensorMap } from "../../src/runtime/session.ts";
import { writeNpy } from "../../src/data/npy.ts";
import { DataType } from "../../src/tensor/dtypes.ts";
import { naturalImages, type Normalization } from "./synthetic.ts";
import { zooModels } from "./fetch.ts";

const ROOT = resolve(import.meta.dir, "../..");
const IMAGENET: Normalization = { mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375] };

/** Per model: the normalization its npm package applies (read from the package's JS), extra flags, sample counts. */
export interface ZooSpec {
  norm: Normalization;
  /** Flags every command gets for this model (and why). */
  extra?: { args: string[]; why: string };
  /** Calibration samples (few: the zoo test must stay within minutes on 2 cores). */
  calibSamples: number;
  /** Every command is expected to refuse the model with this error code. */
  refused?: string;
}

export const ZOO: Record<string, ZooSpec> = {
  fr_age: { norm: IMAGENET, calibSamples: 8 },
  fr_detect: { norm: { mean: [127], std: [128] }, calibSamples: 8 },
  fr_expression: { norm: { mean: [0], std: [255] }, calibSamples: 4 },
  fr_eye: { norm: { mean: [0], std: [255] }, calibSamples: 8 },
  fr_feature: { norm: { mean: [127], std: [128] }, calibSamples: 4 },
  fr_gender: { norm: IMAGENET, calibSamples: 8 },
  fr_landmark: { norm: { mean: [0], std: [256] }, calibSamples: 8 },
  fr_liveness: { norm: { mean: [0], std: [1] }, calibSamples: 8 },
  fr_pose: { norm: IMAGENET, calibSamples: 4 },
  isnet_small: { norm: { mean: [128], std: [256] }, calibSamples: 1, refused: "E_QUANT_ALREADY" },
  isnet_medium: { norm: { mean: [128], std: [256] }, calibSamples: 2 },
};

/** The four ways every model is quantized. `calibrate` gets `--data <synthetic.npy>` added. */
export const MODES = [
  { mode: "weights int8", args: ["quantize"] },
  { mode: "weights int8 per-channel", args: ["quantize", "--bits", "8", "--per-channel"] },
  // Raw INT4 quality: without INT4's default accuracy target (test/acceptance/search.test.ts covers the default).
  { mode: "weights int4 block 32", args: ["quantize", "--bits", "4", "--block-size", "32", "--target-sqnr", "off"] },
  { mode: "static int8", args: ["calibrate"] },
] as const;

export type ZooMode = (typeof MODES)[number]["mode"];

/** Result of one run. */
export interface ZooRow {
  model: string;
  mode: ZooMode;
  code: number;
  /** The one error line when the command failed. */
  error?: string;
  opset?: { from: number; to: number };
  bytes?: { input: number; output: number; ratio: number };
  weightsQuantized?: number;
  /** Output SQNR (dB) against the float model, all outputs together, on the evaluation images. */
  sqnrDb?: number;
  /** Median single-thread latency ratio float / quantized (table only). */
  speedup?: number;
  seconds: number;
  output: string;
}

/** `quant <args>` as a subprocess. */
export function quantCli(args: string[]): { code: number; stdout: string; stderr: string } {
  const p = Bun.spawnSync([process.execPath, join(ROOT, "src/cli/main.ts"), ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  return { code: p.exitCode ?? -1, stdout: p.stdout.toString(), stderr: p.stderr.toString() };
}

/** Path of a zoo model. */
export const zooPath = (name: string) => join(zooModels, `${name}.onnx`);

/** The model's single image input: name and [C, H, W]. */
export function imageInput(name: string): { input: string; chw: [number, number, number] } {
  const m = loadModel(zooPath(name));
  try {
    const inputs = modelInputs(m);
    if (inputs.length !== 1 || inputs[0]!.elemType !== DataType.FLOAT || inputs[0]!.shape.length !== 4) throw new Error(`${name}: expected one float NCHW input`);
    const [, c, h, w] = inputs[0]!.shape as number[];
    return { input: inputs[0]!.name, chw: [c!, h!, w!] };
  } finally {
    m.external?.close();
  }
}

/** Write the calibration images of a model as .npy ([N, C, H, W]); returns the path. */
export function writeCalibration(name: string, dir: string): string {
  const { chw } = imageInput(name);
  const path = join(dir, `${name}.calib.npy`);
  const n = ZOO[name]!.calibSamples;
  writeNpy(path, naturalImages(n, ...chw, ZOO[name]!.norm, 1), [n, ...chw]);
  return path;
}

/** Evaluation images (seeded apart from calibration), as feeds. */
export async function evalFeeds(name: string, count = 1): Promise<TensorMap[]> {
  const { input, chw } = imageInput(name);
  const ort = await import("onnxruntime-node");
  return Array.from({ length: count }, (_, i) => ({ [input]: new ort.Tensor("float32", naturalImages(1, ...chw, ZOO[name]!.norm, 1000 + i), [1, ...chw]) }));
}

/** Every output of a model on each feed, concatenated in output order (single-thread session). */
export async function runOutputs(path: string, feeds: readonly TensorMap[]): Promise<Float64Array> {
  const s = await RuntimeSession.create(path, SINGLE_THREAD);
  try {
    const parts: ArrayLike<number>[] = [];
    for (const f of feeds) {
      const out = await s.run(f);
      for (const name of s.outputNames) parts.push(out[name]!.data as Float32Array);
    }
    const total = parts.reduce((a, p) => a + p.length, 0);
    const all = new Float64Array(total);
    let at = 0;
    for (const p of parts) for (let i = 0; i < p.length; i++) all[at++] = Number(p[i]);
    return all;
  } finally {
    await s.release();
  }
}

/** SQNR in dB of `test` against `ref` (∞ when identical). */
export function sqnr(ref: Float64Array, test: Float64Array): number {
  let s = 0;
  let n = 0;
  for (let i = 0; i < ref.length; i++) {
    s += ref[i]! * ref[i]!;
    n += (ref[i]! - test[i]!) ** 2;
  }
  return n === 0 ? Infinity : 10 * Math.log10(s / n);
}

/** Run one mode on one model: the CLI command, then the output's SQNR in ORT against `reference` (float outputs). */
export async function runZoo(name: string, mode: (typeof MODES)[number], dir: string, calib: string, feeds: readonly TensorMap[], reference?: Float64Array): Promise<ZooRow> {
  mkdirSync(dir, { recursive: true });
  const output = join(dir, `${name}.${mode.mode.replace(/\W+/g, "-")}.onnx`);
  const args = [mode.args[0], zooPath(name), "-o", output, ...mode.args.slice(1), ...(ZOO[name]!.extra?.args ?? [])];
  if (mode.args[0] === "calibrate") args.push("--data", calib, "--samples", String(ZOO[name]!.calibSamples));
  const t0 = performance.now();
  const r = quantCli([...args, "--format", "json", "--quiet"]);
  const seconds = (performance.now() - t0) / 1000;
  if (r.code !== 0) return { model: name, mode: mode.mode, code: r.code, error: r.stderr.trim().split("\n").at(-1), seconds, output };
  const rep = JSON.parse(r.stdout);
  const row: ZooRow = { model: name, mode: mode.mode, code: 0, opset: rep.opset, bytes: rep.bytes, weightsQuantized: rep.weights.quantized, seconds, output };
  if (reference) row.sqnrDb = sqnr(reference, await runOutputs(output, feeds));
  return row;
}

/** One line of the zoo table. */
export function formatRow(r: ZooRow): string {
  const cells = [
    r.model.padEnd(13),
    r.mode.padEnd(25),
    r.opset ? `${r.opset.from} → ${r.opset.to}`.padEnd(8) : "".padEnd(8),
    r.bytes ? `${r.bytes.ratio.toFixed(3)}×`.padStart(7) : "".padStart(7),
    r.sqnrDb !== undefined ? `${r.sqnrDb.toFixed(1)} dB`.padStart(9) : "".padStart(9),
    r.speedup !== undefined ? `${r.speedup.toFixed(2)}×`.padStart(6) : "",
    `${r.seconds.toFixed(1)} s`.padStart(7),
    r.error ?? "",
  ];
  return cells.join("  ").trimEnd();
}
