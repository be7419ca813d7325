/**
 * File handling judged by identity, not path text (issue 9): symlinks out of the model's folder, non-regular files
 * (FIFOs never block), outputs that are inputs (symlinked folders, hard links), rename failures, stale temps.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, linkSync, lstatSync, mkdirSync, readFileSync, readdirSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { encodeModelProto, loadModel, saveModel, runPipeline } from "../../src/index.ts";
import { writeFileAtomic } from "../../src/io/atomic.ts";
import { listImages, loadImage, resolveImageOptions } from "../../src/data/images.ts";
import { openNpy } from "../../src/data/npy.ts";
import { readStats } from "../../src/runtime/stats.ts";
import weightOnly from "../../plugins/quantizers/weight-only.ts";
import int8 from "../../plugins/packers/int8.ts";
import onnx from "../../plugins/exporters/onnx.ts";
import { hashFile, savedChain, temps, tmp } from "./safety-helpers.ts";

const codeOf = (fn: () => unknown) => {
  try {
    fn();
    return "no error";
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
};

/** A copy of `model` (beside it, named `name`) whose external tensors point at `location`. */
function relocated(model: string, location: string, name: string): string {
  const m = loadModel(model, { check: false });
  for (const t of m.proto.graph!.initializer ?? []) for (const e of t.external_data ?? []) if (e.key === "location") e.value = location;
  const out = join(dirname(model), name);
  writeFileSync(out, encodeModelProto(m.proto));
  return out;
}

function mkfifo(path: string): void {
  const r = Bun.spawnSync(["mkfifo", path]);
  if (r.exitCode !== 0) throw new Error(`mkfifo failed: ${r.stderr}`);
}

describe("external data is read only from regular files inside the model's folder", () => {
  test("a data file that is a symlink out of the folder is refused; its target is never read", () => {
    const secret = join(tmp(), "secret.bin");
    writeFileSync(secret, new Uint8Array(64 * 64 * 4 * 3).fill(7));
    const dir = tmp();
    const { model } = savedChain(dir, "m.onnx", "w.data");
    // Replace the data file by a symlink to the outside file (same size, so only the identity check can catch it).
    const data = join(dir, "w.data");
    Bun.spawnSync(["rm", data]);
    symlinkSync(secret, data);
    let err: { code?: string; message?: string } = {};
    try {
      loadModel(model);
    } catch (e) {
      err = e as typeof err;
    }
    expect(err.code).toBe("E_LOAD_EXTERNAL_PATH");
    expect(err.message).toContain("outside the model's folder");
  });

  test("a symlinked folder on the way out is refused too; a symlink that stays inside is fine", () => {
    const outside = tmp();
    const dir = tmp();
    const { model } = savedChain(join(dir, "real"), "m.onnx", "w.data");
    // sub → a folder outside, holding a copy of the data: the location text "sub/w.data" looks contained.
    savedChain(outside, "x.onnx", "w.data");
    symlinkSync(outside, join(dir, "real", "sub"));
    const escaped = relocated(model, "sub/w.data", "escaped.onnx");
    expect(codeOf(() => loadModel(escaped))).toBe("E_LOAD_EXTERNAL_PATH");
    // Inside: alias.data → w.data in the same folder loads and reads the same bytes.
    symlinkSync("w.data", join(dir, "real", "alias.data"));
    expect(codeOf(() => loadModel(relocated(model, "alias.data", "inside.onnx")))).toBe("no error");
  });

  test("a FIFO as external data or as the model is refused at once (no blocking open)", () => {
    const dir = tmp();
    const { model } = savedChain(dir, "m.onnx", "w.data");
    Bun.spawnSync(["rm", join(dir, "w.data")]);
    mkfifo(join(dir, "w.data"));
    const t0 = performance.now();
    expect(codeOf(() => loadModel(model))).toBe("E_LOAD_NOT_FILE");
    mkfifo(join(dir, "fifo.onnx"));
    expect(codeOf(() => loadModel(join(dir, "fifo.onnx")))).toBe("E_LOAD_NOT_FILE");
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});

describe("calibration files: non-regular files are refused, never opened", () => {
  test("a FIFO named like an image in a calibration folder: E_DATA_READ from the listing, and from a direct load", async () => {
    const dir = tmp();
    const sharp = (await import("sharp")).default;
    await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 10, g: 20, b: 30 } } }).png().toFile(join(dir, "a.png"));
    mkfifo(join(dir, "b.png"));
    const t0 = performance.now();
    expect(codeOf(() => listImages(dir))).toBe("E_DATA_READ");
    const o = resolveImageOptions({ resize: 0, crop: [8, 8] }, [1, 3, 8, 8]);
    const err = await loadImage(join(dir, "b.png"), o, new Float32Array(3 * 64)).catch((e) => e);
    expect(err.code).toBe("E_DATA_READ");
    expect(err.message).toContain("FIFO");
    // The real image still loads (the check does not refuse regular files).
    const px = new Float32Array(3 * 64);
    await loadImage(join(dir, "a.png"), o, px);
    expect(Math.round(px[0]! * 255)).toBe(10);
    expect(performance.now() - t0).toBeLessThan(5000);
  });

  test("a FIFO as .npy data or as a stats file: coded errors, no hang", () => {
    const dir = tmp();
    mkfifo(join(dir, "x.npy"));
    mkfifo(join(dir, "ranges.json"));
    expect(codeOf(() => openNpy(join(dir, "x.npy")))).toBe("E_DATA_READ");
    expect(codeOf(() => readStats(join(dir, "ranges.json")))).toBe("E_CALIB_STATS");
  });
});

describe("outputs never replace inputs (device + inode, not path text)", () => {
  test("saving a model over its own file through a symlinked folder or a hard link is refused; bytes unchanged", () => {
    const dir = tmp();
    const { model, data } = savedChain(join(dir, "in"), "m.onnx", "m.data");
    const before = [hashFile(model), hashFile(data!)];
    symlinkSync(join(dir, "in"), join(dir, "alias"));
    linkSync(model, join(dir, "hard.onnx"));
    linkSync(data!, join(dir, "hard.data"));
    const m = loadModel(model);
    for (const out of [join(dir, "alias", "m.onnx"), join(dir, "hard.onnx"), join(dir, "hard.data"), join(dir, "alias", "m.data")])
      expect(codeOf(() => saveModel(m, out))).toBe("E_OUTPUT_IS_INPUT");
    m.external?.close();
    expect([hashFile(model), hashFile(data!)]).toEqual(before);
    expect(temps(join(dir, "in"))).toEqual([]);
  });

  test("the kernel refuses before any work; a run writing elsewhere in the same folder works", async () => {
    const dir = tmp();
    const { model } = savedChain(join(dir, "in"));
    symlinkSync(join(dir, "in"), join(dir, "alias"));
    const before = hashFile(model);
    const err = await runPipeline({ model, plugins: [weightOnly(), int8(), onnx()], options: { output: join(dir, "alias", "m.onnx") } }).catch((e) => e);
    expect(err.code).toBe("E_OUTPUT_IS_INPUT");
    expect(hashFile(model)).toBe(before);
    const ok = await runPipeline({ model, plugins: [weightOnly(), int8(), onnx()], options: { output: join(dir, "alias", "q.onnx") } });
    expect(ok.artifacts[0]!.path).toBe(join(dir, "alias", "q.onnx"));
    expect(existsSync(join(dir, "in", "q.onnx"))).toBe(true);
    expect(hashFile(model)).toBe(before);
  });
});

describe("temp files", () => {
  test("writing onto a folder fails with E_SAVE and leaves no temp file", () => {
    const dir = tmp();
    mkdirSync(join(dir, "out.onnx"));
    expect(codeOf(() => writeFileAtomic(join(dir, "out.onnx"), "x"))).toBe("E_SAVE");
    const m = loadModel(savedChain(join(dir, "src")).model);
    expect(codeOf(() => saveModel(m, join(dir, "out.onnx")))).toBe("E_SAVE");
    expect(codeOf(() => saveModel(m, join(dir, "out.onnx"), { externalData: true }))).toBe("E_SAVE");
    expect(readdirSync(dir).sort()).toEqual(["out.onnx", "src"]);
  });

  test("temps of dead processes are removed by the next write into the folder; a live process's temps stay", () => {
    const dir = tmp();
    const dead = Bun.spawnSync(["true"]).pid; // exited and reaped: its pid is not alive
    writeFileSync(join(dir, `.q.onnx.tmp-${dead}-abc-0`), "stale");
    writeFileSync(join(dir, `.q.onnx.tmp-${process.ppid}-abc-1`), "live parent");
    writeFileAtomic(join(dir, "other.json"), "{}");
    expect(readdirSync(dir).sort()).toEqual([`.q.onnx.tmp-${process.ppid}-abc-1`, "other.json"]);
  });

  test("older data generations are removed after publishing, except while another live process writes that output", () => {
    const dir = tmp();
    const m = loadModel(savedChain(join(dir, "src")).model);
    const out = join(dir, "q.onnx");
    const orphan = join(dir, "q.onnx.0123456789abcdef.data");
    writeFileSync(orphan, "data a killed writer placed");
    const inflight = join(dir, `.q.onnx.tmp-${process.ppid}-abc-0`); // a live writer's staged model
    writeFileSync(inflight, "");
    const first = saveModel(m, out, { externalData: true });
    expect(existsSync(orphan)).toBe(true);
    unlinkSync(inflight);
    const again = saveModel(m, out, { externalData: true });
    expect(again.dataFile).toBe(first.dataFile);
    expect(existsSync(orphan)).toBe(false);
    expect(readdirSync(dir).sort()).toEqual([basename(first.dataFile!), "q.onnx", "src"].sort());
  });

  test("an output path that is a symlink: the link is replaced by the new file, the file it pointed to is untouched", () => {
    const elsewhere = join(tmp(), "precious.txt");
    writeFileSync(elsewhere, "precious");
    const dir = tmp();
    symlinkSync(elsewhere, join(dir, "q.json"));
    writeFileAtomic(join(dir, "q.json"), "{}");
    expect(hashFile(elsewhere)).toBe(new Bun.CryptoHasher("sha256").update("precious").digest("hex"));
    expect(lstatSync(join(dir, "q.json")).isSymbolicLink()).toBe(false);
    expect(readFileSync(join(dir, "q.json"), "utf8")).toBe("{}");
  });
});
