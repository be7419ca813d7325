/**
 * Cost of the pre-publish output check (pipeline/output-check.ts): structural op/opset check + one onnxruntime-node
 * session on the staged file, per model, against the time of a whole `quantize` run (resnet18). Prints figures only.
 *   bun bench/ort-check.ts
 */
import { existsSync, mkdtempSync, copyFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { checkStagedModel } from "../src/pipeline/output-check.ts";
import { runPipeline } from "../src/index.ts";
import { createLogger } from "../src/kernel/logger.ts";
import weightOnly from "../plugins/quantizers/weight-only.ts";
import int8 from "../plugins/packers/int8.ts";
import onnx from "../plugins/exporters/onnx.ts";
import { corpus, hasCorpus } from "../test/helpers/corpus.ts";

const ZOO = "/root/.cache/quant-zoo/models";
const models = [
  ...(hasCorpus ? ["resnet18.onnx", "mobilenet_v2.onnx", "squeezenet1_1.onnx"].map(corpus) : []),
  ...(existsSync(ZOO) ? ["fr_age", "fr_detect", "fr_expression", "fr_eye", "fr_feature", "fr_gender", "fr_landmark", "fr_liveness", "fr_pose", "isnet_medium", "isnet_small"].map((n) => join(ZOO, `${n}.onnx`)) : []),
];
const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1]!;
const dir = mkdtempSync(join(tmpdir(), "quant-ortcheck-"));
console.log("model                 MB   structural ms   ORT session ms (median of 3)");
for (const m of models) {
  const staged = join(dir, basename(m));
  copyFileSync(m, staged);
  const s: number[] = [];
  const o: number[] = [];
  for (let i = 0; i < 3; i++) {
    const d = await checkStagedModel(staged, staged);
    s.push(Number(/\((\d+) ms\)/.exec(d.find((x) => x.code === "output-check" && x.level === "info")!.message)![1]));
    o.push(d.find((x) => x.code === "ort-check")!.metrics!.ms!);
  }
  console.log(`${basename(m).padEnd(20)} ${(statSync(m).size / 2 ** 20).toFixed(1).padStart(5)}   ${String(median(s)).padStart(13)}   ${median(o).toFixed(0).padStart(14)}`);
}
if (hasCorpus) {
  const run = async (ortCheck: boolean) => {
    const t0 = performance.now();
    await runPipeline({ model: corpus("resnet18.onnx"), plugins: [weightOnly(), int8(), onnx()], options: { output: join(dir, "q.onnx"), ortCheck }, logger: createLogger(0) });
    return performance.now() - t0;
  };
  await run(true);
  const on = median([await run(true), await run(true), await run(true)]);
  const off = median([await run(false), await run(false), await run(false)]);
  console.log(`\nresnet18 weight-only INT8 run (library, median of 3): ${on.toFixed(0)} ms with the ORT check, ${off.toFixed(0)} ms without (+${(on - off).toFixed(0)} ms, ${((100 * (on - off)) / off).toFixed(0)}%)`);
}
rmSync(dir, { recursive: true, force: true });
