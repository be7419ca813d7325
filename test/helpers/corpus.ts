/**
 * The test corpus lives in ../shared/models beside the repository (CI lays it there). Tests that need it use
 * `describe.skipIf(!hasCorpus)` so a clone without it still passes the rest of the suite.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";

/** Absolute path of the corpus folder (override with QUANT_CORPUS). */
export const CORPUS_DIR = process.env.QUANT_CORPUS ?? resolve(import.meta.dir, "../../../shared/models");

/** True when the corpus is present. */
export const hasCorpus = existsSync(resolve(CORPUS_DIR, "digits_cnn.onnx"));

/** Path of a corpus file, e.g. `corpus("resnet18.onnx")`. */
export function corpus(name: string): string {
  return resolve(CORPUS_DIR, name);
}

/** Repository root. */
export const ROOT = resolve(import.meta.dir, "../..");
