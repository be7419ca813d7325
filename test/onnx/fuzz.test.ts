/**
 * Fuzzing the loader with corrupted real models: bit flips, cuts at random offsets, and huge length prefixes
 * spliced into real length-delimited fields. loadModel must only ever throw QuantError, and quickly; a model that
 * still loads must also survive `modelInfo` (GraphIndex + weights) without crashing.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { loadModel } from "../../src/onnx/codec.ts";
import { modelInfo } from "../../src/onnx/info.ts";
import { isQuantError } from "../../src/errors/errors.ts";
import { CORPUS_DIR } from "../helpers/corpus.ts";
import { lengthPrefixes, varintBytes } from "../fuzz/bytes.ts";

const models = ["digits_cnn.onnx", "digits_transformer.onnx"].map((f) => ({ name: f, bytes: readFileSync(`${CORPUS_DIR}/${f}`) }));

/** loadModel must return a model or throw a QuantError, within a bounded time. */
function survives(bytes: Uint8Array): void {
  const t0 = performance.now();
  try {
    const m = loadModel(bytes);
    modelInfo(m);
  } catch (e) {
    if (!isQuantError(e)) throw new Error(`non-QuantError thrown: ${(e as Error)?.stack ?? e}`);
  }
  expect(performance.now() - t0).toBeLessThan(2000);
}

/** A length-delimited field. */
function field(id: number, content: Uint8Array): Uint8Array {
  const h = [...varintBytes(id * 8 + 2), ...varintBytes(content.length)];
  const out = new Uint8Array(h.length + content.length);
  out.set(h);
  out.set(content, h.length);
  return out;
}
function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), (at += p.length));
  return out;
}

/** A model whose main graph nests `depth` If nodes, each holding the next graph (hand-encoded: no encoder limit). */
function nestedModel(depth: number): Uint8Array {
  const text = (s: string) => new TextEncoder().encode(s);
  let g: Uint8Array = new Uint8Array(0);
  for (let i = 0; i < depth; i++) g = field(1, cat(field(4, text("If")), field(5, cat(field(1, text("then_branch")), field(6, g)))));
  return cat(new Uint8Array([8, 8]), field(7, g), field(8, new Uint8Array([16, 13])));
}

describe("loader fuzz", () => {
  test("deep subgraph nesting loads up to protobuf's 100-message limit, then E_LOAD_PARSE (no stack overflow)", () => {
    const ok = loadModel(nestedModel(33));
    expect(modelInfo(ok).graphs.count).toBe(34);
    for (const depth of [34, 200, 2000]) {
      try {
        loadModel(nestedModel(depth));
        throw new Error("loaded");
      } catch (e) {
        expect((e as { code?: string }).code).toBe("E_LOAD_PARSE");
      }
    }
  });

  for (const { name, bytes } of models) {
    const prefixes = lengthPrefixes(bytes);
    test(`${name}: bit flips`, () => {
      fc.assert(
        fc.property(fc.array(fc.tuple(fc.nat(bytes.length - 1), fc.nat(7)), { minLength: 1, maxLength: 16 }), (flips) => {
          const b = new Uint8Array(bytes);
          for (const [pos, bit] of flips) b[pos]! ^= 1 << bit;
          survives(b);
        }),
        { numRuns: 50, seed: 1 },
      );
    });
    test(`${name}: cut at random offsets`, () => {
      fc.assert(
        fc.property(fc.nat(bytes.length - 1), (cut) => survives(bytes.subarray(0, cut))),
        { numRuns: 50, seed: 2 },
      );
    });
    test(`${name}: huge length prefixes`, () => {
      expect(prefixes.length).toBeGreaterThan(50);
      fc.assert(
        fc.property(
          fc.nat(prefixes.length - 1),
          fc.constantFrom(2 ** 31 - 1, 2 ** 32 - 1, 2 ** 35, 2 ** 53, 2 ** 63, 0x7f, 1e6),
          fc.boolean(),
          (i, value, sameWidth) => {
            const { at, width } = prefixes[i]!;
            // Same width keeps the rest of the file aligned (values are capped by the width); otherwise splice in.
            const v = sameWidth ? Math.min(value, 128 ** width - 1) : value;
            const enc = varintBytes(v, sameWidth ? width : 0);
            const b = new Uint8Array(bytes.length - width + enc.length);
            b.set(bytes.subarray(0, at));
            b.set(enc, at);
            b.set(bytes.subarray(at + width), at + enc.length);
            survives(b);
          },
        ),
        { numRuns: 50, seed: 3 },
      );
    });
  }
});
