/**
 * Config files found in the current folder (issue 9 item 10, issue 11 item 4): a .ts/.js config is code and runs only
 * when named with --config or trusted (--trust-config, QUANT_TRUST_CONFIG=1); data configs are announced; --no-config
 * ignores them. Whether code ran is judged by a marker file the config writes when it is executed.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../helpers/corpus.ts";
import { savedChain, tmp } from "../pipeline/safety-helpers.ts";

function run(args: string[], cwd: string, env: Record<string, string> = {}) {
  const p = Bun.spawnSync([process.execPath, join(ROOT, "src/cli/main.ts"), ...args], { cwd, stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1", QUANT_TRUST_CONFIG: "", ...env } });
  return { code: p.exitCode, stdout: p.stdout.toString(), stderr: p.stderr.toString() };
}

/** A folder with m.onnx and a quant.config.ts that leaves `ran` behind when executed and excludes W0. */
function codeConfigFolder() {
  const dir = tmp();
  savedChain(dir);
  const marker = join(dir, "ran");
  writeFileSync(join(dir, "quant.config.ts"), `import { writeFileSync } from "node:fs";\nwriteFileSync(${JSON.stringify(marker)}, "executed");\nexport default { exclude: ["W0"] };\n`);
  return { dir, marker };
}

const quantized = (stdout: string) => (JSON.parse(stdout) as { weights: { quantized: number } }).weights.quantized;

describe("code configs in the current folder are not executed unless asked", () => {
  test("found, not run, one warning line; the run uses the defaults", () => {
    const { dir, marker } = codeConfigFolder();
    const r = run(["quantize", "m.onnx", "-o", "q.onnx", "--format", "json"], dir);
    expect(r.code).toBe(0);
    expect(existsSync(marker)).toBe(false);
    expect(quantized(r.stdout)).toBe(3);
    const warnings = r.stderr.split("\n").filter((l) => l.includes("quant.config.ts"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("--trust-config");
  });

  test("--trust-config, QUANT_TRUST_CONFIG=1 and --config quant.config.ts each run it", () => {
    const { dir, marker } = codeConfigFolder();
    for (const [args, env] of [[["--trust-config"], {}], [[], { QUANT_TRUST_CONFIG: "1" }], [["--config", "quant.config.ts"], {}]] as const) {
      rmSync(marker, { force: true });
      const r = run(["quantize", "m.onnx", "-o", "q.onnx", "--format", "json", ...args], dir, env);
      expect(r.code).toBe(0);
      expect(existsSync(marker)).toBe(true);
      expect(quantized(r.stdout)).toBe(2); // W0 excluded by the config
    }
  });
});

describe("data configs in the current folder are announced; --no-config ignores them", () => {
  test("quant.config.yaml: 'using ./quant.config.yaml' on stderr and applied; --no-config: not applied, not announced", () => {
    const dir = tmp();
    savedChain(dir);
    writeFileSync(join(dir, "quant.config.yaml"), "exclude:\n  - W1\n");
    const r = run(["quantize", "m.onnx", "-o", "q.onnx", "--format", "json"], dir);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("using ./quant.config.yaml");
    expect(r.stdout.trim().startsWith("{")).toBe(true); // stdout stays pure JSON
    expect(quantized(r.stdout)).toBe(2);
    const n = run(["quantize", "m.onnx", "-o", "q.onnx", "--format", "json", "--no-config"], dir);
    expect(n.code).toBe(0);
    expect(n.stderr).not.toContain("quant.config");
    expect(quantized(n.stdout)).toBe(3);
  });

  test("an untrusted .ts beside a .yaml: the .yaml is used, the .ts is skipped with a warning", () => {
    const { dir, marker } = codeConfigFolder();
    writeFileSync(join(dir, "quant.config.yaml"), "exclude:\n  - W1\n");
    const r = run(["quantize", "m.onnx", "-o", "q.onnx", "--format", "json"], dir);
    expect(r.code).toBe(0);
    expect(existsSync(marker)).toBe(false);
    expect(r.stderr).toContain("using ./quant.config.yaml");
    expect(r.stderr).toContain("not loading ./quant.config.ts");
    expect(quantized(r.stdout)).toBe(2);
  });

  test("a found data config that names a plugin file is refused unless trusted (the plugin would run)", () => {
    const dir = tmp();
    savedChain(dir);
    const marker = join(dir, "ran");
    writeFileSync(join(dir, "p.ts"), `import { writeFileSync } from "node:fs";\nwriteFileSync(${JSON.stringify(marker)}, "x");\nexport default {};\n`);
    writeFileSync(join(dir, "quant.config.json"), JSON.stringify({ plugins: ["normalize", "weight-only", "int8", "onnx", "./p.ts"] }));
    const r = run(["quantize", "m.onnx", "-o", "q.onnx"], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("error E_CONFIG");
    expect(existsSync(marker)).toBe(false);
    expect(existsSync(join(dir, "q.onnx"))).toBe(false);
  });
});

describe("batch", () => {
  test("announces the folder's config once, children apply it; --no-config (anywhere in argv) reaches every child", () => {
    const dir = tmp();
    savedChain(dir, "a.onnx");
    savedChain(dir, "b.onnx");
    writeFileSync(join(dir, "quant.config.yaml"), "exclude:\n  - W0\n");
    const weights = (stdout: string) => (JSON.parse(stdout) as { models: { weightsQuantized: number }[] }).models.map((m) => m.weightsQuantized);
    const r = run(["batch", "a.onnx", "b.onnx", "-o", "out", "--format", "json"], dir);
    expect(r.code).toBe(0);
    expect(r.stderr.split("\n").filter((l) => l.includes("using ./quant.config.yaml"))).toHaveLength(1);
    expect(weights(r.stdout)).toEqual([2, 2]);
    const n = run(["batch", "a.onnx", "--no-config", "b.onnx", "-o", "out2", "--format", "json"], dir);
    expect(n.code).toBe(0);
    expect(n.stderr).not.toContain("quant.config");
    expect(weights(n.stdout)).toEqual([3, 3]);
  });
});
