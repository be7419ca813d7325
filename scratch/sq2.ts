import * as ort from "onnxruntime-node";
import { readFileSync } from "node:fs";
import { decodeModelProto, sqnrDb } from "../src/index.ts";
const [a, b] = process.argv.slice(2);
const feeds = { ids: new ort.Tensor("int64", BigInt64Array.from({ length: 16 }, (_, i) => BigInt((i * 389 + 7) % 2000)), [2, 8]) };
const run = async (p: string) => { const s = await ort.InferenceSession.create(p); const o = await s.run(feeds); return s.outputNames.map((n) => o[n]!.data as Float32Array); };
const r = await run(a!), q = await run(b!);
console.log(r.map((x, i) => sqnrDb(x, q[i]!).toFixed(1)).join(","));
