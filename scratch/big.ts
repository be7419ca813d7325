import { readFileSync } from "node:fs";
import { decodeModelProto } from "../src/index.ts";
const p = decodeModelProto(readFileSync(process.argv[2]!));
const g = p.graph!;
const rows: [number, string, string][] = [];
for (const t of g.initializer ?? []) rows.push([t.raw_data?.byteLength ?? 0, `init ${t.name} dt=${t.data_type} dims=${t.dims}`, ""]);
for (const n of g.node ?? []) if (n.op_type === "Constant") { const t = n.attribute?.[0]?.t; rows.push([t?.raw_data?.byteLength ?? 0, `const ${n.output?.[0]} dt=${t?.data_type} dims=${t?.dims}`, (g.node ?? []).filter((m) => m.input?.includes(n.output![0]!)).map((m) => m.op_type).join(",")]); }
rows.sort((a, b) => b[0] - a[0]);
console.log(rows.slice(0, 12).map((r) => r.join(" ")).join("\n"));
