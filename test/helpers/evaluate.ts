/** Accuracy and logits SQNR of a model on the digits test set, in onnxruntime-node (one thread). */
import * as ort from "onnxruntime-node";
import { readNpy, sqnrDb } from "../../src/index.ts";
import { corpus } from "./corpus.ts";

/** The held-out digits test set for a model family. */
export function digitsTestSet(family: "cnn" | "tf") {
  const x = readNpy(corpus(family === "cnn" ? "digits_cnn_test_x.npy" : "digits_tf_test_x.npy"));
  const y = readNpy(corpus("digits_test_y.npy"));
  return { x: x.data as Float32Array, dims: x.dims, labels: Array.from(y.data as BigInt64Array, Number) };
}

/** Logits of a model (path or bytes) over the whole test set, run in one batch. */
export async function logits(model: string | Uint8Array, family: "cnn" | "tf"): Promise<Float32Array> {
  const { x, dims } = digitsTestSet(family);
  const s = await ort.InferenceSession.create(model as string, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    const out = await s.run({ [s.inputNames[0]!]: new ort.Tensor("float32", x, dims) });
    return out[s.outputNames[0]!]!.data as Float32Array;
  } finally {
    await s.release();
  }
}

/** Top-1 accuracy of logits [N, 10]. */
export function accuracy(l: Float32Array, labels: number[]): number {
  let ok = 0;
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let k = 1; k < 10; k++) if (l[i * 10 + k]! > l[i * 10 + best]!) best = k;
    if (best === labels[i]) ok++;
  }
  return ok / labels.length;
}

/** Accuracy and SQNR of `quantized` against the float model. */
export async function judge(float: string, quantized: string | Uint8Array, family: "cnn" | "tf") {
  const ref = await logits(float, family);
  const q = await logits(quantized, family);
  return { accuracy: accuracy(q, digitsTestSet(family).labels), sqnrDb: sqnrDb(ref, q), floatAccuracy: accuracy(ref, digitsTestSet(family).labels) };
}
