/**
 * One-token decoder step with a 128-token cache, the speed target of the q4 variant: a GPT-like decoder built in code
 * (test/helpers/decoder.ts, random weights: speed only), made into q4 variants that differ in one setting each, then
 * all timed together against fp32 in onnxruntime-node (1 thread, interleaved rounds, medians). `--profile` adds ORT's
 * own per-op-type time of fp32 and of the first q4 variant, to see what limits it.
 *
 *   nice bun bench/decoder-step.ts [--size 768:12:12:50257] [--runs 30] [--variants q4,q4-acc0,q4-b128,...] [--profile]
 *
 * Variants: q4 (what `quant variants` writes), q4-acc0 (MatMulNBits accuracy_level 0), q4-b64 / q4-b128 (block size),
 * q4-rtn (no clip search), q4-head8 (lm_head at 8 bits), q4-headf (lm_head float), q4-dq (the DequantizeLinear INT4
 * form, which ORT fuses into MatMulNBits itself at load), q8 (dynamic INT8).
 * 768:12:12:50257 is GPT-2 small's shape with an untied lm_head: 163 M parameters, 650 MB of fp32 weights.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { consola } from "consola";
import * as ort from "onnxruntime-node";
import { convertOpset, loadModel, resolveChain, runPipeline, type PluginSpec } from "../src/index.ts";
import { builtinPlugins } from "../plugins/registry.ts";
import { createTimingSession, interleavedLatency, randomFeeds } from "../src/runtime/latency.ts";
import { decoderModel } from "../test/helpers/decoder.ts";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    size: { type: "string", default: "768:12:12:50257" }, runs: { type: "string", default: "30" },
    variants: { type: "string", default: "q4,q4-acc0,q4-b128,q4-head8,q4-dq" }, profile: { type: "boolean", default: false },
    dir: { type: "string" },
  },
});
const [D, L, H, V] = values.size.split(":").map(Number) as [number, number, number, number];
const dir = values.dir ?? join(tmpdir(), `bench-decoder-step-${D}-${L}-${H}-${V}`);
mkdirSync(dir, { recursive: true });
const fp32 = join(dir, "model.onnx");
if (!existsSync(fp32)) writeFileSync(fp32, decoderModel({ dim: D, layers: L, heads: H, vocab: V }));
const params = D * D * 12 * L + 2 * V * D + 512 * D;
console.log(`decoder dim ${D}, ${L} layers, ${H} heads, vocab ${V} (~${(params / 1e6).toFixed(0)} M parameters); one-token step, 128-token cache`);

const Q4 = { bits: 4 as const, blockSize: 32, symmetric: true, nativeInt4: true, clipSearch: true };
const MM: PluginSpec = ["weight-only", { opTypes: ["MatMul"] }];
const SPECS: Record<string, { chain: PluginSpec[]; options: Record<string, unknown> }> = {
  q4: { chain: ["normalize", MM, "matmulnbits", "int4", "int8"], options: Q4 },
  "q4-acc0": { chain: ["normalize", MM, ["matmulnbits", { accuracyLevel: 0 }], "int4", "int8"], options: Q4 },
  "q4-b64": { chain: ["normalize", MM, "matmulnbits", "int4", "int8"], options: { ...Q4, blockSize: 64 } },
  "q4-b128": { chain: ["normalize", MM, "matmulnbits", "int4", "int8"], options: { ...Q4, blockSize: 128 } },
  "q4-rtn": { chain: ["normalize", MM, "matmulnbits", "int4", "int8"], options: { ...Q4, clipSearch: false } },
  "q4-head8": { chain: ["normalize", MM, "matmulnbits", "int4", "int8"], options: { ...Q4, layerBits: { lm_head: 8 } } },
  "q4-headf": { chain: ["normalize", MM, "matmulnbits", "int4", "int8"], options: { ...Q4, exclude: ["lm_head"] } },
  "q4-dq": { chain: ["normalize", MM, "int4", "int8"], options: Q4 },
  q8: { chain: ["normalize", "dynamic", "int8"], options: {} },
};
const logger = consola.create({ level: 1 });
const names = values.variants.split(",");
const files: string[] = [];
for (const v of names) {
  const spec = SPECS[v];
  const file = join(dir, `model_${v}.onnx`);
  files.push(file);
  // A file already in --dir is timed as it is (variants made by other means can be compared by name).
  if (existsSync(file)) continue;
  if (!spec) throw new Error(`unknown variant ${v} (${Object.keys(SPECS).join(", ")})`);
  const t0 = performance.now();
  const model = loadModel(fp32);
  if (v.startsWith("q4")) convertOpset(model, 21);
  await runPipeline({ model, plugins: await resolveChain([...spec.chain, "onnx"], { cwd: process.cwd(), registry: builtinPlugins }), options: { ...spec.options, output: file }, logger });
  console.log(`  made ${v} in ${((performance.now() - t0) / 1000).toFixed(1)} s (${(readFileSync(file).length / 2 ** 20).toFixed(1)} MiB)`);
}

const shapes = { "past_key_values.*": [1, H, 128, D / H], attention_mask: [1, 129] };
const sessions = [await createTimingSession(fp32), ...(await Promise.all(files.map((f) => createTimingSession(f))))];
const feedShapes: Record<string, number[]> = {};
for (const n of sessions[0]!.session.inputNames) feedShapes[n] = n.startsWith("past_key_values") ? shapes["past_key_values.*"] : n === "attention_mask" ? shapes.attention_mask : [1, 1];
const feeds = randomFeeds(sessions[0]!, { shapes: feedShapes });
feeds.position_ids = new ort.Tensor("int64", BigInt64Array.of(128n), [1, 1]);
const runs = Number(values.runs);
const stats = await interleavedLatency(sessions, feeds, { runs, warmup: 5 });
// Also per-run CPU time of the process (ORT runs one thread): on a loaded machine wall time includes waiting for a
// core, CPU time does not.
const cpu = sessions.map(() => new Float64Array(runs));
for (let r = 0; r < runs; r++)
  for (const [i, s] of sessions.entries()) {
    const c0 = process.cpuUsage();
    await s.session.run(feeds);
    const c = process.cpuUsage(c0);
    cpu[i]![r] = (c.user + c.system) / 1000;
  }
const med = (a: Float64Array) => Float64Array.from(a).sort()[a.length >> 1]!;
const base = stats[0]!.medianMs, cbase = med(cpu[0]!);
console.log(`  ${"".padEnd(10)} wall median            CPU-time median`);
console.log(`  fp32       ${base.toFixed(2)} ms`.padEnd(36) + `${cbase.toFixed(2)} ms`);
for (const [i, v] of names.entries()) {
  const s = stats[i + 1]!, c = med(cpu[i + 1]!);
  console.log(`  ${v.padEnd(10)} ${s.medianMs.toFixed(2)} ms ${(base / s.medianMs).toFixed(2)}×`.padEnd(36) + `${c.toFixed(2)} ms ${(cbase / c).toFixed(2)}×`);
}
for (const s of sessions) await s.release();

if (values.profile) {
  for (const file of [fp32, files[0]!]) {
    const s = await ort.InferenceSession.create(file, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: "sequential", enableProfiling: true, profileFilePrefix: join(dir, "prof") });
    for (let r = 0; r < 10; r++) await s.run(feeds);
    // onnxruntime-node writes the trace when the session ends profiling.
    const trace = (s as unknown as { endProfiling(): string }).endProfiling?.();
    await s.release();
    const path = typeof trace === "string" && existsSync(trace) ? trace : undefined;
    if (!path) continue;
    const byOp: Record<string, number> = {};
    for (const e of JSON.parse(readFileSync(path, "utf8")) as { cat: string; name: string; dur: number; args?: { op_name?: string } }[])
      if (e.cat === "Node" && e.name.endsWith("_kernel_time")) byOp[e.args?.op_name ?? "?"] = (byOp[e.args?.op_name ?? "?"] ?? 0) + e.dur / 10 / 1000;
    const top = Object.entries(byOp).sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, t]) => `${k} ${t.toFixed(2)}`).join(", ");
    console.log(`  profile ${file.endsWith("model.onnx") ? "fp32" : names[0]} (ms per step by op): ${top}`);
  }
}
