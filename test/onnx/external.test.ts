import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { loadModel, saveModel, serializeModel } from "../../src/onnx/codec.ts";
import { externalRef, isExternal } from "../../src/onnx/external.ts";
import { encodeModelProto } from "../../src/onnx/proto.ts";
import { tensorFloat32 } from "../../src/onnx/tensor-data.ts";
import type { ModelProto, TensorProto } from "../../src/onnx/types.ts";
import { chainModel } from "./fixtures.ts";
import { expectSameOutputs, randomFeeds, run } from "./ort.ts";

const root = mkdtempSync(join(tmpdir(), "quant-ext-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => {
  const d = join(root, `case${n++}`);
  mkdirSync(d);
  return d;
};
const init = (m: ModelProto, name: string): TensorProto => m.graph!.initializer!.find((t) => t.name === name)!;

/** Save chainModel with external data (threshold 1 KiB) into a fresh folder. */
function savedExternal() {
  const dir = fresh();
  const proto = chainModel(3, 64);
  const bytes = encodeModelProto(proto);
  const path = join(dir, "chain.onnx");
  const r = saveModel(loadModel(bytes), path, { externalData: { threshold: 1024 } });
  return { dir, proto, bytes, path, r };
}

/** A model whose W0 points at `location` (offset/length as given). */
function withLocation(dir: string, location: string, offset = 0, length = 64 * 64 * 4) {
  const proto = chainModel(3, 64);
  const w = init(proto, "W0");
  delete w.raw_data;
  w.data_location = 1;
  w.external_data = [
    { key: "location", value: location },
    { key: "offset", value: String(offset) },
    { key: "length", value: String(length) },
  ];
  const path = join(dir, "m.onnx");
  writeFileSync(path, encodeModelProto(proto));
  return path;
}

const code = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return "no error";
};

describe("external data", () => {
  test("save with a threshold: big tensors go to one aligned data file, small stay inline", () => {
    const { path, r, proto } = savedExternal();
    // Content-addressed name: <model>.<16 hex of the data's SHA-256>.data (model and data never disagree).
    expect(r.dataFile).toMatch(new RegExp(`^${path.replace(/[.]/g, "\\.")}\\.[0-9a-f]{16}\\.data$`));
    const m = loadModel(path);
    for (const name of ["W0", "W1", "W2"]) {
      const t = init(m.proto, name);
      expect(isExternal(t)).toBe(true);
      const ref = externalRef(t);
      expect(ref.location).toBe(basename(r.dataFile!));
      expect(ref.length).toBe(64 * 64 * 4);
      expect(ref.offset % 64).toBe(0);
      expect(t.raw_data).toBeUndefined();
      // Lazy read gives the original values.
      expect(tensorFloat32(m, t)).toEqual(new Float32Array(init(proto, name).raw_data!.slice().buffer));
    }
    expect(isExternal(init(m.proto, "tiny"))).toBe(false);
    expect(init(m.proto, "tiny").raw_data!.byteLength).toBe(256);
    expect(statSync(r.dataFile!).size).toBe(r.dataBytes);
    expect(r.dataBytes).toBeGreaterThanOrEqual(3 * 64 * 64 * 4);
    // The .onnx file holds only the small parts.
    expect(statSync(path).size).toBeLessThan(2048);
  });

  test("reloaded model gives identical ORT outputs; inline re-save is byte-identical to the original", async () => {
    const { bytes, path, dir, proto, r: first } = savedExternal();
    const feeds = randomFeeds(proto, 5);
    const expected = await run(bytes, feeds);
    expectSameOutputs(expected, await run(path, feeds));
    const m = loadModel(path);
    expect(Buffer.compare(Buffer.from(serializeModel(m)), Buffer.from(bytes))).toBe(0);
    const inline = join(dir, "inline.onnx");
    const r = saveModel(m, inline, { externalData: false });
    expect(r.dataBytes).toBe(0);
    expect(Buffer.compare(readFileSync(inline), Buffer.from(bytes))).toBe(0);
    // Saving did not change the in-memory model: it still points at its external file.
    expect(isExternal(init(m.proto, "W0"))).toBe(true);
    // Default save of an external model keeps external data (streamed from the old file to the new one).
    const again = join(dir, "sub", "again.onnx");
    const r2 = saveModel(m, again);
    // Same tensors, same bytes: the same content-addressed name as the first save, in the new folder.
    expect(r2.dataFile).toBe(join(dir, "sub", `again.onnx.${basename(first.dataFile!).split(".").at(-2)}.data`));
    expectSameOutputs(expected, await run(again, feeds));
  });

  test("a location escaping the model folder is refused: E_LOAD_EXTERNAL_PATH", () => {
    const dir = fresh();
    writeFileSync(join(root, "outside.bin"), new Uint8Array(64 * 64 * 4));
    expect(code(() => loadModel(withLocation(dir, "../outside.bin")))).toBe("E_LOAD_EXTERNAL_PATH");
    expect(code(() => loadModel(withLocation(dir, "sub/../../outside.bin")))).toBe("E_LOAD_EXTERNAL_PATH");
    expect(code(() => loadModel(withLocation(dir, join(root, "outside.bin"))))).toBe("E_LOAD_EXTERNAL_PATH");
    expect(code(() => loadModel(withLocation(dir, "")))).toBe("E_LOAD_EXTERNAL_PATH");
  });

  test("a missing data file: E_LOAD_EXTERNAL_MISSING", () => {
    const dir = fresh();
    expect(code(() => loadModel(withLocation(dir, "nowhere.bin")))).toBe("E_LOAD_EXTERNAL_MISSING");
  });

  test("a data file shorter than offset + length: E_LOAD_EXTERNAL_RANGE", () => {
    const { path, r } = savedExternal();
    truncateSync(r.dataFile!, 64 * 64 * 4 + 100);
    expect(code(() => loadModel(path))).toBe("E_LOAD_EXTERNAL_RANGE");
    const dir = fresh();
    writeFileSync(join(dir, "w.bin"), new Uint8Array(1000));
    expect(code(() => loadModel(withLocation(dir, "w.bin", 500, 600)))).toBe("E_LOAD_EXTERNAL_RANGE");
    expect(code(() => loadModel(withLocation(dir, "w.bin", -1, 10)))).toBe("E_LOAD_EXTERNAL_RANGE");
  });

  test("NaN lengths and absurd dims are range errors, not crashes", () => {
    const dir = fresh();
    writeFileSync(join(dir, "w.bin"), new Uint8Array(1000));
    const path = withLocation(dir, "w.bin");
    const m = loadModel(path, { check: false }).proto;
    const w = init(m, "W0");
    w.external_data = [{ key: "location", value: "w.bin" }, { key: "length", value: "NaN" }];
    writeFileSync(path, encodeModelProto(m));
    expect(code(() => loadModel(path))).toBe("E_LOAD_EXTERNAL_RANGE");
    w.external_data = [{ key: "location", value: "w.bin" }]; // length from dims
    w.dims = [2 ** 40, 2 ** 40];
    writeFileSync(path, encodeModelProto(m));
    expect(code(() => loadModel(path))).toBe("E_LOAD_EXTERNAL_RANGE");
  });

  test("the error names the model file", () => {
    const dir = fresh();
    const path = withLocation(dir, "../x.bin");
    try {
      loadModel(path);
      throw new Error("no error");
    } catch (e) {
      expect((e as { site: { file?: string } }).site.file).toBe(path);
      expect((e as Error).message).toContain("../x.bin");
    }
  });
});
