import { afterAll, describe, expect, test } from "bun:test";
import Long from "long";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadModel, saveModel, serializeModel } from "../../src/onnx/codec.ts";
import { decodeModelProto, encodeModelProto } from "../../src/onnx/proto.ts";
import { allTensors } from "../../src/onnx/walk.ts";
import { tensorBytes, tensorFloat32 } from "../../src/onnx/tensor-data.ts";
import { expectSameOutputs, randomFeeds, run } from "./ort.ts";
import * as fx from "./fixtures.ts";
import { CORPUS_DIR } from "../helpers/corpus.ts";

const MODELS = CORPUS_DIR;
const corpus = readdirSync(MODELS).filter((f) => f.endsWith(".onnx")).sort();
const dir = mkdtempSync(join(tmpdir(), "quant-rt-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("corpus round trip", () => {
  test("the corpus has the five models", () => {
    expect(corpus).toEqual(["digits_cnn.onnx", "digits_transformer.onnx", "mobilenet_v2.onnx", "resnet18.onnx", "squeezenet1_1.onnx"]);
  });
  for (const name of corpus) {
    test(`${name}: decode → encode → decode is equal, the save is byte-identical, ORT outputs identical`, async () => {
      const path = join(MODELS, name);
      const model = loadModel(path);
      const again = decodeModelProto(encodeModelProto(model.proto));
      expect(again).toEqual(model.proto);
      // Weights are views into the loaded bytes, not copies.
      for (const s of allTensors(model.proto)) if (s.tensor.raw_data?.byteLength) expect(s.tensor.raw_data.buffer).toBe(model.source!.buffer);
      const out = join(dir, name);
      const r = saveModel(model, out);
      const original = readFileSync(path);
      expect(r.bytes).toBe(original.byteLength);
      expect(Buffer.compare(readFileSync(out), original)).toBe(0);
      expect(Buffer.compare(Buffer.from(serializeModel(model)), original)).toBe(0);
      const feeds = randomFeeds(model.proto, 7);
      expectSameOutputs(await run(path, feeds), await run(out, feeds));
    }, 60_000); // bunfig's [test] timeout is not applied by bun 1.4.5: ORT on resnet18 needs more than 5 s on a busy machine
  }
});

describe("fixture round trip", () => {
  const cases: [string, () => ReturnType<typeof fx.ifModel>, Record<string, unknown>?][] = [
    ["local function", fx.functionModel],
    ["If with outer-scope reads", fx.ifModel],
    ["Loop with a nested If", fx.loopModel],
    ["Constant weights", fx.constantModel],
    ["Identity-shared weights", fx.identityModel],
    ["shadowed initializer", fx.shadowedModel],
    ["sparse initializer", fx.sparseModel],
  ];
  for (const [label, make] of cases) {
    test(`${label}: save, load, equal proto and identical ORT outputs`, async () => {
      const proto = make();
      const bytes = encodeModelProto(proto);
      const out = join(dir, `${label.replace(/\W+/g, "_")}.onnx`);
      saveModel(loadModel(bytes), out);
      const back = loadModel(out);
      expect(back.proto).toEqual(decodeModelProto(bytes));
      expect(Buffer.compare(readFileSync(out), Buffer.from(bytes))).toBe(0);
      const feeds = randomFeeds(proto, 3);
      if ("cond" in feeds) {
        for (const c of [0, 1]) {
          (feeds.cond!.data as Uint8Array)[0] = c;
          expectSameOutputs(await run(bytes, feeds), await run(out, feeds));
        }
      } else expectSameOutputs(await run(bytes, feeds), await run(out, feeds));
    });
  }

  test("sparse initializer keeps values, indices and dims", () => {
    const back = loadModel(encodeModelProto(fx.sparseModel()));
    const sp = back.proto.graph!.sparse_initializer![0]!;
    expect(sp.dims).toEqual([4, 3]);
    // Copy: decoded bytes are Buffer views whose .buffer is the whole source.
    expect(Array.from(new Float32Array(new Uint8Array(sp.values!.raw_data!).buffer))).toEqual([1.5, -2, 0.25]);
    expect(Array.from(new BigInt64Array(new Uint8Array(sp.indices!.raw_data!).buffer))).toEqual([0n, 4n, 11n]);
  });

  test("absent fields read undefined after decoding (no protobufjs prototype defaults)", () => {
    const proto = fx.constantModel();
    proto.graph!.initializer!.push({ name: "typed", data_type: 1, dims: [2], float_data: [1.5, -2] });
    const m = loadModel(encodeModelProto(proto));
    const t = m.proto.graph!.initializer!.find((x) => x.name === "typed")!;
    expect(t.raw_data).toBeUndefined();
    expect(t.data_location).toBeUndefined();
    expect(m.proto.graph!.node![0]!.domain).toBeUndefined();
    expect(m.proto.graph!.node![0]!.attribute![0]!.g).toBeUndefined();
    expect(Array.from(tensorFloat32(m, t))).toEqual([1.5, -2]);
    expect(tensorBytes(m, t)).toEqual(new Uint8Array(new Float32Array([1.5, -2]).buffer));
    const dim = m.proto.graph!.input![0]!.type!.tensor_type!.shape!.dim![0]!;
    expect([dim.dim_value, dim.dim_param]).toEqual([2, undefined]);
  });

  test("int64 values beyond 2^53 survive as Long, small ones become numbers", () => {
    const proto = fx.constantModel();
    proto.model_version = Long.fromString("9007199254740993"); // 2^53 + 1
    proto.graph!.initializer!.push({ name: "big", data_type: 7, dims: [2], int64_data: [Long.fromString("-9223372036854775808"), 5] });
    const m = decodeModelProto(encodeModelProto(proto));
    expect(Long.isLong(m.model_version)).toBe(true);
    expect(m.model_version!.toString()).toBe("9007199254740993");
    const big = m.graph!.initializer!.find((t) => t.name === "big")!;
    expect(big.int64_data!.map(String)).toEqual(["-9223372036854775808", "5"]);
    expect(m.ir_version).toBe(8);
    expect(typeof m.opset_import![0]!.version).toBe("number");
  });
});
