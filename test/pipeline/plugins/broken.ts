/**
 * User quantizer plugins that corrupt the output on purpose, to prove the kernel never writes a model ONNX Runtime
 * refuses. Imported by tests and named by path in test configs (`["./broken.ts", { kind: "dq" }]`).
 */
import { defineQuantizer, type Model } from "../../../src/index.ts";

/** What to break: `dq` adds a DequantizeLinear (needs opset 10), `unknown` an op ONNX does not have, `types` an Add of float and int64. */
export type Breakage = "dq" | "unknown" | "types";

function f32(v: number): Uint8Array {
  return new Uint8Array(new Float32Array([v]).buffer);
}

/** Insert one bad node (its output unused) into the main graph. */
export function breakModel(model: Model, kind: Breakage): void {
  const g = model.proto.graph!;
  const x = g.input![0]!.name!;
  g.initializer ??= [];
  g.node ??= [];
  if (kind === "dq") {
    g.initializer.push({ name: "bad_q", data_type: 3, dims: [4], raw_data: new Uint8Array([1, 2, 3, 4]) }, { name: "bad_s", data_type: 1, dims: [], raw_data: f32(0.5) });
    g.node.push({ name: "inserted_dq", op_type: "DequantizeLinear", input: ["bad_q", "bad_s"], output: ["bad_dq"] });
  } else if (kind === "unknown") {
    g.node.push({ name: "inserted_foo", op_type: "FooBar", input: [x], output: ["bad_foo"] });
  } else {
    g.initializer.push({ name: "bad_i64", data_type: 7, dims: [1], raw_data: new Uint8Array(8) });
    g.node.push({ name: "inserted_add", op_type: "Add", input: [x, "bad_i64"], output: ["bad_add"] });
  }
}

/** The plugin: quantizes nothing, breaks the model. */
export default function broken(opts: { kind?: Breakage } = {}) {
  return defineQuantizer({
    name: `broken-${opts.kind ?? "dq"}`,
    quantize(model) {
      breakModel(model, opts.kind ?? "dq");
      return { pending: [], entries: [] };
    },
  });
}
