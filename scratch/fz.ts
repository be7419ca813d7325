import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
const out = new Map<string, number>();
const t0 = Date.now();
let i = 0;
for (; Date.now() - t0 < Number(process.argv[2] ?? 60) * 1000; i++) {
  const s = seeds[i % seeds.length]!;
  const c = makeCase(s.name, s.bytes, Number(process.env.FZSEED ?? 11), i);
  if (process.argv[3]) console.log("CASE", i, s.name, c.mode, c.mutations.join("; "));
  try {
    const o = await runCase(c, join(scratch, "x"));
    out.set(o, (out.get(o) ?? 0) + 1);
  } catch (e) {
    console.log("CRASH", i, s.name, c.mode, c.mutations.join("; "), (e as Error).message.slice(0, 400));
  }
}
console.log(i, "cases", JSON.stringify([...out]));
