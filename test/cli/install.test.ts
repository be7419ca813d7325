/**
 * quant used from another project, as the README's "Use it in your project" says: `bun pm pack`, then in a temp
 * project outside the repository `bun add ./quant-<v>.tgz`; the CLI runs with `bun x quant`, a `.ts` config with a
 * user plugin importing from "quant" runs, and `tsc` type-checks a file that imports the library (and reports a
 * wrong call, so the types are real).
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../helpers/corpus.ts";

const work = mkdtempSync(join(tmpdir(), "quant-install-"));
const proj = join(work, "app");
const env = { ...process.env, NO_COLOR: "1" };

function sh(cmd: string[], cwd = proj) {
  const p = Bun.spawnSync(cmd, { cwd, stdout: "pipe", stderr: "pipe", env });
  return { code: p.exitCode ?? -1, stdout: p.stdout.toString(), stderr: p.stderr.toString() };
}

beforeAll(() => {
  const pack = sh([process.execPath, "pm", "pack", "--destination", work], ROOT);
  if (pack.code !== 0) throw new Error(`bun pm pack failed\n${pack.stderr}`);
  const tgz = readdirSync(work).find((f) => f.endsWith(".tgz"))!;
  Bun.spawnSync(["mkdir", "-p", proj]);
  writeFileSync(join(proj, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  const add = sh([process.execPath, "add", join(work, tgz)]);
  if (add.code !== 0) throw new Error(`bun add failed\n${add.stderr}`);
  copyFileSync(join(ROOT, "examples/digits_cnn.onnx"), join(proj, "model.onnx"));
}, 300_000);

describe("installed from the packed tarball", () => {
  test("bun x quant runs the CLI", () => {
    expect(sh([process.execPath, "x", "quant", "--version"]).stdout.trim()).toBe("0.1.0");
    const r = sh([process.execPath, "x", "quant", "quantize", "model.onnx", "-o", "model.int8.onnx", "--format", "json"]);
    if (r.code !== 0) throw new Error(r.stderr);
    expect(JSON.parse(r.stdout).weights.quantized).toBe(7);
    // the README's command, as written
    copyFileSync(join(ROOT, "examples/digits_cnn_calib.npy"), join(proj, "calib.npy"));
    const c = sh([process.execPath, "x", "quant", "calibrate", "model.onnx", "--data", "calib.npy", "-o", "model.int8.onnx"]);
    if (c.code !== 0) throw new Error(c.stderr);
    expect(c.stdout).toContain("model.onnx → model.int8.onnx");
  }, 120_000);

  test("a .ts config with a user plugin, both importing from \"quant\"", () => {
    writeFileSync(join(proj, "ranges-csv.ts"), `import { defineExporter, type RunResult } from "quant";
export default (opts: { path?: string } = {}) =>
  defineExporter({
    name: "ranges-csv",
    export(state: RunResult) {
      const rows = [...state.ranges].map(([t, r]) => \`\${t},\${r.min},\${r.max}\`);
      return [{ path: opts.path ?? "ranges.csv", kind: "csv", data: rows.join("\\n") }];
    },
  });
`);
    writeFileSync(join(proj, "quant.config.ts"), `import { defineConfig } from "quant";
export default defineConfig({
  extends: ["cnn"],
  data: "calib.npy",
  plugins: [["./ranges-csv.ts", { path: "out/ranges.csv" }]],
  models: [{ input: "model.onnx", output: "out/model.int8.onnx" }],
});
`);
    copyFileSync(join(ROOT, "examples/digits_cnn_calib.npy"), join(proj, "calib.npy"));
    const r = sh([process.execPath, "x", "quant", "config", "quant.config.ts", "--format", "json"]);
    if (r.code !== 0) throw new Error(r.stderr);
    expect(JSON.parse(r.stdout).models[0].chain).toContain("ranges-csv");
    expect(existsSync(join(proj, "out/ranges.csv"))).toBe(true);
  }, 120_000);

  test("the library with the built-in registry from \"quant/plugins\", as the README's Library API shows", () => {
    writeFileSync(join(proj, "lib-run.ts"), `import { resolveChain, runPipeline } from "quant";
import { builtinPlugins } from "quant/plugins";
const registry = builtinPlugins;
const result = await runPipeline({
  model: "model.onnx",
  plugins: await resolveChain(["normalize", "weight-only", "int8", "onnx"], { registry }),
  options: { output: "lib.int8.onnx" },
});
console.log(JSON.stringify({ quantized: result.entries.filter((e) => e.action === "quantized").length, artifacts: result.artifacts.map((a) => a.path) }));
const unknown = await resolveChain(["int8"]).catch((e) => e.code);
console.log(unknown);
`);
    const r = sh([process.execPath, "lib-run.ts"]);
    if (r.code !== 0) throw new Error(r.stderr);
    const [first, second] = r.stdout.trim().split("\n");
    expect(JSON.parse(first!)).toEqual({ quantized: 7, artifacts: [join(proj, "lib.int8.onnx")] });
    expect(second).toBe("E_PLUGIN_UNKNOWN"); // no registry passed: names do not resolve
    expect(existsSync(join(proj, "lib.int8.onnx"))).toBe(true);
  }, 120_000);

  test("tsc type-checks a file importing the library, and catches a wrong call", () => {
    writeFileSync(join(proj, "tsconfig.json"), JSON.stringify({ compilerOptions: { target: "ES2022", module: "ESNext", moduleResolution: "bundler", strict: true, noEmit: true, skipLibCheck: true }, include: ["lib.ts"] }));
    writeFileSync(join(proj, "lib.ts"), `import { defineCalibrator, runPipeline, type RangeMap } from "quant";
import { builtinPlugins } from "quant/plugins";
export const cal = defineCalibrator({
  name: "zero",
  needs: "minmax",
  create: () => ({ observe() {}, merge() {}, finalize: (): RangeMap => new Map(), toJSON: () => ({}) }),
});
export const run: typeof runPipeline = runPipeline;
export const names: string[] = Object.keys(builtinPlugins.plugins);
`);
    const tsc = [process.execPath, join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "."];
    const ok = sh(tsc);
    expect(ok.stdout + ok.stderr).toBe("");
    expect(ok.code).toBe(0);
    writeFileSync(join(proj, "lib.ts"), `import { defineCalibrator } from "quant";\nexport const cal = defineCalibrator({ name: 42 });\n`);
    const bad = sh(tsc);
    expect(bad.code).not.toBe(0);
    expect(bad.stdout).toContain("lib.ts(2,");
    expect(bad.stdout).not.toContain("node_modules/quant");
  }, 120_000);
});
