/**
 * ort-load validator: a model ONNX Runtime loads gets one info diagnostic naming its inputs and outputs; one it
 * refuses (an op no runtime has) gets one error carrying ORT's own first message line; through a run, the staged
 * output already loaded by the kernel is not loaded twice.
 */
import { describe, expect, test } from "bun:test";
import { DataType, GraphBuilder, encodeModelProto, loadModel, runPipeline } from "../../../src/index.ts";
import ortLoad from "../../../plugins/validators/ort-load.ts";
import { checkOrtLoad } from "../../../src/validate/ort-load.ts";
import weightOnly from "../../../plugins/quantizers/weight-only.ts";
import int8 from "../../../plugins/packers/int8.ts";
import { matmulModel, quiet } from "../fixtures.ts";

function unknownOpModel() {
  const b = new GraphBuilder();
  b.input("x", DataType.FLOAT, [1, 4]);
  b.node("NoSuchOpAnywhere", ["x"], {}, ["y"], { name: "bad" });
  b.output("y", DataType.FLOAT, [1, 4]);
  return loadModel(encodeModelProto(b.model({ opset: 13 })));
}

describe("ort-load validator", () => {
  test("a loadable model: one info diagnostic with its input and output counts", async () => {
    const d = await checkOrtLoad(loadModel(matmulModel(4, 2).bytes), "m.onnx");
    expect(d).toHaveLength(1);
    expect([d[0]!.level, d[0]!.code, d[0]!.target]).toEqual(["info", "ort-load", "m.onnx"]);
    expect(d[0]!.message).toMatch(/^loads in onnxruntime-node \(1 input\(s\), 1 output\(s\), \d+ ms\)$/);
    expect(d[0]!.metrics!.ms).toBeGreaterThanOrEqual(0);
  });

  test("a model ORT refuses: one error with ORT's first line, naming the op", async () => {
    const d = await checkOrtLoad(unknownOpModel());
    expect(d.map((x) => [x.level, x.code])).toEqual([["error", "ort-load"]]);
    expect(d[0]!.message).toStartWith("onnxruntime-node cannot load the model: ");
    expect(d[0]!.message).toContain("NoSuchOpAnywhere");
    expect(d[0]!.message).not.toContain("\n");
  });

  test("in a run: the quantized model loads, reported once", async () => {
    const r = await runPipeline({ model: matmulModel(16, 8).bytes, plugins: [weightOnly({ sensitivity: false }), int8(), ortLoad()], write: false, logger: quiet });
    const mine = r.diagnostics.filter((d) => d.code === "ort-load");
    expect(mine.map((d) => d.level)).toEqual(["info"]);
    expect(mine[0]!.message).toMatch(/^loads in onnxruntime-node \(1 input\(s\), 1 output\(s\)/);
  });
});
