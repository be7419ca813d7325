import * as ort from "onnxruntime-node";
import { readFileSync } from "node:fs";
import { decodeModelProto, sqnrDb } from "../src/index.ts";
import { randomFeeds } from "../test/onnx/ort.ts";
const [ref, ...ps] = process.argv.slice(2);
const feeds = randomFeeds(decodeModelProto(readFileSync(ref!)), 3);
const r0 = await (await ort.InferenceSession.create(ref!)).run(feeds);
for (const p of [ref!, ...ps]) {
  const s = await ort.InferenceSession.create(p, { intraOpNumThreads: 1 });
  for (let i = 0; i < 20; i++) await s.run(feeds);
  const t = performance.now();
  for (let i = 0; i < 300; i++) await s.run(feeds);
  const o = await s.run(feeds);
  console.log(p, ((performance.now() - t) / 300).toFixed(3), "ms", "size", readFileSync(p).byteLength, "sqnr", sqnrDb(r0[s.outputNames[0]!]!.data as Float32Array, o[s.outputNames[0]!]!.data as Float32Array).toFixed(1));
}
