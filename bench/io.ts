/**
 * Model I/O benchmark: load + save time and peak RSS, each case in its own `bun` child process so the peak RSS
 * (process.resourceUsage().maxRSS) belongs to that case alone.
 *
 *   bun bench/io.ts            # resnet18 + a synthetic model over 2 GiB (needs ~5 GB of free disk in the tmp dir)
 *   bun bench/io.ts --small    # resnet18 only
 *
 * Cases:
 * - floor: a child that only imports the codec (the process's own RSS, for reference);
 * - resnet18, protobufjs: load, then encode with protobufjs into one buffer and write it (the baseline, no fsync);
 * - resnet18, saveModel: load, then saveModel (inline, chunked: weights written straight from the mapped file,
 *   temp file + fsync + rename);
 * - synthetic: a chain of 9 MatMuls with 8192×8192 fp32 weights (2.25 GiB) in external data, built by writing
 *   the data file chunk by chunk (never held in memory); the child loads it and saves it to another path.
 *   Requirement: peak RSS of that child < half the model's size.
 */
import { spawnSync } from "node:child_process";
import { closeSync, fstatSync, mkdirSync, openSync, readSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadModel, saveModel } from "../src/onnx/codec.ts";
import { encodeModelProto } from "../src/onnx/proto.ts";
import { encodeModelChunks } from "../src/onnx/encode-chunks.ts";
import { GraphBuilder } from "../src/onnx/builder.ts";
import { externalRef } from "../src/onnx/external.ts";
import { formatBytes } from "../src/onnx/info.ts";
import { DataType } from "../src/tensor/dtypes.ts";
import { CORPUS_DIR } from "../test/helpers/corpus.ts";

const RESNET = `${CORPUS_DIR}/resnet18.onnx`;
const N = 8192; // 8192² fp32 = 256 MiB per weight
const LAYERS = 9; // 2.25 GiB in all

interface Result {
  encodeMedianMs?: number;
  loadMs?: number;
  loadMedianMs?: number;
  saveMs?: number;
  saveMedianMs?: number;
  maxRssBytes: number;
  wallMs?: number;
  note?: string;
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
const now = () => performance.now();
const rss = () => process.resourceUsage().maxRSS * 1024; // Linux reports KiB

/** Child side: run one case and print its Result as JSON on the last line. */
function child(kind: string, args: string[]): void {
  const out: Result = { maxRssBytes: 0 };
  if (kind === "floor") {
    // Nothing but the imports above.
  } else if (kind === "resnet-save" || kind === "resnet-protobufjs") {
    const [src, dst] = args as [string, string];
    const loads: number[] = [];
    let model = loadModel(src);
    for (let i = 0; i < 5; i++) {
      const t = now();
      model = loadModel(src);
      loads.push(now() - t);
    }
    const encodes: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = now();
      if (kind === "resnet-save") encodeModelChunks(model.proto);
      else encodeModelProto(model.proto);
      encodes.push(now() - t);
    }
    const saves: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = now();
      if (kind === "resnet-save") saveModel(model, dst);
      else writeFileSync(dst, encodeModelProto(model.proto));
      saves.push(now() - t);
    }
    out.encodeMedianMs = median(encodes);
    out.loadMedianMs = median(loads);
    out.saveMedianMs = median(saves);
  } else if (kind === "resnet-once") {
    // One load + one save, the way a CLI run does it (first call pays protobufjs' code generation).
    const [src, dst] = args as [string, string];
    let t = now();
    const model = loadModel(src);
    out.loadMs = now() - t;
    t = now();
    saveModel(model, dst);
    out.saveMs = now() - t;
  } else if (kind === "big") {
    const [src, dst] = args as [string, string];
    let t = now();
    const model = loadModel(src);
    out.loadMs = now() - t;
    t = now();
    const r = saveModel(model, dst);
    out.saveMs = now() - t;
    out.note = `${formatBytes(r.bytes)} .onnx + ${formatBytes(r.dataBytes)} .data`;
  } else throw new Error(`unknown case ${kind}`);
  out.maxRssBytes = rss();
  console.log(JSON.stringify(out));
}

/** Parent side: run a case in a fresh `bun` process. */
function measure(kind: string, ...args: string[]): Result {
  const t = now();
  const p = spawnSync(process.execPath, [import.meta.path, "--child", kind, ...args], { encoding: "utf8", maxBuffer: 1 << 24 });
  const wallMs = now() - t;
  if (p.status !== 0) throw new Error(`case ${kind} failed (${p.status}):\n${p.stderr}`);
  const last = p.stdout.trim().split("\n").at(-1)!;
  return { ...(JSON.parse(last) as Result), wallMs };
}

/** Write the synthetic model: the .data file chunk by chunk (16 MiB at a time), then the small .onnx. */
function buildBig(dir: string): { path: string; bytes: number } {
  const path = join(dir, "big.onnx");
  const location = "big.onnx.data";
  const chunk = new Float32Array(4 << 20); // 16 MiB
  for (let i = 0; i < chunk.length; i++) chunk[i] = (((i * 2654435761) >>> 0) / 2 ** 32 - 0.5) / N;
  const fd = openSync(join(dir, location), "w");
  const weightBytes = N * N * 4;
  let offset = 0;
  try {
    for (let l = 0; l < LAYERS; l++) {
      for (let done = 0; done < weightBytes; done += chunk.byteLength) {
        chunk[0] = l + done / weightBytes; // make every chunk differ
        writeSync(fd, new Uint8Array(chunk.buffer, 0, Math.min(chunk.byteLength, weightBytes - done)));
      }
    }
  } finally {
    closeSync(fd);
  }
  const b = new GraphBuilder("big");
  let v = b.input("x", DataType.FLOAT, [1, N]);
  for (let l = 0; l < LAYERS; l++) {
    b.graph.initializer!.push({
      name: `W${l}`,
      dims: [N, N],
      data_type: DataType.FLOAT,
      data_location: 1,
      external_data: [
        { key: "location", value: location },
        { key: "offset", value: String(offset) },
        { key: "length", value: String(weightBytes) },
      ],
    });
    offset += weightBytes;
    v = b.node("MatMul", [v, `W${l}`], {}, [l === LAYERS - 1 ? "y" : `h${l}`]);
  }
  b.output("y", DataType.FLOAT, [1, N]);
  writeFileSync(path, encodeModelProto(b.model({ opset: 13 })));
  return { path, bytes: offset + statSync(path).size };
}

/** Compare a few windows of every weight between the source and the saved model. */
function verifyBig(src: string, dst: string): boolean {
  const a = loadModel(src);
  const b = loadModel(dst);
  const win = new Uint8Array(1 << 20);
  const win2 = new Uint8Array(1 << 20);
  const ta = a.proto.graph!.initializer!;
  const tb = b.proto.graph!.initializer!;
  const fa = openSync(`${src}.data`, "r");
  const fb = openSync(join(dst, "..", externalRef(tb[0]!).location), "r");
  try {
    for (let i = 0; i < ta.length; i++) {
      const ra = externalRef(ta[i]!);
      const rb = externalRef(tb[i]!);
      if (ra.length !== rb.length) return false;
      for (const at of [0, ra.length >> 1, ra.length - win.length]) {
        readSync(fa, win, 0, win.length, ra.offset + at);
        readSync(fb, win2, 0, win2.length, rb.offset + at);
        if (Buffer.compare(win, win2) !== 0) return false;
      }
    }
    return fstatSync(fb).size >= ta.length * N * N * 4;
  } finally {
    closeSync(fa);
    closeSync(fb);
  }
}

function row(cells: string[], widths: number[]): string {
  return cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
}
const ms = (v?: number) => (v === undefined ? "" : `${v.toFixed(v < 10 ? 1 : 0)} ms`);

function main() {
  const small = process.argv.includes("--small");
  const dir = join(tmpdir(), `quant-bench-io-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const rows: string[][] = [];
  try {
    const floor = measure("floor");
    rows.push(["process floor (bun + codec import)", "", "", "", formatBytes(floor.maxRssBytes), ms(floor.wallMs), ""]);
    const base = measure("resnet-protobufjs", RESNET, join(dir, "r18-pbjs.onnx"));
    rows.push(["resnet18 46 MB, protobufjs encode + write", ms(base.loadMedianMs), ms(base.encodeMedianMs), ms(base.saveMedianMs), formatBytes(base.maxRssBytes), "", "baseline"]);
    const ours = measure("resnet-save", RESNET, join(dir, "r18.onnx"));
    rows.push([
      "resnet18 46 MB, saveModel (chunked)",
      ms(ours.loadMedianMs),
      ms(ours.encodeMedianMs),
      ms(ours.saveMedianMs),
      formatBytes(ours.maxRssBytes),
      "",
      `encode ${(base.encodeMedianMs! / ours.encodeMedianMs!).toFixed(0)}× faster; save includes fsync`,
    ]);
    const once = measure("resnet-once", RESNET, join(dir, "r18-once.onnx"));
    rows.push(["resnet18, one load + save (fresh process)", ms(once.loadMs), "", ms(once.saveMs), formatBytes(once.maxRssBytes), ms(once.wallMs), "wall = whole process"]);
    if (!small) {
      const t = now();
      const big = buildBig(dir);
      const buildMs = now() - t;
      const r = measure("big", big.path, join(dir, "out", "big-copy.onnx"));
      const ok = verifyBig(big.path, join(dir, "out", "big-copy.onnx"));
      const limit = big.bytes / 2;
      rows.push([
        `synthetic ${formatBytes(big.bytes)} external (built in ${(buildMs / 1000).toFixed(1)} s)`,
        ms(r.loadMs),
        "",
        ms(r.saveMs),
        formatBytes(r.maxRssBytes),
        ms(r.wallMs),
        `${r.maxRssBytes < limit ? "OK" : "OVER"}: limit ${formatBytes(limit)}; copy ${ok ? "verified" : "DIFFERS"}; ${r.note}`,
      ]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const head = ["case", "load", "encode", "save", "peak RSS", "wall", "note"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  widths[6] = 0;
  console.log(row(head, widths));
  for (const r of rows) console.log(row(r, widths));
  console.log("\nresnet18 rows 2-3: medians of 5 in one process after a warm-up load; save = encode + write (+ fsync for saveModel). Peak RSS per child process.");
}

if (process.argv[2] === "--child") child(process.argv[3]!, process.argv.slice(4));
else main();
