/**
 * Hostile calibration archives through the CLI: an .npz whose deflated member inflates to 4.5 GiB while its central
 * directory says 1,000 bytes (a zip bomb) must fail with E_DATA_FORMAT at a bounded peak memory, write nothing, and
 * so must archives whose directory, local header and .npy header disagree.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { constants, deflateRawSync } from "node:zlib";
import { npyHeaderBytes } from "../../src/data/npy.ts";
import { DataType } from "../../src/tensor/dtypes.ts";
import { corpus, hasCorpus, ROOT } from "../helpers/corpus.ts";
import { buildZip, tempDir } from "../data/helpers.ts";

const dir = tempDir("quant-data-limits-");
const MiB = 2 ** 20;

/** A raw deflate stream of `header` followed by `zeroMiB` MiB of zeros, built from one flushed 1 MiB block. */
function bombStream(header: Uint8Array, zeroMiB: number): Uint8Array {
  const head = deflateRawSync(header, { finishFlush: constants.Z_FULL_FLUSH });
  // A full flush resets the dictionary, so copies of the block concatenate into one valid stream.
  const block = deflateRawSync(new Uint8Array(MiB), { finishFlush: constants.Z_FULL_FLUSH });
  const end = deflateRawSync(new Uint8Array(0));
  const out = new Uint8Array(head.length + block.length * zeroMiB + end.length);
  out.set(head);
  for (let i = 0; i < zeroMiB; i++) out.set(block, head.length + i * block.length);
  out.set(end, head.length + zeroMiB * block.length);
  return out;
}

/** Exit code, stderr and peak resident memory of `quant <args>` (GNU time, else polling /proc). */
async function quantPeak(args: string[]): Promise<{ code: number; stderr: string; peakMiB: number }> {
  const cmd = [process.execPath, `${ROOT}/src/cli/main.ts`, ...args];
  if (existsSync("/usr/bin/time")) {
    const report = join(dir, `time-${Math.random().toString(36).slice(2)}.txt`);
    const p = Bun.spawnSync(["/usr/bin/time", "-v", "-o", report, ...cmd], { cwd: ROOT, stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
    const stderr = p.stderr.toString();
    const kb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(readFileSync(report, "utf8"))?.[1]);
    return { code: p.exitCode ?? -1, stderr, peakMiB: kb / 1024 };
  }
  const p = Bun.spawn(cmd, { cwd: ROOT, stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  let peak = 0;
  const poll = setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${p.pid}/status`, "utf8"));
      if (m) peak = Math.max(peak, Number(m[1]) / 1024);
    } catch {}
  }, 20);
  const code = await p.exited;
  clearInterval(poll);
  return { code, stderr: await new Response(p.stderr).text(), peakMiB: peak };
}

describe.skipIf(!hasCorpus)("hostile .npz calibration data (CLI)", () => {
  const model = corpus("digits_cnn.onnx");
  const sample = 1 * 32 * 32 * 4;
  const samples = (4.5 * 2 ** 30) / sample; // 4.5 GiB of float32 images [1, 32, 32]
  const header = npyHeaderBytes(DataType.FLOAT, [samples, 1, 32, 32]);

  async function refused(name: string, zip: Uint8Array, message: RegExp): Promise<void> {
    const data = join(dir, `${name}.npz`);
    writeFileSync(data, zip);
    const out = join(dir, `${name}.onnx`);
    const r = await quantPeak(["calibrate", model, "--data", data, "-o", out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error E_DATA_FORMAT/);
    expect(r.stderr).toMatch(message);
    expect(existsSync(out)).toBe(false);
    if (!(r.peakMiB > 0)) throw new Error(`no peak memory measured: ${r.stderr}`);
    if (process.env.SHOW_PEAK) console.log(name, r.peakMiB.toFixed(0), "MiB peak");
    expect(r.peakMiB).toBeLessThanOrEqual(256);
  }

  test("a member that inflates to 4.5 GiB while the directory says 1,000 bytes: E_DATA_FORMAT, peak ≤ 256 MiB", async () => {
    const packed = bombStream(header, 4.5 * 1024);
    expect(packed.length).toBeLessThan(20 * MiB);
    await refused("bomb", buildZip([{ name: "image.npy", data: new Uint8Array(0), packed, size: 1000 }]), /image\.npy is corrupt \(its \.npy header needs 4831838336 bytes.*says 1000\)/);
  }, 60_000);

  test("the .npy header agrees with the lying directory (1,000 bytes), the stream does not: stopped at 1,000 bytes", async () => {
    const small = npyHeaderBytes(DataType.FLOAT, [(1000 - 128) / 4]);
    expect(small.length).toBe(128);
    const packed = bombStream(small, 4.5 * 1024);
    await refused("bomb-consistent", buildZip([{ name: "image.npy", data: new Uint8Array(0), packed, size: 1000 }]), /inflates past the 1000 bytes the archive declares/);
  }, 60_000);

  test("a directory that declares more than the 1 GiB cap for compressed members is refused before inflating", async () => {
    const packed = bombStream(header, 16);
    await refused("bomb-declared", buildZip([{ name: "image.npy", data: new Uint8Array(0), packed, size: 0xfffffff0 }]), /over the 1024 MiB limit for compressed members/);
  }, 60_000);

  test("local header and central directory disagreeing on the size: E_DATA_FORMAT", async () => {
    const packed = bombStream(header, 1);
    const zip = buildZip([{ name: "image.npy", data: new Uint8Array(0), packed, size: 1000 }]);
    // Patch the local header's uncompressed size (offset 22) to something else.
    new DataView(zip.buffer, zip.byteOffset).setUint32(22, 5000, true);
    await refused("bomb-local", zip, /local header \(5000 bytes\) that disagrees with the central directory \(1000 bytes\)/);
  }, 60_000);
});
