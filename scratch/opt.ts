import * as ort from "onnxruntime-node";
import { readFileSync } from "node:fs";
import { decodeModelProto } from "../src/index.ts";
for (const p of process.argv.slice(2)) {
  const out = p + ".opt.onnx";
  await ort.InferenceSession.create(p, { intraOpNumThreads: 1, graphOptimizationLevel: "all", optimizedModelFilePath: out });
  const g = decodeModelProto(readFileSync(out)).graph!;
  const c: Record<string, number> = {};
  for (const n of g.node ?? []) c[n.op_type!] = (c[n.op_type!] ?? 0) + 1;
  console.log(p, JSON.stringify(c));
}
