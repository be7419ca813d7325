import * as ort from "onnxruntime-node";
import { encodeModelProto, loadModel, runPipeline, serializeModel, GraphBuilder, DataType } from "../src/index.ts";
import weightOnly from "../plugins/quantizers/weight-only.ts";
import int8 from "../plugins/packers/int8.ts";
import { randomFloats } from "../test/helpers/random.ts";
const kind = process.argv[2]!;
const b = new GraphBuilder();
b.input("x", DataType.FLOAT, [2, 8]);
const I = (n: string, v: number[]) => b.initializer(n, DataType.INT64, [v.length], BigInt64Array.from(v.map(BigInt)));
let w = "";
if (kind === "squeeze") { b.initializer("W", DataType.FLOAT, [1, 8, 16], randomFloats(128, 1)); w = b.node("Squeeze", ["W"]); }
if (kind === "flatten") { b.initializer("W", DataType.FLOAT, [8, 2, 8], randomFloats(128, 1)); w = b.node("Flatten", ["W"], { axis: 1 }); }
if (kind === "unsq") { b.initializer("W", DataType.FLOAT, [8, 16], randomFloats(128, 1)); I("a", [0]); w = b.node("Squeeze", [b.node("Unsqueeze", ["W", "a"]), "a"]); }
if (kind === "slicet") { b.initializer("W", DataType.FLOAT, [20, 8], randomFloats(160, 1)); I("s", [0]); I("e", [16]); w = b.node("Transpose", [b.node("Slice", ["W", "s", "e"])]); }
if (kind === "gatherT") { b.initializer("W", DataType.FLOAT, [2, 16, 8], randomFloats(256, 1)); b.initializer("k", DataType.INT64, [], BigInt64Array.of(1n)); w = b.node("Transpose", [b.node("Gather", ["W", "k"])]); }
if (kind === "reshapeT") { b.initializer("W", DataType.FLOAT, [128], randomFloats(128, 1)); I("sh", [16, 8]); w = b.node("Transpose", [b.node("Reshape", ["W", "sh"])]); }
b.node("MatMul", ["x", w], {}, ["y"]);
b.output("y", DataType.FLOAT, [2, 16]);
const bytes = encodeModelProto(b.model({ opset: 13 }));
const r = await runPipeline({ model: loadModel(bytes), plugins: [weightOnly(), int8()], options: { perChannel: true } as any });
console.log(kind, r.entries.filter((e) => e.action === "quantized").map((e) => e.granularity + " via " + e.via).join());
const s = await ort.InferenceSession.create(serializeModel(r.model), { graphOptimizationLevel: "all" });
console.log("ok", kind);
