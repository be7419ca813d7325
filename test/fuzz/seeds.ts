/**
 * Seed models for the fuzzer: the corpus CNN and Transformer (real exporter output) when present, and the small
 * corner-case models built in code (local functions, If/Loop bodies reading outer weights, Constant-node weights,
 * Identity-shared and shadowed weights, sparse initializers, a MatMul chain).
 */
import { existsSync, readFileSync } from "node:fs";
import { encodeModelProto } from "../../src/onnx/proto.ts";
import { CORPUS_DIR } from "../helpers/corpus.ts";
import { chainModel, constantModel, functionModel, identityModel, ifModel, loopModel, shadowedModel, sparseModel } from "../onnx/fixtures.ts";

/** A named seed model. */
export interface Seed {
  name: string;
  bytes: Uint8Array;
}

/** All seeds, in a fixed order (a case's seed is `seeds[index % seeds.length]`). */
export function loadSeeds(): Seed[] {
  const seeds: Seed[] = [];
  for (const f of ["digits_cnn.onnx", "digits_transformer.onnx"]) {
    const p = `${CORPUS_DIR}/${f}`;
    if (existsSync(p)) seeds.push({ name: f, bytes: readFileSync(p) });
  }
  const built = { functionModel, ifModel, loopModel, constantModel, identityModel, shadowedModel, sparseModel, chainModel: () => chainModel(3, 32) };
  for (const [name, make] of Object.entries(built)) seeds.push({ name, bytes: encodeModelProto(make()) });
  return seeds;
}
