/**
 * Decoder-step speed of the variants where weights dominate: a stack of MatMuls with random 2048×2048 weights (too
 * big for cache, like a language model's one-token step), input [1, 2048]. Prints the variant table (q8, q4, …) with
 * speed against fp32 in onnxruntime-node, 1 thread, and ORT's own DQ → MatMul fusion of the INT4 DequantizeLinear
 * form for comparison (the MatMulNBits packer must not be slower).
 *
 *   nice bun bench/gemv-stack.ts [--layers 6] [--dim 2048] [--runs 30] [--modes q8,q4,q4f16,bnb4]
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { consola } from "consola";
import {
  DataType, GraphBuilder, encodeModelProto, resolveChain, runPipeline,
} from "../src/index.ts";
import { formatVariants, makeVariants } from "../src/pipeline/variants.ts";
import { createTimingSession, interleavedLatency, randomFeeds } from "../src/runtime/latency.ts";
import { fillNormal, sampleRng } from "../src/data/random.ts";
import { builtinPlugins } from "../plugins/registry.ts";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: { layers: { type: "string", default: "6" }, dim: { type: "string", default: "2048" }, runs: { type: "string", default: "30" }, modes: { type: "string", default: "q8,q4,q4f16,bnb4" } },
});
const L = Number(values.layers), D = Number(values.dim), runs = Number(values.runs);
const dir = mkdtempSync(join(tmpdir(), "bench-gemv-"));
try {
  const b = new GraphBuilder();
  let x = b.input("x", DataType.FLOAT, [1, D]);
  for (let i = 0; i < L; i++) {
    const w = new Float32Array(D * D);
    fillNormal(w, sampleRng(i, "w", 0));
    for (let j = 0; j < w.length; j++) w[j]! *= 1 / Math.sqrt(D);
    b.initializer(`W${i}`, DataType.FLOAT, [D, D], w);
    x = b.node("MatMul", [x, `W${i}`], {}, [i === L - 1 ? "y" : `h${i}`]);
  }
  b.output("y", DataType.FLOAT, [1, D]);
  const path = join(dir, "model.onnx");
  writeFileSync(path, encodeModelProto(b.model({ opset: 17 })));
  const logger = consola.create({ level: 1 });
  const rows = await makeVariants(path, dir, { registry: builtinPlugins, runs, modes: values.modes.split(","), logger });
  console.log(formatVariants(`${L} × MatMul ${D}×${D}, input [1, ${D}]`, rows));
  // ORT's own fusion of the DequantizeLinear INT4 form (same weights as q4), for comparison.
  const dq = join(dir, "model_dq4.onnx");
  const plugins = await resolveChain(["weight-only", "int4", "int8", "onnx"], { registry: builtinPlugins });
  await runPipeline({ model: path, plugins, options: { bits: 4, blockSize: 32, symmetric: true, nativeInt4: true, clipSearch: true, output: dq }, logger });
  const s0 = await createTimingSession(path), s1 = await createTimingSession(dq);
  const [a, c] = await interleavedLatency([s0, s1], randomFeeds(s0), { runs, warmup: 5 });
  console.log(`  DQ INT4 form (ORT fuses DQ → MatMulNBits at load, accuracy level 4): ${(a!.medianMs / c!.medianMs).toFixed(2)}× (${c!.medianMs.toFixed(3)} ms vs fp32 ${a!.medianMs.toFixed(3)} ms)`);
  await s0.release(), await s1.release();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
