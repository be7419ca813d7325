/**
 * Where dynamic INT8 starts to pay: a chain of square MatMuls (weight K×K, input [1, M, K]) in fp32 and as the
 * `dynamic` quantizer writes it (DynamicQuantizeLinear → MatMulInteger → scale; ORT fuses it into
 * DynamicQuantizeMatMul), timed in onnxruntime-node (1 thread, interleaved rounds, medians) for a grid of K and M.
 * The smallest K at which the dynamic form is not slower is the size below which the `transformer` preset leaves a
 * MatMul float (`minElements`).
 *
 *   nice bun bench/dynamic-threshold.ts [--dims 64,128,192,256,384,512,768] [--tokens 1,8,64] [--layers 8] [--runs 200]
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { consola } from "consola";
import { DataType, GraphBuilder, encodeModelProto, resolveChain, runPipeline } from "../src/index.ts";
import { builtinPlugins } from "../plugins/registry.ts";
import { createTimingSession, interleavedLatency, randomFeeds } from "../src/runtime/latency.ts";
import { fillNormal, sampleRng } from "../src/data/random.ts";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    dims: { type: "string", default: "64,128,192,256,384,512,768" }, tokens: { type: "string", default: "1,8,64" },
    layers: { type: "string", default: "8" }, runs: { type: "string", default: "200" },
  },
});
const L = Number(values.layers), runs = Number(values.runs);
const dir = mkdtempSync(join(tmpdir(), "bench-dynthr-"));
const logger = consola.create({ level: 1 });
try {
  console.log(`${L} chained MatMuls K×K, input [1, M, K]; speed of dynamic INT8 vs fp32 (ORT, 1 thread, median of ${runs})`);
  console.log(`K      weight elements  ${values.tokens.split(",").map((m) => `M=${m}`.padEnd(22)).join("")}`);
  for (const K of values.dims.split(",").map(Number)) {
    const b = new GraphBuilder();
    let x = b.input("x", DataType.FLOAT, [1, "m", K]);
    for (let i = 0; i < L; i++) {
      const w = new Float32Array(K * K);
      fillNormal(w, sampleRng(i, "w", K));
      for (let j = 0; j < w.length; j++) w[j]! /= Math.sqrt(K);
      b.initializer(`W${i}`, DataType.FLOAT, [K, K], w);
      x = b.node("MatMul", [x, `W${i}`], {}, [i === L - 1 ? "y" : `h${i}`]);
    }
    b.output("y", DataType.FLOAT, [1, "m", K]);
    const fp32 = join(dir, `k${K}.onnx`), dyn = join(dir, `k${K}_dyn.onnx`);
    writeFileSync(fp32, encodeModelProto(b.model({ opset: 17 })));
    await runPipeline({ model: fp32, plugins: await resolveChain(["normalize", ["dynamic", { floatHeadShare: 0 }], "int8", "onnx"], { registry: builtinPlugins }), options: { output: dyn }, logger });
    const a = await createTimingSession(fp32), d = await createTimingSession(dyn);
    const cells: string[] = [];
    for (const M of values.tokens.split(",").map(Number)) {
      const feeds = randomFeeds(a, { shapes: { x: [1, M, K] } });
      const [fa, fd] = await interleavedLatency([a, d], feeds, { runs, warmup: 20 });
      cells.push(`${(fa!.medianMs / fd!.medianMs).toFixed(2)}× (${(fa!.medianMs * 1000 / L).toFixed(1)} µs/MatMul)`.padEnd(22));
    }
    await a.release(), await d.release();
    console.log(`${String(K).padEnd(6)} ${String(K * K).padEnd(16)} ${cells.join("")}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
