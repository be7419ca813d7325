/**
 * The trained character decoder's variant table (what test/acceptance/decoder.test.ts asserts), for any model made by
 * bench/corpus/decoder.py: held-out perplexity of every transformers.js variant against fp32, greedy 20-character
 * continuations of 5 held-out prompts (how many equal fp32's, and the common prefix of each), and fp32's margin
 * between its two best logits where a variant first differs.
 *
 *   bun bench/char-decoder.ts [dir (default test/fixtures/char-decoder)] [--modes q4,q4f16,bnb4]
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { consola } from "consola";
import * as ort from "onnxruntime-node";
import { makeVariants } from "../src/pipeline/variants.ts";
import { builtinPlugins } from "../plugins/registry.ts";
import { generate, perplexity, type CharDecoderMeta } from "../test/helpers/chardecoder.ts";

const { values, positionals } = parseArgs({ args: Bun.argv.slice(2), options: { modes: { type: "string" } }, allowPositionals: true });
const dir = resolve(positionals[0] ?? join(import.meta.dir, "../test/fixtures/char-decoder"));
const meta = JSON.parse(readFileSync(join(dir, "meta.json"), "utf8")) as CharDecoderMeta & { steps: number };
const text = readFileSync(join(dir, "heldout.txt"), "utf8");
const GEN = 20;
// The acceptance test's prompts: 40 chars after the first space past 5 %, 25 %, … of the held-out text.
const prompts = [0.05, 0.25, 0.45, 0.65, 0.85].map((f) => {
  const at = text.indexOf(" ", Math.floor(text.length * f)) + 1;
  return text.slice(at, at + 40);
});
const open = (p: string) => ort.InferenceSession.create(p, { intraOpNumThreads: 1 });
const out = mkdtempSync(join(tmpdir(), "bench-chardec-"));
try {
  const s = await open(join(dir, "model.onnx"));
  const ppl = await perplexity(s, meta, text);
  const gens = await Promise.all(prompts.map((p) => generate(s, meta, p, GEN)));
  await s.release();
  console.log(`char decoder ${dir} (${meta.steps} steps): fp32 held-out perplexity ${ppl.toFixed(4)}`);
  for (const [i, g] of gens.entries()) console.log(`  ${JSON.stringify(prompts[i])} → ${JSON.stringify(g)}`);
  const rows = await makeVariants(join(dir, "model.onnx"), out, { registry: builtinPlugins, runs: 0, modes: values.modes?.split(","), logger: consola.create({ level: 1 }) });
  for (const r of rows) {
    const v = await open(r.file);
    const p = await perplexity(v, meta, text);
    const g = await Promise.all(prompts.map((q) => generate(v, meta, q, GEN)));
    await v.release();
    const prefix = g.map((x, i) => { const k = [...x].findIndex((c, j) => c !== gens[i]![j]); return k < 0 ? GEN : k; });
    console.log(`  ${r.mode.padEnd(6)} ppl ${p.toFixed(4)} (${((p / ppl - 1) * 100).toFixed(3)} %)  greedy = fp32 ${prefix.filter((k) => k === GEN).length}/5 (prefix ${prefix.join(",")})  size ${r.sizeRatio.toFixed(3)}×`);
  }
} finally {
  rmSync(out, { recursive: true, force: true });
}
