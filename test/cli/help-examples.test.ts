/**
 * Every example printed by `quant <command> --help` runs, as written, in a folder holding the files the examples
 * name (model.onnx = examples/digits_cnn.onnx, calib.npy, test.npy, images/, models/, configs/int4.yaml), in the
 * order the commands are listed (later examples use earlier outputs). Each must exit 0 with no error line.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { commands } from "../../src/cli/main.ts";
import { ROOT, corpus, hasCorpus } from "../helpers/corpus.ts";
import { quant } from "./helpers.ts";

/** Shell-like split: whitespace separates, single or double quotes group. */
export function shellWords(line: string): string[] {
  const out: string[] = [];
  const re = /'([^']*)'|"([^"]*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) out.push(m[1] ?? m[2] ?? m[3]!);
  return out;
}

/** The command of an example line: the note after three spaces and a pipe into another tool are not part of it. */
export function exampleArgv(line: string): string[] {
  const cmd = line.split(/\s{3,}\(/)[0]!.split(" | ")[0]!.trim();
  const words = shellWords(cmd);
  expect(words[0]).toBe("quant");
  return words.slice(1);
}

const dir = mkdtempSync(join(tmpdir(), "quant-help-examples-"));

beforeAll(async () => {
  copyFileSync(join(ROOT, "examples/digits_cnn.onnx"), join(dir, "model.onnx"));
  copyFileSync(join(ROOT, "examples/digits_cnn_calib.npy"), join(dir, "calib.npy"));
  copyFileSync(join(ROOT, "examples/digits_cnn_test.npy"), join(dir, "test.npy"));
  if (hasCorpus) copyFileSync(corpus("digits_transformer.onnx"), join(dir, "transformer.onnx"));
  if (hasCorpus) copyFileSync(corpus("digits_cnn_test_x.npy"), join(dir, "test_x.npy"));
  if (hasCorpus) copyFileSync(corpus("digits_test_y.npy"), join(dir, "test_y.npy"));
  mkdirSync(join(dir, "images"));
  for (let i = 0; i < 6; i++) {
    const px = new Uint8Array(40 * 36 * 3).map((_, k) => (k * 7 + i * 31) & 255);
    await sharp(px, { raw: { width: 40, height: 36, channels: 3 } }).png().toFile(join(dir, "images", `img${i}.png`));
  }
  mkdirSync(join(dir, "models"));
  copyFileSync(join(ROOT, "examples/digits_cnn.onnx"), join(dir, "models/a.onnx"));
  copyFileSync(join(ROOT, "examples/digits_cnn.onnx"), join(dir, "models/b.onnx"));
  mkdirSync(join(dir, "configs"));
  writeFileSync(join(dir, "configs/int4.yaml"), "bits: 4\nmodels:\n  - input: ../model.onnx\n    output: ../out/model.int4.onnx\n");
});

describe("every --help example runs", () => {
  for (const [name, c] of Object.entries(commands)) {
    test(`quant ${name}`, async () => {
      const mod = await c.load();
      expect(mod.examples?.length).toBeGreaterThan(0);
      const help = quant([name, "--help"]);
      expect(help.code).toBe(0);
      for (const line of mod.examples!) {
        expect(help.stdout).toContain(line);
        const argv = exampleArgv(line);
        if (argv.some((x) => x === "transformer.onnx" || x === "test_y.npy") && !hasCorpus) continue;
        const r = quant(argv, dir);
        if (r.code !== 0) throw new Error(`${line}\nexit ${r.code}\n${r.stderr}`);
        expect(r.stderr).not.toMatch(/^error /m);
        expect(r.stderr).not.toContain("matches no"); // an example whose pattern selects nothing would mislead
        if (argv.includes("--format")) expect(() => JSON.parse(r.stdout)).not.toThrow();
      }
    }, 240_000);
  }
});
