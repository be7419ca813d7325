/**
 * IR < 4 models list every initializer as a graph input too. Quantizing such a weight replaces the initializer by a
 * DequantizeLinear output, so its input entry must go as well (found by the long fuzz mode: the value was then both
 * a graph input and a node output, an output that does not load). Since the output's IR is ≥ 7, every initializer
 * of an IR < 4 model is treated as a constant on load and leaves the input list (the small unquantized one too).
 */
import { describe, expect, test } from "bun:test";
import * as ort from "onnxruntime-node";
import { resolveChain } from "../../src/config/resolve.ts";
import { runPipeline } from "../../src/pipeline/pipeline.ts";
import { encodeModelProto } from "../../src/onnx/proto.ts";
import { valueInfo } from "../../src/onnx/builder.ts";
import { loadModel } from "../../src/onnx/codec.ts";
import { DataType } from "../../src/tensor/dtypes.ts";
import { sqnrDb } from "../../src/tensor/metrics.ts";
import { chainModel } from "../onnx/fixtures.ts";
import { builtinPlugins } from "../../plugins/registry.ts";

function legacyChain(): Uint8Array {
  const m = chainModel(3, 32);
  m.ir_version = 3;
  for (const t of m.graph!.initializer!) m.graph!.input!.push(valueInfo(t.name!, DataType.FLOAT, t.dims!.map(Number)));
  return encodeModelProto(m);
}

async function run(model: Uint8Array, x: Float32Array): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(model, { logSeverityLevel: 3 });
  try {
    return (await s.run({ x: new ort.Tensor("float32", x, [2, 32]) })).y!.data as Float32Array;
  } finally {
    await s.release();
  }
}

describe("IR 3 models (initializers are also graph inputs)", () => {
  const bytes = legacyChain();
  const x = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i * 0.7));
  for (const [label, options] of [
    ["INT8 per-channel", { perChannel: true }],
    ["INT8 → opset 21", { opset: 21 }],
    ["INT4 block 32", { bits: 4 as const, blockSize: 32 }],
  ] as const) {
    test(`${label}: the weights leave the input list, the model runs in ONNX Runtime and matches`, async () => {
      const plugins = await resolveChain(["normalize", ["weight-only", { sensitivity: false }], "int8"], { registry: builtinPlugins });
      const res = await runPipeline({ model: loadModel(bytes), plugins, options, write: false });
      const g = res.model.proto.graph!;
      expect(g.input!.map((v) => v.name)).toEqual(["x"]);
      expect(g.initializer!.map((t) => t.name)).toContain("tiny");
      const out = encodeModelProto(res.model.proto);
      loadModel(out); // the structural checks pass: no value both fed and produced
      const db = sqnrDb(await run(bytes, x), await run(out, x));
      expect(db).toBeGreaterThan(label.startsWith("INT4") ? 12 : 30);
    });
  }
});
