import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatBytes, formatInfo, modelInfo } from "../../src/onnx/info.ts";
import { loadModel, saveModel } from "../../src/onnx/codec.ts";
import { encodeModelProto } from "../../src/onnx/proto.ts";
import { GraphBuilder } from "../../src/onnx/builder.ts";
import { DataType } from "../../src/tensor/dtypes.ts";
import { chainModel, functionModel, ifModel, shadowedModel } from "./fixtures.ts";
import { CORPUS_DIR } from "../helpers/corpus.ts";

describe("modelInfo", () => {
  test("mobilenet_v2: IR, opsets, producer, op counts, io, weights by type and place", () => {
    const info = modelInfo(loadModel(`${CORPUS_DIR}/mobilenet_v2.onnx`));
    expect(info.file).toBe(`${CORPUS_DIR}/mobilenet_v2.onnx`);
    expect(info.irVersion).toBe(7);
    expect(info.opsets).toEqual([{ domain: "ai.onnx", version: 13 }]);
    expect(info.producer).toEqual({ name: "pytorch", version: "1.13.0" });
    expect(info.nodes.total).toBe(209);
    expect(info.nodes.byOp).toEqual({ Constant: 70, Conv: 52, Identity: 39, Clip: 35, Add: 10, GlobalAveragePool: 1, Flatten: 1, Gemm: 1 });
    expect(info.inputs).toEqual([{ name: "input", type: "FLOAT", shape: ["N", 3, 224, 224] }]);
    expect(info.outputs).toEqual([{ name: "logits", type: "FLOAT", shape: ["N", 1000] }]);
    expect(info.weights.count).toBe(137);
    expect(info.weights.byPlace.constant).toEqual({ count: 70, bytes: 280 });
    expect(info.weights.byPlace.initializer.count).toBe(67);
    expect(info.weights.byType).toEqual({ FLOAT: { count: 137, bytes: info.weights.bytes } });
    expect(info.quantized.already).toBe(false);
    expect(JSON.parse(JSON.stringify(info))).toEqual(info); // --format json is plain data
  });

  test("subgraphs, functions, shadowed initializers and external data are accounted for", () => {
    const ifo = modelInfo(ifModel());
    expect(ifo.graphs).toEqual({ count: 3, subgraphs: 2, functions: [] });
    expect(ifo.weights.byPlace).toEqual({
      initializer: { count: 1, bytes: 48 },
      constant: { count: 1, bytes: 12 },
      subgraph: { count: 1, bytes: 48 },
      external: { count: 0, bytes: 0 },
    });
    expect(ifo.inputs.map((i) => [i.name, i.type, i.shape])).toEqual([["x", "FLOAT", [2, 4]], ["cond", "BOOL", []]]);
    const fn = modelInfo(functionModel());
    expect(fn.graphs.functions).toEqual(["local.AffineRelu"]);
    expect(fn.nodes.byOp).toEqual({ "local.AffineRelu": 1, MatMul: 1, Add: 1, Relu: 1 });
    const sh = modelInfo(shadowedModel());
    expect(sh.overridableInitializers).toEqual(["W"]);
    expect(sh.inputs.map((i) => i.name)).toEqual(["x"]);
    expect(sh.weights.shadowed).toEqual({ count: 1, bytes: 48 });
    expect(sh.weights.count).toBe(1);
    const dir = mkdtempSync(join(tmpdir(), "quant-info-"));
    try {
      saveModel(loadModel(encodeModelProto(chainModel(3, 32))), join(dir, "c.onnx"), { externalData: { threshold: 1024 } });
      const ext = modelInfo(loadModel(join(dir, "c.onnx")));
      expect(ext.weights.byPlace.external).toEqual({ count: 3, bytes: 3 * 4096 });
      expect(ext.weights.byPlace.initializer).toEqual({ count: 1, bytes: 128 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("already quantized: Q/DQ ops and integer weights feeding DequantizeLinear", () => {
    const b = new GraphBuilder();
    const x = b.input("x", DataType.FLOAT, [2, 4]);
    b.initializer("Wq", DataType.INT8, [4, 3], new Int8Array(12).fill(3));
    b.initializer("s", DataType.FLOAT, [], new Float32Array([0.1]));
    b.node("DequantizeLinear", ["Wq", "s"], {}, ["W"]);
    b.node("MatMul", [x, "W"], {}, ["y"]);
    b.output("y", DataType.FLOAT, [2, 3]);
    const info = modelInfo(b.model());
    expect(info.quantized).toEqual({ state: "full", already: true, ops: { DequantizeLinear: 1 }, integerWeights: { count: 1, bytes: 12 }, floatWeights: { count: 0, bytes: 0 } });
    expect(formatInfo(info)).toContain("quantized    yes, fully: DequantizeLinear 1, 1 integer weight(s) (12 B)");
  });

  test("formatInfo: one fact per line, aligned", () => {
    const text = formatInfo(modelInfo(loadModel(`${CORPUS_DIR}/squeezenet1_1.onnx`)));
    const lines = text.split("\n");
    expect(lines[0]).toBe(`file         ${CORPUS_DIR}/squeezenet1_1.onnx`);
    expect(lines).toContain("opsets       ai.onnx 13");
    expect(lines).toContain("inputs       input  FLOAT [N, 3, 224, 224]");
    expect(lines).toContain("weights      34 tensors, 4.70 MiB");
    expect(lines).toContain("quantized    no");
    expect(text).toContain("Conv 26");
  });

  test("formatBytes", () => {
    expect([0, 1023, 1024, 1536, 10 * 1024 * 1024, 3 * 2 ** 30].map(formatBytes)).toEqual(["0 B", "1023 B", "1.00 KiB", "1.50 KiB", "10.0 MiB", "3.00 GiB"]);
  });
});
