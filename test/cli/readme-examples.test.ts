/**
 * The README's code examples run as written: its `quant.config.ts` (with its `./my-exporter.ts`, the plugin guide's
 * exporter) is accepted by the strict config check and plans the chain it describes; its exporter runs in a real
 * calibration; the library example runs. Files are written outside the repository, so `"quant"` resolves the way it
 * does for a user without quant installed.
 */
import { describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, corpus, hasCorpus } from "../helpers/corpus.ts";
import { quant } from "./helpers.ts";

const README = readFileSync(join(ROOT, "README.md"), "utf8");
/** The ```ts block whose first line is `// <name>`. */
const block = (name: string) => {
  const b = [...README.matchAll(/```ts\n(.*?)```/gs)].map((m) => m[1]!).find((t) => t.startsWith(`// ${name}`));
  if (!b) throw new Error(`README has no ts block starting with // ${name}`);
  return b;
};

describe("README examples", () => {
  test("quant.config.ts with ./my-exporter.ts: accepted, planned as written, and it runs", () => {
    const d = mkdtempSync(join(tmpdir(), "quant-readme-"));
    writeFileSync(join(d, "quant.config.ts"), block("quant.config.ts"));
    writeFileSync(join(d, "my-exporter.ts"), block("my-exporter.ts"));
    copyFileSync(join(ROOT, "examples/digits_cnn.onnx"), join(d, "resnet50.onnx"));
    const plan = quant(["config", "quant.config.ts", "--dry-run", "--format", "json"], d);
    if (plan.code !== 0) throw new Error(plan.stderr);
    const job = JSON.parse(plan.stdout).jobs[0];
    expect(job.chain.map((p: { name: string }) => p.name)).toEqual(["normalize", "fold-conv-affine", "equalize", "entropy", "static-qdq", "float-spread-outputs", "bias-correction", "int8", "onnx", "connectivity", "stats-json", "ranges-csv"]);
    expect(job.options).toMatchObject({ method: "entropy", images: "imagenet", samples: 256, exclude: ["classifier.*"] });
    // Run it on a stand-in: the example model's own image size (the README's imagenet preset is for 224×224 RGB).
    mkdirSync(join(d, "calib"));
    copyFileSync(join(ROOT, "examples/digits_cnn_calib.npy"), join(d, "calib/images.npy"));
    writeFileSync(join(d, "quant.config.ts"), block("quant.config.ts").replace('"calib/images"', '"calib/images.npy"').replace('images: "imagenet",', "").replace("samples: 256", "samples: 64"));
    const run = quant(["config", "quant.config.ts", "--format", "json"], d);
    if (run.code !== 0) throw new Error(run.stderr);
    expect(existsSync(join(d, "out/resnet50.int8.onnx"))).toBe(true);
    expect(readFileSync(join(d, "ranges.csv"), "utf8").split("\n").length).toBeGreaterThan(5);
  }, 120_000);
});

describe.skipIf(!hasCorpus)("README library example", () => {
  test("runs as written on resnet18 and prints what its comment says", () => {
    const code = [...README.matchAll(/```ts\n(.*?)```/gs)].map((m) => m[1]!).find((t) => t.startsWith("import { loadModel"));
    expect(code).toBeDefined();
    // Inside the package (out/ is git-ignored) `"quant"` resolves to this package by its own name.
    const d = join(ROOT, "out", `readme-lib-${process.pid}`);
    mkdirSync(d, { recursive: true });
    copyFileSync(corpus("resnet18.onnx"), join(d, "resnet18.onnx"));
    writeFileSync(join(d, "example.ts"), code!);
    const p = Bun.spawnSync([process.execPath, "example.ts"], { cwd: d, stdout: "pipe", stderr: "pipe" });
    expect(p.stderr.toString()).toBe("");
    expect(p.stdout.toString().replace(/\s+/g, " ").replace(/,\s*}/, " }").trim()).toBe("21 { from: 13, to: 21 }");
    expect(existsSync(join(d, "resnet18.int4.onnx"))).toBe(true);
    expect(readdirSync(d).some((f) => f.startsWith("again.onnx") && f.endsWith(".data"))).toBe(true); // external data
    rmSync(d, { recursive: true, force: true });
  }, 120_000);
});
