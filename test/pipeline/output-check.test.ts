/**
 * Issue 10 item 2: an output ONNX Runtime refuses is never written. A user plugin corrupts the model on purpose; the
 * kernel's check of the staged file (structural always, an onnxruntime-node session by default) refuses it with
 * E_EXPORT_INVALID, nothing appears at the output path and a previous output stays byte-identical.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runPipeline, saveModel } from "../../src/index.ts";
import { createLogger } from "../../src/kernel/logger.ts";
import { checkOps } from "../../src/onnx/check-ops.ts";
import weightOnly from "../../plugins/quantizers/weight-only.ts";
import int8 from "../../plugins/packers/int8.ts";
import onnx from "../../plugins/exporters/onnx.ts";
import { mlpModel } from "../helpers/models.ts";
import { ROOT } from "../helpers/corpus.ts";
import broken from "./plugins/broken.ts";
import { hashFile, temps, tmp } from "./safety-helpers.ts";

const chain = (kind: "dq" | "unknown" | "types") => [weightOnly(), broken({ kind }), int8(), onnx()];
const quiet = createLogger(0);

describe("runPipeline refuses invalid outputs before the rename", () => {
  test("DequantizeLinear in an opset-9 model: E_EXPORT_INVALID naming the node, nothing written", async () => {
    const dir = tmp();
    const out = join(dir, "q.onnx");
    // Only the plugin's node: no weight quantizer in the chain (its own opset handling is not under test here).
    const err = await runPipeline({ model: mlpModel(9), plugins: [broken({ kind: "dq" }), onnx()], options: { output: out } }).catch((e) => e);
    expect(err.code).toBe("E_EXPORT_INVALID");
    expect(err.message).toEndWith('DequantizeLinear does not exist at opset 9 (since opset 10): "inserted_dq"');
    expect(readdirSync(dir)).toEqual([]);
  });

  test("an unknown operator: E_EXPORT_INVALID; an existing output stays byte-identical", async () => {
    const dir = tmp();
    const out = join(dir, "q.onnx");
    await runPipeline({ model: mlpModel(13), plugins: [weightOnly(), int8(), onnx()], options: { output: out } });
    const before = hashFile(out);
    const err = await runPipeline({ model: mlpModel(13), plugins: chain("unknown"), options: { output: out } }).catch((e) => e);
    expect(err.code).toBe("E_EXPORT_INVALID");
    expect(err.message).toContain('FooBar is not an ONNX operator: "inserted_foo"');
    expect(hashFile(out)).toBe(before);
    expect(readdirSync(dir)).toEqual(["q.onnx"]);
  });

  test("what only ONNX Runtime can tell (an Add of float and int64): ORT's own message; also with external data", async () => {
    for (const externalData of [false, true]) {
      const dir = tmp();
      const out = join(dir, "q.onnx");
      const err = await runPipeline({ model: mlpModel(13), plugins: chain("types"), options: { output: out, externalData } }).catch((e) => e);
      expect(err.code).toBe("E_EXPORT_INVALID");
      expect(err.message).toContain("ONNX Runtime refuses the output");
      expect(err.message).toMatch(/Type parameter \(T\).*bound to different types/);
      expect(err.message).not.toContain(".tmp-"); // names the output, not the temp file
      expect(readdirSync(dir)).toEqual([]);
    }
  });

  test("a valid output is checked and published; over the memory budget the session is skipped with a warning", async () => {
    const dir = tmp();
    const ok = await runPipeline({ model: mlpModel(13), plugins: [weightOnly(), int8(), onnx()], options: { output: join(dir, "a.onnx") } });
    expect(ok.diagnostics.find((d) => d.code === "ort-check")!.message).toStartWith("loads in onnxruntime-node");
    const big = await runPipeline({ model: mlpModel(13), plugins: [weightOnly(), int8(), onnx()], options: { output: join(dir, "b.onnx"), ortCheckMaxBytes: 100 }, logger: quiet });
    const w = big.diagnostics.find((d) => d.code === "ort-check")!;
    expect(w.level).toBe("warning");
    expect(w.message).toContain("over the 0 MiB budget");
    // The structural check ran anyway, and caught nothing.
    expect(big.diagnostics.some((d) => d.code === "output-check" && d.level === "info")).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(["a.onnx", "b.onnx"]);
  });
});

describe("checkOps", () => {
  test("ops are checked at their domain's imported opset, in subgraphs too; removed ops are errors", () => {
    const m = mlpModel(9).proto;
    expect(checkOps(m).filter((p) => p.level === "error")).toEqual([]);
    m.graph!.node!.push({ name: "up", op_type: "Upsample", input: ["x"], output: ["u"] });
    m.opset_import = [{ domain: "", version: 10 }];
    expect(checkOps(m).map((p) => p.message)).toContain('Upsample was removed at opset 10 (model imports 10): "up"');
    m.graph!.node!.push({ name: "ms", op_type: "Gelu", domain: "com.example", input: ["x"], output: ["g"] });
    expect(checkOps(m).map((p) => p.message)).toContain('Gelu uses domain "com.example", which the model does not import: "ms"');
  });
});

describe("the CLI with a user plugin from a config", () => {
  test("exit 1, E_EXPORT_INVALID, no output; a previous output unchanged; --no-ort-check keeps the structural check", () => {
    const dir = tmp();
    saveModel(mlpModel(9), join(dir, "m9.onnx"));
    // The user's plugin file, importing the library by absolute path (as a plugin outside the repo would by package).
    writeFileSync(join(dir, "broken.ts"), readFileSync(join(import.meta.dir, "plugins/broken.ts"), "utf8").replace("../../../src/index.ts", join(ROOT, "src/index.ts")));
    // No weight quantizer in these chains: only the plugin's node can make the output invalid.
    writeFileSync(join(dir, "bad.json"), JSON.stringify({ plugins: ["normalize", ["./broken.ts", { kind: "dq" }], "int8", "onnx"] }));
    writeFileSync(join(dir, "copy.json"), JSON.stringify({ plugins: ["normalize", "int8", "onnx"] }));
    const run = (args: string[]) => Bun.spawnSync([process.execPath, join(ROOT, "src/cli/main.ts"), ...args], { cwd: dir, stderr: "pipe", stdout: "pipe" });
    const out = join(dir, "q.onnx");
    for (const extra of [[], ["--no-ort-check"]]) {
      const r = run(["quantize", "m9.onnx", "-o", out, "--config", "bad.json", ...extra]);
      expect(r.exitCode).toBe(1);
      expect(r.stderr.toString()).toContain("error E_EXPORT_INVALID");
      expect(existsSync(out)).toBe(false);
    }
    expect(run(["quantize", "m9.onnx", "-o", out, "--config", "copy.json", "--quiet"]).exitCode).toBe(0);
    const before = hashFile(out);
    const r = run(["quantize", "m9.onnx", "-o", out, "--config", "bad.json", "--external-data"]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr.toString()).toContain("DequantizeLinear does not exist at opset 9");
    expect(hashFile(out)).toBe(before);
    expect(temps(dir)).toEqual([]);
    expect(readdirSync(dir).filter((n) => n.endsWith(".data"))).toEqual([]);
  });
});
