import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { QuantError, loadQuantConfig, mergeChains, resolveChain, type PluginSpec } from "../../src/index.ts";
import { mergeLayers } from "../../src/config/merge.ts";
import { planConfigJobs, planJob } from "../../src/config/plan.ts";
import { builtinPlugins } from "../../plugins/registry.ts";
import { defineCalibrator, type PluginRegistry } from "../../src/index.ts";

const dir = () => mkdtempSync(join(tmpdir(), "quant-config-"));

describe("chain merging", () => {
  test("a higher layer replaces an entry by name in place, appends new ones, removes !name", () => {
    const lower = ["normalize", "minmax", "static-qdq", "int8", "onnx"];
    expect(mergeChains(lower, [["percentile", { percentile: 99.9 }], ["onnx", { externalData: true }], "!normalize"])).toEqual([
      "minmax", "static-qdq", "int8", ["onnx", { externalData: true }], ["percentile", { percentile: 99.9 }], "!normalize",
    ]);
  });
  test("$reset drops everything inherited", () => {
    expect(mergeChains(["a", "b"], ["$reset", "c"])).toEqual(["$reset", "c"]);
  });
  test("merging is associative, so c12's multi-step merge gives the same chain", () => {
    const H: PluginSpec[] = ["!b", "x"], M: PluginSpec[] = ["c", ["a", { v: 1 }]], L: PluginSpec[] = ["a", "b", "d"];
    const left = mergeChains(mergeChains(L, M), H);
    const right = mergeChains(L, mergeChains(M, H));
    expect(left).toEqual(right);
    expect(left).toEqual([["a", { v: 1 }], "d", "c", "!b", "x"]);
  });
  test("layers: highest scalar wins, exclude unions, layerBits merges by key, snake_case normalized", () => {
    const merged = mergeLayers({ bits: 4, exclude: ["a"], layer_bits: { x: 8 } }, { bits: 8, per_channel: true, exclude: ["b", "a"], layerBits: { y: 4, x: 4 } });
    expect(merged).toEqual({ bits: 4, perChannel: true, exclude: ["b", "a"], layerBits: { y: 4, x: 8 } });
  });
});

describe("loading", () => {
  test("the seed YAML format works as-is", async () => {
    const d = dir();
    writeFileSync(join(d, "seed.yaml"), `bits: 8\nper_channel: true\nmodels:\n  - input: models/resnet18.onnx\n    output: quantized/resnet18_int8.onnx\nbatch:\n  input_dir: "models/*.onnx"\n  output_dir: quantized/\n  skip_existing: true\nplugins: [minmax, static-qdq, int8, onnx, connectivity]\n`);
    const loaded = await loadQuantConfig({ registry: builtinPlugins, file: join(d, "seed.yaml") });
    expect(loaded.config).toMatchObject({ bits: 8, perChannel: true, batch: { inputDir: "models/*.onnx", outputDir: "quantized/", skipExisting: true } });
    const jobs = planConfigJobs(loaded, "weights");
    expect(jobs).toHaveLength(1); // the batch glob matches nothing in the temp folder
    expect(jobs[0]!.output).toBe(join(d, "quantized/resnet18_int8.onnx"));
    expect(jobs[0]!.chain).toEqual(["minmax", "static-qdq", "int8", "onnx", "connectivity"]);
  });

  test("extends a built-in preset; the user layer wins and edits the chain", async () => {
    const d = dir();
    writeFileSync(join(d, "quant.config.json"), JSON.stringify({ extends: "cnn", bits: 8, method: "entropy", plugins: ["!fold-batchnorm", "stats-json"] }));
    const { config } = await loadQuantConfig({ registry: builtinPlugins, cwd: d });
    expect(config.activationType).toBe("uint8"); // only the cnn preset sets it
    expect(config.perChannel).toBe(true);
    expect(config.method).toBe("entropy");
    // method: entropy in the file swaps the preset's calibrator (issue 11 item 3: it used to be lost under extends)
    expect(config.plugins).toEqual(["normalize", "entropy", "static-qdq", "int8", "onnx", "connectivity", "!fold-batchnorm", "stats-json"]);
    // --method on the command line swaps the calibrator in place
    const job = planJob({ config, cwd: d, registry: builtinPlugins }, "static", "m.onnx", "o.onnx", { method: "mse" });
    expect(job.chain.filter((s) => typeof s === "string" && !s.startsWith("!"))).toEqual(["normalize", "mse", "static-qdq", "int8", "onnx", "connectivity", "stats-json"]);
  });

  test("--preset on the command line goes under the file's own extends", async () => {
    const d = dir();
    writeFileSync(join(d, "c.yaml"), "extends: transformer\nbits: 4\n");
    const { config } = await loadQuantConfig({ registry: builtinPlugins, file: join(d, "c.yaml"), preset: "int4-weights" });
    expect(config.opTypes).toEqual(["MatMul", "Gemm"]); // transformer's, not int4-weights' (which adds Gather)
    expect(config.bits).toBe(4);
    expect(config.blockSize).toBe(32); // only int4-weights sets it
  });

  test("CLI overrides beat the file", async () => {
    const d = dir();
    writeFileSync(join(d, "c.toml"), "bits = 4\nper_channel = true\n");
    const { config } = await loadQuantConfig({ registry: builtinPlugins, file: join(d, "c.toml"), overrides: { bits: 8 } });
    expect(config).toMatchObject({ bits: 8, perChannel: true });
  });

  test("errors: missing file, bad preset, parse error with the line", async () => {
    const d = dir();
    await expect(loadQuantConfig({ registry: builtinPlugins, file: join(d, "nope.yaml") })).rejects.toMatchObject({ code: "E_CONFIG" });
    await expect(loadQuantConfig({ registry: builtinPlugins, preset: "vision-xl" })).rejects.toMatchObject({ code: "E_CONFIG" });
    writeFileSync(join(d, "bad.yaml"), "bits: 8\nmodels:\n  - input: a\n   output: b\n");
    const err = (await loadQuantConfig({ registry: builtinPlugins, file: join(d, "bad.yaml") }).catch((e) => e)) as QuantError;
    expect(err.code).toBe("E_CONFIG_PARSE");
    expect(err.message).toMatch(/line 4/);
    writeFileSync(join(d, "bad.json"), '{\n  "bits": 8,\n  "per_channel": tru\n}\n');
    const err2 = (await loadQuantConfig({ registry: builtinPlugins, file: join(d, "bad.json") }).catch((e) => e)) as QuantError;
    expect(err2.code).toBe("E_CONFIG_PARSE");
    expect(err2.message).toMatch(/line 3/);
  });

  test("unknown plugin names are refused with the list of known ones", async () => {
    const err = (await resolveChain(["int8", "turbo-quant"], { registry: builtinPlugins }).catch((e) => e)) as QuantError;
    expect(err.code).toBe("E_PLUGIN_UNKNOWN");
    expect(err.message).toContain('unknown plugin "turbo-quant"');
    expect(err.message).toContain("percentile, entropy, mse");
  });

  test("names resolve only against the registry passed in", async () => {
    // No registry: a name is unknown (plugin objects and files still resolve), and the message says what to pass.
    const none = (await resolveChain(["int8"]).catch((e) => e)) as QuantError;
    expect(none.code).toBe("E_PLUGIN_UNKNOWN");
    expect(none.message).toContain("no plugin registry given");
    // A registry of one's own: its names, its presets, its calibrators for `method`.
    const mine = defineCalibrator({ name: "mine", needs: "minmax", create: () => ({ observe() {}, merge() {}, finalize: () => new Map(), toJSON: () => ({}) }) });
    const registry: PluginRegistry = {
      plugins: { mine: { kind: "calibrator", summary: "test", load: async () => ({ default: () => mine }) }, int8: builtinPlugins.plugins.int8! },
      presets: { tiny: async () => ({ default: { bits: 4, plugins: ["minmax", "int8"] } }) },
    };
    expect((await resolveChain(["mine", "int8"], { registry })).map((p) => p.name)).toEqual(["mine", "int8"]);
    await expect(resolveChain(["minmax"], { registry })).rejects.toMatchObject({ code: "E_PLUGIN_UNKNOWN" });
    const loaded = await loadQuantConfig({ registry, preset: "tiny", noConfig: true });
    expect(loaded.config).toMatchObject({ bits: 4, plugins: ["minmax", "int8"] });
    await expect(loadQuantConfig({ preset: "cnn", noConfig: true, registry })).rejects.toThrow('unknown preset "cnn" (built-in: tiny)');
    // `--method mine` swaps the registry's calibrator; `--method minmax` is not one of its names.
    const job = planJob({ config: { plugins: ["minmax", "int8"] } as never, cwd: "/", registry }, "static", "m.onnx", "o.onnx", { method: "mine" });
    expect(job.chain).toEqual(["minmax", "int8"]); // minmax is not this registry's calibrator: nothing to swap
    const job2 = planJob({ config: { plugins: ["mine", "int8"] } as never, cwd: "/", registry }, "static", "m.onnx", "o.onnx", { method: "mine" });
    expect(job2.chain).toEqual(["mine", "int8"]);
    expect(() => planJob({ config: {} as never, cwd: "/", registry }, "static", "m.onnx", "o.onnx", { method: "minmax" })).toThrow("--method must be mine (got minmax)");
  });
});
