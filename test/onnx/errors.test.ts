import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadModel } from "../../src/onnx/codec.ts";
import { encodeModelProto, encodeTensorProto } from "../../src/onnx/proto.ts";
import { makeTensor } from "../../src/onnx/tensor-data.ts";
import { QuantError } from "../../src/errors/errors.ts";
import { GraphBuilder } from "../../src/onnx/builder.ts";
import { DataType } from "../../src/tensor/dtypes.ts";
import { ifModel } from "./fixtures.ts";
import { rng } from "./ort.ts";
import { CORPUS_DIR } from "../helpers/corpus.ts";

const dir = mkdtempSync(join(tmpdir(), "quant-err-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cnn = readFileSync(`${CORPUS_DIR}/digits_cnn.onnx`);

/** The QuantError a load throws (fails the test when it throws something else or nothing). */
function loadError(src: string | Uint8Array): QuantError {
  try {
    loadModel(src);
  } catch (e) {
    expect(e).toBeInstanceOf(QuantError);
    return e as QuantError;
  }
  throw new Error("loadModel did not throw");
}

const file = (name: string, bytes: Uint8Array) => {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
};

describe("load errors", () => {
  test("missing file: E_LOAD_MISSING with the file", () => {
    const e = loadError(join(dir, "nope.onnx"));
    expect(e.code).toBe("E_LOAD_MISSING");
    expect(e.site.file).toBe(join(dir, "nope.onnx"));
  });

  test("a folder: E_LOAD_READ", () => {
    expect(loadError(dir).code).toBe("E_LOAD_READ");
  });

  test("empty file and empty bytes: E_LOAD_EMPTY", () => {
    expect(loadError(file("empty.onnx", new Uint8Array(0))).code).toBe("E_LOAD_EMPTY");
    expect(loadError(new Uint8Array(0)).code).toBe("E_LOAD_EMPTY");
  });

  test("truncated file: E_LOAD_PARSE saying truncated", () => {
    for (const cut of [1, 7, 100, 5000, cnn.length >> 1, cnn.length - 1]) {
      const e = loadError(file(`cut${cut}.onnx`, cnn.subarray(0, cut)));
      expect(e.code).toBe("E_LOAD_PARSE");
      expect(e.message).toContain("truncated");
      expect(e.toLine()).not.toContain("\n");
    }
  });

  test("random bytes: E_LOAD_PARSE", () => {
    const r = rng(42);
    for (const n of [16, 1000, 100000]) {
      const e = loadError(Uint8Array.from({ length: n }, () => Math.floor(r() * 256)));
      expect(e.code).toBe("E_LOAD_PARSE");
    }
  });

  test("a protobuf that is not a model (an encoded TensorProto): E_LOAD_NOT_MODEL", () => {
    const t = encodeTensorProto(makeTensor("w", DataType.FLOAT, [4, 3], new Float32Array(12).fill(0.5)));
    expect(loadError(file("tensor.pb", t)).code).toBe("E_LOAD_NOT_MODEL");
    expect(loadError(encodeTensorProto({ name: "i", data_type: DataType.INT64, dims: [3], int64_data: [1, 2, 3] })).code).toBe("E_LOAD_NOT_MODEL");
    // A ModelProto without a graph.
    expect(loadError(encodeModelProto({ ir_version: 8, opset_import: [{ domain: "", version: 13 }] })).code).toBe("E_LOAD_NOT_MODEL");
  });

  test("a value produced twice: E_LOAD_DUPLICATE_NAME naming it", () => {
    const b = new GraphBuilder();
    const x = b.input("x", DataType.FLOAT, [2]);
    b.node("Relu", [x], {}, ["y"]);
    b.node("Neg", [x], {}, ["y"]);
    b.output("y", DataType.FLOAT, [2]);
    const e = loadError(encodeModelProto(b.model()));
    expect(e.code).toBe("E_LOAD_DUPLICATE_NAME");
    expect(e.site.target).toBe("y");
  });

  test("a duplicate inside a subgraph is found too", () => {
    const m = ifModel();
    const then = m.graph!.node![0]!.attribute!.find((a) => a.name === "then_branch")!.g!;
    then.node!.push({ op_type: "Relu", input: ["x"], output: ["then_y"] });
    expect(loadError(encodeModelProto(m)).code).toBe("E_LOAD_DUPLICATE_NAME");
  });

  test("a cycle: E_LOAD_CYCLE", () => {
    const b = new GraphBuilder();
    const x = b.input("x", DataType.FLOAT, [2]);
    b.node("Add", [x, "c"], {}, ["a"], { name: "n_a" });
    b.node("Relu", ["a"], {}, ["c"], { name: "n_c" });
    b.output("c", DataType.FLOAT, [2]);
    expect(loadError(encodeModelProto(b.model())).code).toBe("E_LOAD_CYCLE");
  });

  test("a cycle through a subgraph's outer-scope read: E_LOAD_CYCLE", () => {
    // If's branch reads `late`, which is computed from the If's own output.
    const then = new GraphBuilder("t");
    then.node("Identity", ["late"], {}, ["t_out"]);
    then.output("t_out", DataType.FLOAT, [2]);
    const els = new GraphBuilder("e");
    els.node("Identity", ["x"], {}, ["e_out"]);
    els.output("e_out", DataType.FLOAT, [2]);
    const b = new GraphBuilder();
    b.input("x", DataType.FLOAT, [2]);
    b.input("cond", DataType.BOOL, []);
    b.node("If", ["cond"], { then_branch: then.graph, else_branch: els.graph }, ["y"]);
    b.node("Relu", ["y"], {}, ["late"]);
    b.output("late", DataType.FLOAT, [2]);
    expect(loadError(encodeModelProto(b.model())).code).toBe("E_LOAD_CYCLE");
  });

  test("every message is one line starting with the code", () => {
    const e = loadError(file("junk.onnx", new TextEncoder().encode("\u0007junk\n\nmore junk")));
    expect(e.toLine()).toMatch(/^E_LOAD_[A-Z_]+ .*junk\.onnx: [^\n]+$/);
  });
});
