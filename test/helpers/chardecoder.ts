/**
 * The trained character-level decoder of test/fixtures/char-decoder (made by bench/corpus/decoder.py from Debian's
 * GPL-3 text), run in onnxruntime-node through its transformers.js text-generation interface: held-out perplexity
 * (full-sequence runs with an empty cache) and greedy generation (step-wise, feeding `present.*` back as
 * `past_key_values.*`).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { ROOT } from "./corpus.ts";

export const CHAR_DECODER = join(ROOT, "test/fixtures/char-decoder");
export const hasCharDecoder = existsSync(join(CHAR_DECODER, "model.onnx"));

/** What the export script recorded (vocabulary, sizes, torch's own held-out perplexity). */
export interface CharDecoderMeta {
  vocab: string;
  dim: number;
  heads: number;
  layers: number;
  context: number;
  heldOutPerplexity: number;
  perplexityWindow: number;
}

export const charMeta = (): CharDecoderMeta => JSON.parse(readFileSync(join(CHAR_DECODER, "meta.json"), "utf8"));
export const heldOut = (): string => readFileSync(join(CHAR_DECODER, "heldout.txt"), "utf8");

const encode = (m: CharDecoderMeta, s: string) => BigInt64Array.from([...s], (c) => {
  const i = m.vocab.indexOf(c);
  if (i < 0) throw new Error(`char ${JSON.stringify(c)} not in the vocabulary`);
  return BigInt(i);
});

/** Run one step: ids [B, S] after a cache of `pastLen` positions. */
async function step(s: ort.InferenceSession, m: CharDecoderMeta, ids: BigInt64Array, B: number, past: Record<string, ort.Tensor> | null, pastLen: number) {
  const S = ids.length / B;
  const T = pastLen + S;
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor("int64", ids, [B, S]),
    attention_mask: new ort.Tensor("int64", new BigInt64Array(B * T).fill(1n), [B, T]),
    position_ids: new ort.Tensor("int64", BigInt64Array.from({ length: B * S }, (_, i) => BigInt(pastLen + (i % S))), [B, S]),
  };
  const Dh = m.dim / m.heads;
  for (let l = 0; l < m.layers; l++)
    for (const kv of ["key", "value"]) {
      const name = `past_key_values.${l}.${kv}`;
      feeds[name] = past ? past[`present.${l}.${kv}`]! : new ort.Tensor("float32", new Float32Array(0), [B, m.heads, 0, Dh]);
    }
  return s.run(feeds);
}

/** Perplexity over non-overlapping `window`-char windows of `text` (chars 1..window−1 predicted), as the script does. */
export async function perplexity(s: ort.InferenceSession, m: CharDecoderMeta, text: string): Promise<number> {
  const W = m.perplexityWindow;
  const n = Math.floor(text.length / W);
  const ids = encode(m, text.slice(0, n * W));
  const logits = (await step(s, m, ids, n, null, 0)).logits!.data as Float32Array;
  const V = m.vocab.length;
  let nll = 0;
  for (let b = 0; b < n; b++)
    for (let t = 0; t < W - 1; t++) {
      const o = (b * W + t) * V;
      let max = -Infinity;
      for (let v = 0; v < V; v++) max = Math.max(max, logits[o + v]!);
      let sum = 0;
      for (let v = 0; v < V; v++) sum += Math.exp(logits[o + v]! - max);
      nll += Math.log(sum) + max - logits[o + Number(ids[b * W + t + 1])]!;
    }
  return Math.exp(nll / (n * (W - 1)));
}

const argmaxLast = (logits: Float32Array, V: number) => {
  const o = logits.length - V;
  let best = 0;
  for (let v = 1; v < V; v++) if (logits[o + v]! > logits[o + best]!) best = v;
  return best;
};

/** Greedy continuation of `prompt`, `n` chars, one token per step through the KV cache. */
export async function generate(s: ort.InferenceSession, m: CharDecoderMeta, prompt: string, n: number): Promise<string> {
  const V = m.vocab.length;
  let out = await step(s, m, encode(m, prompt), 1, null, 0);
  let len = prompt.length;
  let text = "";
  for (let i = 0; i < n; i++) {
    const next = argmaxLast(out.logits!.data as Float32Array, V);
    text += m.vocab[next];
    if (i === n - 1) break;
    out = await step(s, m, BigInt64Array.of(BigInt(next)), 1, out as Record<string, ort.Tensor>, len);
    len++;
  }
  return text;
}

/** Greedy argmax at every position of one full-sequence run (no cache): what step-wise generation must reproduce. */
export async function argmaxAll(s: ort.InferenceSession, m: CharDecoderMeta, text: string): Promise<string> {
  const V = m.vocab.length;
  const logits = (await step(s, m, encode(m, text), 1, null, 0)).logits!.data as Float32Array;
  let r = "";
  for (let t = 0; t < text.length; t++) r += m.vocab[argmaxLast(logits.subarray(0, (t + 1) * V), V)];
  return r;
}
