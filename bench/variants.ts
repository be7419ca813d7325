/**
 * The transformers.js variant set of corpus models, measured: size ratio, output SQNR on a random input and speed vs
 * fp32 (onnxruntime-node, 1 thread, batch 1, interleaved medians), and which ORT kernels each variant runs.
 *
 *   bun bench/variants.ts [--runs 200] [--modes q8,q4] [model …]     (default: digits_transformer digits_cnn)
 *
 * Timings on a shared machine are noisy: compare ratios. digits_* are tiny (0.1 ms per inference): their speed
 * figures show per-node overhead, not what the kernels do on real transformer sizes.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { consola } from "consola";
import { formatVariants, makeVariants } from "../src/index.ts";

const { values, positionals } = parseArgs({
  args: Bun.argv.slice(2),
  options: { runs: { type: "string", default: "200" }, modes: { type: "string" } },
  allowPositionals: true,
});
const CORPUS = process.env.QUANT_CORPUS ?? resolve(import.meta.dir, "../../shared/models");
const models = positionals.length ? positionals : ["digits_transformer", "digits_cnn"];
const out = mkdtempSync(join(tmpdir(), "bench-variants-"));
try {
  for (const m of models) {
    const path = m.endsWith(".onnx") ? m : join(CORPUS, `${m}.onnx`);
    const rows = await makeVariants(path, out, { runs: Number(values.runs), modes: values.modes?.split(","), logger: consola.create({ level: 1 }) });
    console.log(formatVariants(path, rows));
  }
} finally {
  rmSync(out, { recursive: true, force: true });
}
