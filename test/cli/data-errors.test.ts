/**
 * Bad calibration data and bad tensors, typed as a user would: each is one coded error line, a non-zero exit and no
 * output — never a quiet fallback with exit 0. Also models with an unused, empty-named initializer, which are legal
 * and must quantize (INT4 block 32 and opset 21 both convert the opset).
 */
import { describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeNpy, npyHeaderBytes, readNpy, writeNpy } from "../../src/data/npy.ts";
import { writeSafetensors } from "../../src/data/safetensors.ts";
import { loadModel, saveModel } from "../../src/onnx/codec.ts";
import { makeTensor } from "../../src/onnx/tensor-data.ts";
import { DataType } from "../../src/tensor/dtypes.ts";
import { corpus, hasCorpus } from "../helpers/corpus.ts";
import { judge } from "../helpers/evaluate.ts";
import { buildZip, concat, tempDir } from "../data/helpers.ts";
import { quant } from "./helpers.ts";

const dir = tempDir("quant-data-errors-");
const model = corpus("digits_cnn.onnx");
const SAMPLE = 32 * 32;

/** Three real samples [3, 1, 32, 32] from the corpus calibration set (written once). */
function three(): Float32Array {
  return (readNpy(corpus("digits_cnn_calib.npy")).data as Float32Array).slice(0, 3 * SAMPLE);
}

/** Run quant, expect a refusal with `code` (exit 1, or 2 for usage errors), the message, and no output file. */
function refused(args: string[], out: string, code: string, message?: RegExp): void {
  const r = quant([...args, "-o", out]);
  expect(r.stderr).toContain(`error ${code}`);
  expect(r.code).toBe(code === "E_USAGE" ? 2 : 1);
  if (message) expect(r.stderr).toMatch(message);
  // One line: the error, nothing else after it (no stack trace without --debug).
  expect(r.stderr.trim().split("\n").filter((l) => l.startsWith("error")).length).toBe(1);
  expect(existsSync(out)).toBe(false);
}

describe.skipIf(!hasCorpus)("bad --data at --bits 4 (sensitivity measurement) is an error, not a silent fallback", () => {
  const x = three();
  const int4 = (data: string) => ["quantize", model, "--bits", "4", "--block-size", "32", "--data", data];

  test("NaN in the data: E_CALIB_NONFINITE naming sample and element", () => {
    const nan = x.slice();
    nan[SAMPLE + 5] = Number.NaN;
    writeNpy(join(dir, "nan.npy"), nan, [3, 1, 32, 32]);
    refused(int4(join(dir, "nan.npy")), join(dir, "nan.onnx"), "E_CALIB_NONFINITE", /sample 1 contains NaN \(element 5\)/);
  });

  test("a corrupt file: E_DATA_FORMAT", () => {
    writeFileSync(join(dir, "corrupt.npy"), "not numpy at all");
    refused(int4(join(dir, "corrupt.npy")), join(dir, "corrupt.onnx"), "E_DATA_FORMAT", /corrupt\.npy: not a \.npy file \(bad magic\)/);
  });

  test("the wrong shape: E_CALIB_SHAPE naming expected and got", () => {
    writeNpy(join(dir, "wrong.npy"), new Float32Array(30), [3, 10]);
    refused(int4(join(dir, "wrong.npy")), join(dir, "wrong.onnx"), "E_CALIB_SHAPE", /expects \[N, 1, 32, 32\].*got \[3, 10\]/);
  });

  test("no samples: E_CALIB_SAMPLES", () => {
    writeNpy(join(dir, "empty.npy"), new Float32Array(0), [0, 1, 32, 32]);
    refused(int4(join(dir, "empty.npy")), join(dir, "empty.onnx"), "E_CALIB_SAMPLES", /no calibration samples \(data has 0\)/);
  });

  test("good data still measures and writes (exit 0)", () => {
    writeNpy(join(dir, "three.npy"), x, [3, 1, 32, 32]);
    const out = join(dir, "good-int4.onnx");
    const r = quant([...int4(join(dir, "three.npy")), "-o", out]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("measuring the output sensitivity of 7 layers at INT4 on up to 4 samples");
    expect(existsSync(out)).toBe(true);
  });
});

describe.skipIf(!hasCorpus)("--samples and --batch-size", () => {
  const data = join(dir, "three-s.npy");
  writeNpy(data, three(), [3, 1, 32, 32]);

  test("--samples 64 with 3 available: E_CALIB_SAMPLES in quantize --bits 4, calibrate and validate", () => {
    const msg = /asked for 64 samples, the data has 3: ask for 3 or for all \(--samples all\)/;
    refused(["quantize", model, "--bits", "4", "--block-size", "32", "--data", data, "--samples", "64"], join(dir, "s64-q.onnx"), "E_CALIB_SAMPLES", msg);
    refused(["calibrate", model, "--data", data, "--samples", "64"], join(dir, "s64-c.onnx"), "E_CALIB_SAMPLES", msg);
    const v = quant(["validate", model, model, "--data", data, "--samples", "64"]);
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(msg);
  });

  test("--samples all takes the 3 there are; --samples 3 too", async () => {
    for (const n of ["all", "3"]) {
      const out = join(dir, `s-${n}.onnx`);
      const r = quant(["calibrate", model, "--data", data, "--samples", n, "-o", out, "--format", "json"]);
      expect(r.code).toBe(0);
      expect(existsSync(out)).toBe(true);
      // Calibrated on real digits: the INT8 model stays close to the float one on the held-out test set.
      const j = await judge(model, out, "cnn");
      expect(j.sqnrDb).toBeGreaterThan(20);
    }
  });

  test("--batch-size 0, --samples 0 and --samples -3 are usage errors (exit 2)", () => {
    refused(["calibrate", model, "--data", data, "--batch-size", "0"], join(dir, "b0.onnx"), "E_USAGE", /--batch-size must be a positive integer \(got 0\)/);
    refused(["calibrate", model, "--data", data, "--samples", "0"], join(dir, "n0.onnx"), "E_USAGE", /--samples must be a positive integer or all \(got 0\)/);
    refused(["quantize", model, "--bits", "4", "--data", data, "--samples", "-3"], join(dir, "n-3.onnx"), "E_USAGE", /--samples must be a positive integer or all/);
  });
});

describe.skipIf(!hasCorpus)("arrays named after something else, negative dims in data headers", () => {
  const x = three();

  test("a single .npz array named 'foo' for input 'image': E_DATA_FORMAT naming both", () => {
    const zip = buildZip([{ name: "foo.npy", data: concat(encodeNpy(x, [3, 1, 32, 32])), deflate: true }]);
    writeFileSync(join(dir, "foo.npz"), zip);
    refused(["calibrate", model, "--data", join(dir, "foo.npz")], join(dir, "foo-npz.onnx"), "E_DATA_FORMAT", /one array 'foo', the model's input is 'image'/);
  });

  test("a single safetensors tensor named 'foo': E_DATA_FORMAT naming both (also at --bits 4)", () => {
    writeSafetensors(join(dir, "foo.safetensors"), { foo: { data: x, dims: [3, 1, 32, 32] } });
    const msg = /one array 'foo', the model's input is 'image'/;
    refused(["calibrate", model, "--data", join(dir, "foo.safetensors")], join(dir, "foo-st.onnx"), "E_DATA_FORMAT", msg);
    refused(["quantize", model, "--bits", "4", "--block-size", "32", "--data", join(dir, "foo.safetensors")], join(dir, "foo-st4.onnx"), "E_DATA_FORMAT", msg);
  });

  test("numpy's unnamed arr_0 (np.savez(f, x)) still feeds a single-input model", () => {
    writeFileSync(join(dir, "arr0.npz"), buildZip([{ name: "arr_0.npy", data: concat(encodeNpy(x, [3, 1, 32, 32])) }]));
    const out = join(dir, "arr0.onnx");
    expect(quant(["calibrate", model, "--data", join(dir, "arr0.npz"), "-o", out]).code).toBe(0);
    expect(existsSync(out)).toBe(true);
  });

  test("dims [-1, 32] in a .npy header and a safetensors header: E_DATA_FORMAT", () => {
    const head = npyHeaderBytes(DataType.FLOAT, [-1, 32]);
    writeFileSync(join(dir, "neg.npy"), concat([head, new Uint8Array(128)]));
    refused(["calibrate", model, "--data", join(dir, "neg.npy")], join(dir, "neg-npy.onnx"), "E_DATA_FORMAT", /bad shape \[-1,32\]/);
    const json = new TextEncoder().encode(JSON.stringify({ image: { dtype: "F32", shape: [-1, 32], data_offsets: [0, 128] } }));
    const st = new Uint8Array(8 + json.length + 128);
    new DataView(st.buffer).setBigUint64(0, BigInt(json.length), true);
    st.set(json, 8);
    writeFileSync(join(dir, "neg.safetensors"), st);
    refused(["calibrate", model, "--data", join(dir, "neg.safetensors")], join(dir, "neg-st.onnx"), "E_DATA_FORMAT", /tensor 'image' has a bad shape \[-1,32\]/);
  });

  test("safetensors headers that declare more than the file holds: E_DATA_FORMAT before any allocation", () => {
    const st = (headerLen: bigint, json: string, data = 64) => {
      const j = new TextEncoder().encode(json);
      const b = new Uint8Array(8 + j.length + data);
      new DataView(b.buffer).setBigUint64(0, headerLen, true);
      b.set(j, 8);
      return b;
    };
    const offsetsJson = JSON.stringify({ image: { dtype: "F32", shape: [1e6, 1, 32, 32], data_offsets: [0, 4096e6] } });
    const cases: [string, Uint8Array, RegExp][] = [
      ["st-huge-header", st(2n ** 40n, "{}"), /header length 1099511627776 is over the 100 MB limit/],
      ["st-long-header", st(5000n, "{}"), /truncated: header needs 5008 bytes, file has 74/],
      ["st-offsets", st(BigInt(offsetsJson.length), offsetsJson), /truncated: tensor 'image' ends at data byte 4096000000, data buffer has 64 bytes/],
    ];
    for (const [name, bytes, msg] of cases) {
      writeFileSync(join(dir, `${name}.safetensors`), bytes);
      refused(["calibrate", model, "--data", join(dir, `${name}.safetensors`)], join(dir, `${name}.onnx`), "E_DATA_FORMAT", msg);
    }
  });

  test("a .npy whose header declares more data than the file holds: E_DATA_FORMAT", () => {
    const head = npyHeaderBytes(DataType.FLOAT, [1e9, 1, 32, 32]);
    writeFileSync(join(dir, "short.npy"), concat([head, new Uint8Array(SAMPLE * 4)]));
    refused(["calibrate", model, "--data", join(dir, "short.npy")], join(dir, "short.onnx"), "E_DATA_FORMAT", /truncated: shape \(1000000000, 1, 32, 32\) <f4 needs \d+ bytes, file has \d+/);
  });
});

describe.skipIf(!hasCorpus)("tensors whose dims and data disagree are refused at load (E_LOAD_TENSOR)", () => {
  function variant(name: string, edit: (w: { dims?: unknown[]; raw_data?: Uint8Array }) => void): string {
    const m = loadModel(model);
    const w = m.proto.graph!.initializer!.find((t) => t.raw_data && t.raw_data.length > 64)!;
    edit(w as never);
    const p = join(dir, `${name}.onnx`);
    saveModel(m, p);
    return p;
  }

  test("raw_data longer than dims × type: quantize, calibrate and info refuse it", () => {
    const p = variant("long-raw", (w) => (w.raw_data = concat([w.raw_data!, new Uint8Array(8)])));
    const msg = /has \d+ bytes of raw_data, dims \[[\d, ]+\] of FLOAT need \d+/;
    refused(["quantize", p], join(dir, "long-raw.q.onnx"), "E_LOAD_TENSOR", msg);
    refused(["calibrate", p, "--data", join(dir, "three-s.npy")], join(dir, "long-raw.c.onnx"), "E_LOAD_TENSOR", msg);
    const info = quant(["info", p]);
    expect(info.code).toBe(1);
    expect(info.stderr).toContain("error E_LOAD_TENSOR");
  });

  test("dims [-1, 32] on an initializer", () => {
    const p = variant("neg-dims", (w) => (w.dims = [-1, 32]));
    refused(["quantize", p, "--bits", "4", "--block-size", "32"], join(dir, "neg-dims.q.onnx"), "E_LOAD_TENSOR", /has dims \[-1, 32\]: every dim must be a non-negative integer/);
  });
});

describe.skipIf(!hasCorpus)("an unused, empty-named initializer is legal", () => {
  const m = loadModel(model);
  m.proto.graph!.initializer!.push(makeTensor("", DataType.FLOAT, [4], new Float32Array([1, 2, 3, 4])));
  const withEmpty = join(dir, "empty-name.onnx");
  saveModel(m, withEmpty);

  for (const [label, args, minDb] of [
    ["--bits 4 --block-size 32", ["--bits", "4", "--block-size", "32"], 12],
    ["--opset 21", ["--opset", "21"], 30],
  ] as const) {
    test(`quantize ${label}: exit 0, a model ONNX Runtime runs, close to the float model`, async () => {
      const out = join(dir, `empty-name-${label.replace(/\W+/g, "_")}.onnx`);
      const r = quant(["quantize", withEmpty, ...args, "-o", out]);
      expect(r.stderr).not.toContain("E_INTERNAL");
      expect(r.code).toBe(0);
      const j = await judge(model, out, "cnn");
      expect(j.sqnrDb).toBeGreaterThan(minDb);
      expect(j.accuracy).toBeGreaterThan(j.floatAccuracy - 0.05);
    });
  }
});
