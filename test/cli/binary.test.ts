/**
 * The single-file binary (`bun run build:bin` → dist/quant) runs every command: onnxruntime and libvips load from
 * beside it, presets are built in, batch re-runs the binary itself. Built here (rebuilt only when a source file is
 * newer than the binary); the build time is printed.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { ROOT } from "../helpers/corpus.ts";

const BIN = join(ROOT, "dist", process.platform === "win32" ? "quant.exe" : "quant");
const dir = mkdtempSync(join(tmpdir(), "quant-bin-"));

function newest(d: string): number {
  let t = 0;
  for (const e of readdirSync(d, { withFileTypes: true, recursive: true }))
    if (e.isFile() && /\.(ts|mjs|json)$/.test(e.name)) t = Math.max(t, statSync(join(e.parentPath, e.name)).mtimeMs);
  return t;
}

function bin(args: string[]) {
  const p = Bun.spawnSync([BIN, ...args], { cwd: dir, stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  return { code: p.exitCode ?? -1, stdout: p.stdout.toString(), stderr: p.stderr.toString() };
}

beforeAll(async () => {
  const stale = !existsSync(BIN) || Math.max(newest(join(ROOT, "src")), newest(join(ROOT, "plugins")), statSync(join(ROOT, "package.json")).mtimeMs) > statSync(BIN).mtimeMs;
  if (stale) {
    const t0 = performance.now();
    const b = Bun.spawnSync([process.execPath, "run", "build:bin"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    if (b.exitCode !== 0) throw new Error(`build:bin failed\n${b.stderr}`);
    console.log(`built dist/quant in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  copyFileSync(join(ROOT, "examples/digits_cnn.onnx"), join(dir, "model.onnx"));
  copyFileSync(join(ROOT, "examples/digits_cnn_calib.npy"), join(dir, "calib.npy"));
  mkdirSync(join(dir, "images"));
  for (let i = 0; i < 4; i++) await sharp(new Uint8Array(32 * 32 * 3).map((_, k) => (k * 5 + i * 17) & 255), { raw: { width: 32, height: 32, channels: 3 } }).png().toFile(join(dir, "images", `i${i}.png`));
  mkdirSync(join(dir, "models"));
  for (const n of ["a", "b"]) copyFileSync(join(ROOT, "examples/digits_cnn.onnx"), join(dir, "models", `${n}.onnx`));
  writeFileSync(join(dir, "c.yaml"), "extends: cnn\nmethod: entropy\ndata: calib.npy\nmodels: [{input: model.onnx, output: out/c.onnx}]\n");
}, 240_000);

describe("dist/quant", () => {
  test("info, quantize (--bits 4), calibrate (--preset cnn, data file and image folder), validate, benchmark", () => {
    expect(bin(["info", "model.onnx"]).stdout).toContain("Conv 5");
    const q = bin(["quantize", "model.onnx", "--bits", "4", "-o", "q4.onnx", "--format", "json"]);
    expect(q.code).toBe(0);
    expect(JSON.parse(q.stdout).opset.to).toBe(21);
    const c = bin(["calibrate", "model.onnx", "--data", "calib.npy", "--preset", "cnn", "-o", "q.onnx", "--format", "json"]);
    if (c.code !== 0) throw new Error(c.stderr);
    expect(JSON.parse(c.stdout).activations.quantized).toBeGreaterThan(5);
    const img = bin(["calibrate", "model.onnx", "--data", "images", "--image-preset", "unit", "-o", "qi.onnx"]);
    if (img.code !== 0) throw new Error(img.stderr);
    expect(img.stderr).toContain("images: 4 files from images/");
    const v = bin(["validate", "model.onnx", "q.onnx", "--data", "calib.npy", "--min-sqnr", "30", "--format", "json"]);
    expect(v.code).toBe(0);
    expect(JSON.parse(v.stdout).outputs[0].sqnrDb).toBeGreaterThan(30);
    const b = bin(["benchmark", "model.onnx", "q.onnx", "--runs", "5", "--warmup", "1", "--format", "json"]);
    expect(b.code).toBe(0);
  }, 240_000);
  test("stats round trip, batch (the binary re-runs itself), config with extends, strict flags", () => {
    expect(bin(["calibrate", "model.onnx", "--data", "calib.npy", "--stats-out", "r.json", "-o", "a.onnx"]).code).toBe(0);
    expect(bin(["calibrate", "model.onnx", "--stats-in", "r.json", "--method", "mse", "-o", "b.onnx"]).code).toBe(0);
    const batch = bin(["batch", "models", "-o", "out", "--jobs", "2", "--format", "json"]);
    expect(JSON.parse(batch.stdout).counts).toEqual({ ok: 2, skipped: 0, failed: 0, notRun: 0 });
    const cfg = bin(["config", "c.yaml", "--format", "json"]);
    if (cfg.code !== 0) throw new Error(cfg.stderr);
    expect(JSON.parse(cfg.stdout).models[0].chain).toContain("entropy");
    const bad = bin(["quantize", "model.onnx", "--bitz", "4"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("did you mean --bits?");
  }, 240_000);
});
