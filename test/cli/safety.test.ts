/**
 * Issue 9 as a user meets it on the command line: inputs are judged by content hash before and after, outputs by
 * what is on disk (hashes, temp listings), never by path text.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, linkSync, mkdirSync, readdirSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DataType, GraphBuilder, encodeModelProto, loadModel, writeNpy } from "../../src/index.ts";
import { hashFile, savedChain, temps, tmp } from "../pipeline/safety-helpers.ts";
import { quant } from "./helpers.ts";
import { corpus, hasCorpus } from "../helpers/corpus.ts";

const codeLine = (r: { stderr: string }) => /error (E_[A-Z_]+)/.exec(r.stderr)?.[1] ?? "";
const dataFiles = (dir: string) => readdirSync(dir).filter((n) => n.endsWith(".data")).sort();

describe("symlink escape (quantize and info)", () => {
  test("external data symlinked to a file outside the folder: refused, nothing written, target never copied", () => {
    const outside = tmp();
    const secret = join(outside, "secret.txt");
    writeFileSync(secret, "root:x:0:0:root:/root:/bin/bash\n".repeat(2000));
    const dir = tmp();
    const { model } = savedChain(dir, "m.onnx", "weights.data");
    unlinkSync(join(dir, "weights.data"));
    symlinkSync(secret, join(dir, "weights.data"));
    const q = quant(["quantize", model, "-o", join(dir, "q.onnx")]);
    expect(q.code).toBe(1);
    expect(codeLine(q)).toBe("E_LOAD_EXTERNAL_PATH");
    expect(readdirSync(dir).sort()).toEqual(["m.onnx", "weights.data"]);
    const info = quant(["info", model]);
    expect(info.code).toBe(1);
    expect(codeLine(info)).toBe("E_LOAD_EXTERNAL_PATH");
    expect(info.stdout).not.toContain("root:x");
  });
});

describe("inputs are never destroyed", () => {
  /** Input folder `in/` with m.onnx + m.data, and `alias` → in. */
  function setup() {
    const dir = tmp();
    const { model, data } = savedChain(join(dir, "in"), "m.onnx", "m.data");
    symlinkSync(join(dir, "in"), join(dir, "alias"));
    mkdirSync(join(dir, "work"));
    return { dir, model, data: data!, hashes: () => [hashFile(model), hashFile(data!)] };
  }

  test("-o alias/model.onnx (alias → the input's folder), for quantize and calibrate, and -o ../alias/model.onnx", () => {
    const s = setup();
    const before = s.hashes();
    for (const cmd of ["quantize", "calibrate"]) {
      const r = quant([cmd, s.model, "-o", join(s.dir, "alias", "m.onnx"), "--quiet"]);
      expect([cmd, r.code, codeLine(r)]).toEqual([cmd, 1, "E_OUTPUT_IS_INPUT"]);
    }
    const rel = quant(["quantize", "../in/m.onnx", "-o", "../alias/m.onnx"], join(s.dir, "work"));
    expect([rel.code, codeLine(rel)]).toEqual([1, "E_OUTPUT_IS_INPUT"]);
    expect(s.hashes()).toEqual(before);
    expect(temps(join(s.dir, "in"))).toEqual([]);
  });

  test("-o onto the input's external data file, and onto a hard link of the input or of its data", () => {
    const s = setup();
    const before = s.hashes();
    linkSync(s.model, join(s.dir, "hard.onnx"));
    linkSync(s.data, join(s.dir, "hard.data"));
    for (const out of [join(s.dir, "in", "m.data"), join(s.dir, "alias", "m.data"), join(s.dir, "hard.onnx"), join(s.dir, "hard.data")]) {
      const r = quant(["quantize", s.model, "-o", out]);
      expect([out, r.code, codeLine(r)]).toEqual([out, 1, "E_OUTPUT_IS_INPUT"]);
    }
    expect(s.hashes()).toEqual(before);
  });

  test("--stats-out onto the input model (through the alias) or onto the calibration data file is refused", () => {
    const s = setup();
    const npy = join(s.dir, "calib.npy");
    writeNpy(npy, new Float32Array(4 * 64).map((_, i) => Math.sin(i)), [4, 64]);
    const before = [...s.hashes(), hashFile(npy)];
    for (const statsOut of [join(s.dir, "alias", "m.onnx"), npy]) {
      const r = quant(["calibrate", s.model, "--data", npy, "-o", join(s.dir, "q.onnx"), "--stats-out", statsOut]);
      expect([statsOut, r.code, codeLine(r)]).toEqual([statsOut, 1, "E_OUTPUT_IS_INPUT"]);
    }
    expect([...s.hashes(), hashFile(npy)]).toEqual(before);
    expect(existsSync(join(s.dir, "q.onnx"))).toBe(false);
  });

  test("-o ext/b.onnx --external-data when the input's data file is b.onnx.data: the input's data is untouched", () => {
    const dir = tmp();
    const { model, data } = savedChain(dir, "a.onnx", "b.onnx.data");
    const before = [hashFile(model), hashFile(data!)];
    const r = quant(["quantize", model, "-o", join(dir, "b.onnx"), "--external-data", "--quiet"]);
    expect(r.code).toBe(0);
    expect([hashFile(model), hashFile(data!)]).toEqual(before);
    // Both models load with their own data.
    const a = loadModel(model);
    const b = loadModel(join(dir, "b.onnx"));
    expect(b.external!.ids()).not.toEqual(a.external!.ids());
    a.external!.close();
    b.external!.close();
  });
});

describe("a failed run never replaces an existing output", () => {
  test("dangling model over a good output, and a fidelity validator at minSqnrDb 200: old output byte-identical, no temps", () => {
    const dir = tmp();
    const { model } = savedChain(dir);
    const good = join(dir, "good.onnx");
    expect(quant(["quantize", model, "-o", good, "--quiet"]).code).toBe(0);
    const before = hashFile(good);
    // A model whose graph output nothing produces: loads, but its output cannot.
    const b = new GraphBuilder("dangling");
    const x = b.input("x", DataType.FLOAT, [1, 8]);
    b.initializer("w", DataType.FLOAT, [8, 4], new Float32Array(32).fill(0.5));
    b.node("MatMul", [x, "w"], {}, ["y"], { name: "mm" });
    b.output("y", DataType.FLOAT, [1, 4]);
    b.output("nowhere", DataType.FLOAT, [1, 4]);
    writeFileSync(join(dir, "dangling.onnx"), encodeModelProto(b.model({ opset: 13 })));
    const d = quant(["quantize", join(dir, "dangling.onnx"), "-o", good]);
    expect([d.code, codeLine(d)]).toEqual([1, "E_EXPORT_INVALID"]);
    const d2 = quant(["quantize", join(dir, "dangling.onnx"), "-o", good, "--no-ort-check"]);
    expect([d2.code, codeLine(d2)]).toEqual([1, "E_VALIDATE"]);
    writeFileSync(join(dir, "strict.json"), JSON.stringify({ plugins: ["normalize", "weight-only", "int8", "onnx", ["fidelity", { minSqnrDb: 200 }]] }));
    for (const ext of [[], ["--external-data"]]) {
      const f = quant(["quantize", model, "-o", good, "--config", join(dir, "strict.json"), ...ext]);
      expect([f.code, codeLine(f)]).toEqual([1, "E_VALIDATE"]);
      expect(f.stderr).toContain("below the required 200 dB");
    }
    expect(hashFile(good)).toBe(before);
    expect(readdirSync(dir).sort()).toEqual(["dangling.onnx", "good.onnx", "m.onnx", "strict.json"]);
  });
});

describe("model and external data never disagree", () => {
  test("kill -9 between placing the data and renaming the model: the old pair stays whole; the next run cleans up", () => {
    const dir = tmp();
    const { model } = savedChain(dir);
    const out = join(dir, "q.onnx");
    expect(quant(["quantize", model, "-o", out, "--external-data", "--quiet"]).code).toBe(0);
    const old = { model: hashFile(out), data: dataFiles(dir) };
    expect(old.data).toHaveLength(1);
    const oldOutput = loadModel(out);
    oldOutput.external!.close();

    for (const point of ["before-publish", "after-model-rename"]) {
      const p = Bun.spawnSync([process.execPath, join(import.meta.dir, "../../src/cli/main.ts"), "quantize", model, "-o", out, "--external-data", "--bits", "4", "--block-size", "32", "--quiet"], {
        env: { ...process.env, QUANT_TEST_FAIL_AT: point },
      });
      expect(p.signalCode).toBe("SIGKILL");
      // Whatever the reader sees is a consistent pair: the model loads, its data is complete and in place.
      const seen = loadModel(out);
      const location = seen.external!.ids().length;
      expect(location).toBe(1);
      seen.external!.close();
      if (point === "before-publish") expect(hashFile(out)).toBe(old.model);
      else expect(hashFile(out)).not.toBe(old.model);
    }
    // The next successful write removes the killed runs' temps and unreferenced data generations.
    expect(quant(["quantize", model, "-o", out, "--external-data", "--per-channel", "--quiet"]).code).toBe(0);
    expect(temps(dir)).toEqual([]);
    expect(dataFiles(dir)).toHaveLength(1);
    const final = loadModel(out);
    expect(final.external!.totalBytes()).toBeGreaterThan(0);
    final.external!.close();
  });
});

describe("leaks", () => {
  test("-o onto an existing folder: E_SAVE, no temp copy left", () => {
    const dir = tmp();
    const { model } = savedChain(dir);
    mkdirSync(join(dir, "q.onnx"));
    const r = quant(["quantize", model, "-o", join(dir, "q.onnx")]);
    expect([r.code, codeLine(r)]).toEqual([1, "E_SAVE"]);
    expect(readdirSync(dir).sort()).toEqual(["m.onnx", "q.onnx"]);
    expect(readdirSync(join(dir, "q.onnx"))).toEqual([]);
  });
});

describe("FIFO external data on the command line", () => {
  test("info and quantize refuse a FIFO data file at once", () => {
    const dir = tmp();
    const { model } = savedChain(dir, "m.onnx", "w.data");
    unlinkSync(join(dir, "w.data"));
    Bun.spawnSync(["mkfifo", join(dir, "w.data")]);
    for (const args of [["info", model], ["quantize", model, "-o", join(dir, "q.onnx")]]) {
      const t0 = performance.now();
      const r = quant(args);
      expect([r.code, codeLine(r)]).toEqual([1, "E_LOAD_NOT_FILE"]);
      expect(performance.now() - t0).toBeLessThan(15000);
    }
    expect(existsSync(join(dir, "q.onnx"))).toBe(false);
  });
});

describe.skipIf(!hasCorpus)("FIFO in a calibration image folder", () => {
  test("calibrate refuses it at once with E_DATA_READ naming the file; nothing written", async () => {
    const dir = tmp();
    const imgs = join(dir, "imgs");
    mkdirSync(imgs);
    const sharp = (await import("sharp")).default;
    await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 1, g: 2, b: 3 } } }).png().toFile(join(imgs, "a.png"));
    Bun.spawnSync(["mkfifo", join(imgs, "b.png")]);
    const t0 = performance.now();
    const r = quant(["calibrate", corpus("digits_cnn.onnx"), "--data", imgs, "-o", join(dir, "q.onnx")]);
    expect([r.code, codeLine(r)]).toEqual([1, "E_DATA_READ"]);
    expect(r.stderr).toContain("b.png is a FIFO");
    expect(performance.now() - t0).toBeLessThan(15000);
    expect(readdirSync(dir)).toEqual(["imgs"]);
  });
});
