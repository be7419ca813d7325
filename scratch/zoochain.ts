import { loadModel, findWeights } from "../src/index.ts";
import { readdirSync } from "node:fs";
const dir = "/root/.cache/quant-zoo/models";
for (const f of readdirSync(dir).filter((f) => f.endsWith(".onnx")).sort()) {
  const m = loadModel(`${dir}/${f}`);
  const ws = findWeights(m);
  const chained = ws.filter((w) => w.consumers.some((c) => c.steps.some((s) => s.node.op_type !== "Identity")));
  const ops = new Map<string, number>();
  for (const w of chained) for (const c of w.consumers) ops.set(`${c.steps.map((s) => s.node.op_type).join(">")}>${c.opType}`, (ops.get(`${c.steps.map((s) => s.node.op_type).join(">")}>${c.opType}`) ?? 0) + 1);
  console.log(f, ws.length, "weights;", chained.length, "behind chains", JSON.stringify([...ops]));
}
