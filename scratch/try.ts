import * as ort from "onnxruntime-node";
import { encodeModelProto, loadModel, runPipeline, serializeModel, sqnrDb } from "../src/index.ts";
import normalize from "../plugins/passes/normalize.ts";
import weightOnly from "../plugins/quantizers/weight-only.ts";
import int8 from "../plugins/packers/int8.ts";
import int4 from "../plugins/packers/int4.ts";
import { lstmCellModel, recurrentOpModel, embeddingModel } from "../test/quant/recurrent-fixtures.ts";
import { randomFeeds } from "../test/onnx/ort.ts";
async function outs(b: Uint8Array, feeds: any) { const s = await ort.InferenceSession.create(b); const o = await s.run(feeds); return s.outputNames.map((n) => o[n]!.data as Float32Array); }
const models: [string, any][] = [["cell", lstmCellModel()], ["lstm", recurrentOpModel("LSTM", { directions: 2 })], ["gru", recurrentOpModel("GRU")], ["rnn", recurrentOpModel("RNN")], ["emb", embeddingModel()]];
for (const [name, proto] of models) {
  const bytes = encodeModelProto(proto);
  const feeds = randomFeeds(proto, 3);
  if (name === "emb") feeds.ids = new ort.Tensor("int64", BigInt64Array.from({ length: 16 }, (_, i) => BigInt((i * 37) % 1000)), [2, 8]);
  const ref = await outs(bytes, feeds);
  for (const opts of [{ bits: 8, perChannel: true }, { bits: 8 }, { bits: 4, blockSize: 32 }]) {
    const r = await runPipeline({ model: loadModel(bytes), plugins: [normalize(), weightOnly(), int8(), int4()], options: opts as any });
    const q = serializeModel(r.model);
    const o = await outs(q, feeds);
    console.log(name, JSON.stringify(opts), "ratio", (q.byteLength / bytes.byteLength).toFixed(3), "sqnr", o.map((a, i) => sqnrDb(ref[i]!, a).toFixed(1)).join(","),
      r.entries.map((e) => `${e.tensor}:${e.action}:${e.granularity ?? e.reason}${e.via ? ` via ${e.via}` : ""}`).join(" | "));
  }
}
