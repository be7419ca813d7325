/**
 * The transformers.js variant set of corpus models, measured: size ratio, output SQNR on a random input and speed vs
 * fp32 (onnxruntime-node, 1 thread, batch 1, interleaved medians), and which ORT kernels each variant runs.
 *
 *   bun bench/variants.ts [--runs 200] [--modes q8,q4] [model …]     (default: digits_transformer digits_cnn)
 *   nice bun bench/variants.ts --decoder 768:6:12:8000 --modes q8,q4 --runs 30
 *     a GPT-like decoder built in code (dim:layers:heads:vocab, random weights: speed and structure only), timed on a
 *     one-token step with a 128-token cache.
 *   nice bun bench/variants.ts --encoder 768:12:12:30522 --modes q8,int8,uint8 --runs 20
 *     a BERT-like encoder (dim:layers:heads:vocab, random weights), timed at sequence 128.
 *
 * Timings on a shared machine are noisy: compare ratios. digits_* are tiny (0.1 ms per inference): their speed
 * figures show per-node overhead, not what the kernels do on real transformer sizes.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { consola } from "consola";
import { formatVariants, makeVariants } from "../src/pipeline/variants.ts";
import { decoderModel } from "../test/helpers/decoder.ts";
import { encoderModel } from "../test/helpers/encoder.ts";
import { builtinPlugins } from "../plugins/registry.ts";

const { values, positionals } = parseArgs({
  args: Bun.argv.slice(2),
  options: { runs: { type: "string", default: "200" }, modes: { type: "string" }, decoder: { type: "string" }, encoder: { type: "string" } },
  allowPositionals: true,
});
const CORPUS = process.env.QUANT_CORPUS ?? resolve(import.meta.dir, "../../shared/models");
const out = mkdtempSync(join(tmpdir(), "bench-variants-"));
const models = positionals.length ? positionals : values.decoder || values.encoder ? [] : ["digits_transformer", "digits_cnn"];
let shapes: Record<string, number[]> | undefined;
if (values.decoder) {
  const [dim, layers, heads, vocab] = values.decoder.split(":").map(Number) as [number, number, number, number];
  const path = join(out, "model.onnx");
  writeFileSync(path, decoderModel({ dim, layers, heads, vocab }));
  models.push(path);
  shapes = { "past_key_values.*": [1, heads, 128, dim / heads], attention_mask: [1, 129] };
  console.log(`decoder: dim ${dim}, ${layers} layers, ${heads} heads, vocab ${vocab}; one-token step, 128-token cache`);
}
if (values.encoder) {
  const [dim, layers, heads, vocab] = values.encoder.split(":").map(Number) as [number, number, number, number];
  const path = join(out, "encoder_model.onnx");
  writeFileSync(path, encoderModel({ dim, layers, heads, vocab }));
  models.push(path);
  shapes = { input_ids: [1, 128], attention_mask: [1, 128] };
  console.log(`encoder: dim ${dim}, ${layers} layers, ${heads} heads, vocab ${vocab}; sequence 128`);
}
try {
  for (const m of models) {
    const path = m.endsWith(".onnx") ? m : join(CORPUS, `${m}.onnx`);
    const rows = await makeVariants(path, out, { registry: builtinPlugins, runs: Number(values.runs), modes: values.modes?.split(","), shapes, logger: consola.create({ level: 1 }) });
    console.log(formatVariants(path, rows));
  }
} finally {
  rmSync(out, { recursive: true, force: true });
}
