import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { runCase } from "../test/fuzz/case.ts";
import { makeCase } from "../test/fuzz/mutate.ts";
import { encodeModelProto } from "../src/index.ts";
import { lstmCellModel, recurrentOpModel, embeddingModel } from "../test/quant/recurrent-fixtures.ts";
const seeds = [
  { name: "cell", bytes: encodeModelProto(lstmCellModel({ input: 6, hidden: 8, steps: 2 })) },
  { name: "lstm_torch", bytes: encodeModelProto(recurrentOpModel("LSTM", { input: 6, hidden: 8, steps: 3, torchExport: true })) },
  { name: "gru", bytes: encodeModelProto(recurrentOpModel("GRU", { input: 6, hidden: 8, steps: 3, directions: 2 })) },
  { name: "emb", bytes: encodeModelProto(embeddingModel({ vocab: 40, dim: 8 })) },
];
const scratch = mkdtempSync(join(tmpdir(), "wfz-"));
let shown = 0;
for (let i = 0; i < 1500 && shown < 12; i++) {
  const s = seeds[i % seeds.length]!;
  const c = makeCase(s.name, s.bytes, 11, i);
  if (Object.keys(c.files).length) continue;
  const o = await runCase(c, join(scratch, "x")).catch((e) => "CRASH");
  if (o !== "E_EXPORT_INVALID") continue;
  let inputOk = true;
  try { const ss = await ort.InferenceSession.create(c.model, { logSeverityLevel: 4 }); await ss.release(); } catch { inputOk = false; }
  if (inputOk) { shown++; console.log("INPUT OK BUT OUTPUT INVALID", i, s.name, c.mode, c.mutations.join("; ")); }
}
