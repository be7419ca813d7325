/** `quant quantize --mode dynamic`: default chain, a preset's chain with its quantizer swapped, bad modes. */
import { describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { corpus, hasCorpus } from "../helpers/corpus.ts";
import { quant } from "./helpers.ts";

const out = mkdtempSync(join(tmpdir(), "quant-dynamic-mode-"));

describe.skipIf(!hasCorpus)("quantize --mode dynamic", () => {
  test("default chain; with --preset cnn the static quantizer and calibrator give way to dynamic", () => {
    const a = quant(["quantize", corpus("digits_cnn.onnx"), "--mode", "dynamic", "-o", join(out, "a.onnx"), "--format", "json"]);
    expect(a.code).toBe(0);
    const ra = JSON.parse(a.stdout);
    expect(ra.chain).toEqual(["normalize", "dynamic", "int8", "onnx", "connectivity"]);
    expect(ra.tensors.filter((t: { kind: string; action: string; type: string }) => t.kind === "weight" && t.action === "quantized").every((t: { type: string }) => t.type === "uint8")).toBe(true);
    const b = quant(["quantize", corpus("digits_cnn.onnx"), "--mode", "dynamic", "--preset", "cnn", "-o", join(out, "b.onnx"), "--format", "json"]);
    expect(b.code).toBe(0);
    expect(JSON.parse(b.stdout).chain).toEqual(["normalize", "fold-batchnorm", "fold-conv-affine", "equalize", "dynamic", "int8", "onnx", "connectivity"]);
  }, 60_000);

  test("an unknown mode is a usage error", () => {
    const r = quant(["quantize", corpus("digits_cnn.onnx"), "--mode", "static", "-o", join(out, "c.onnx")]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe("error E_USAGE: --mode must be weights or dynamic (got static)");
  });
});
