/**
 * The trained masked-character encoder of test/fixtures/char-encoder (made by bench/corpus/char-encoder.py from
 * Debian's licence texts), run in onnxruntime-node: masked-character accuracy on the held-out split with the script's
 * deterministic protocol (windows of `seq` chars, the last padded with attention_mask 0; position i of window w masked
 * iff (i + 3w) % 7 == 0).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type * as ort from "onnxruntime-node";
import { ROOT } from "./corpus.ts";

export const CHAR_ENCODER = join(ROOT, "test/fixtures/char-encoder");
export const hasCharEncoder = existsSync(join(CHAR_ENCODER, "model.onnx"));

/** What the training script recorded. */
export interface CharEncoderMeta {
  vocab: string;
  pad: number;
  mask: number;
  dim: number;
  layers: number;
  seq: number;
  parameters: number;
  steps: number;
  heldOutAccuracy: number;
  heldOutMasked: number;
}

export const charEncoderMeta = (): CharEncoderMeta => JSON.parse(readFileSync(join(CHAR_ENCODER, "meta.json"), "utf8"));
export const encoderHeldOut = (): string => readFileSync(join(CHAR_ENCODER, "heldout.txt"), "utf8");

/** The held-out batch: masked input ids, attention mask, the original ids and which positions are masked. */
export function maskedBatch(m: CharEncoderMeta, text: string) {
  const S = m.seq;
  const chars = [...text];
  const n = Math.ceil(chars.length / S);
  const ids = new BigInt64Array(n * S).fill(BigInt(m.pad));
  const input = new BigInt64Array(n * S).fill(BigInt(m.pad));
  const att = new BigInt64Array(n * S);
  const masked = new Uint8Array(n * S);
  for (let k = 0; k < chars.length; k++) {
    const v = m.vocab.indexOf(chars[k]!);
    if (v < 0) throw new Error(`char ${JSON.stringify(chars[k])} not in the vocabulary`);
    const w = Math.floor(k / S), i = k % S;
    ids[k] = BigInt(v);
    att[k] = 1n;
    masked[k] = (i + 3 * w) % 7 === 0 ? 1 : 0;
    input[k] = masked[k] ? BigInt(m.mask) : BigInt(v);
  }
  return { n, input, att, ids, masked };
}

/** Masked-character accuracy (and how many positions were masked) of a session over `text`. */
export async function maskedAccuracy(s: ort.InferenceSession, T: typeof ort.Tensor, m: CharEncoderMeta, text: string): Promise<{ accuracy: number; masked: number; argmax: Int32Array }> {
  const b = maskedBatch(m, text);
  const V = m.vocab.length;
  const out = await s.run({ input_ids: new T("int64", b.input, [b.n, m.seq]), attention_mask: new T("int64", b.att, [b.n, m.seq]) });
  const logits = out.logits!.data as Float32Array;
  const argmax = new Int32Array(b.n * m.seq);
  let hit = 0, count = 0;
  for (let p = 0; p < b.n * m.seq; p++) {
    let best = 0;
    for (let v = 1; v < V; v++) if (logits[p * V + v]! > logits[p * V + best]!) best = v;
    argmax[p] = best;
    if (!b.masked[p]) continue;
    count++;
    if (BigInt(best) === b.ids[p]) hit++;
  }
  return { accuracy: hit / count, masked: count, argmax };
}
