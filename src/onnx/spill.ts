/**
 * Spill: where a run puts tensor data it produced (quantized weights, packed values, float16 copies) so that a model
 * far larger than RAM never holds more than a few tensors in memory. A spilled tensor becomes an external-data tensor
 * whose location is the spill's own name, mounted on the model's {@link ExternalFiles}: every reader (packers,
 * validators, saveModel, which copies it into the output's data file in graph order) reads it tensor by tensor, like
 * any external data.
 *
 * The spill file is created beside the output (same disk as the result) and unlinked at once: it has no name a crash
 * could leave behind, and its space is freed when its model is garbage-collected or released ({@link releaseSpill}),
 * or the process ends, however it ends.
 */
import { closeSync, openSync, readSync, unlinkSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { QuantError, reason } from "../errors/errors.ts";
import { EXTERNAL, externalRef, isExternal } from "./external.ts";
import type { Model } from "./model.ts";
import type { TensorProto } from "./types.ts";

/*
 * Prompt release of big dropped buffers. JSC frees an ArrayBuffer only when a collection finds it dead, and a heap of
 * a few objects holding hundreds of MB of buffers does not look worth collecting to it: quantizing tensor by tensor
 * without this grew to 1.3× the model on one thread. Counting the bytes dropped and collecting past a budget keeps
 * the peak at a few tensors (a full collection of a small heap costs a few ms, once per ~64 MiB).
 */
let churn = 0;

/** Count `bytes` of buffers just dropped; collect when the count passes `budget`. */
export function dropped(bytes: number, budget = 64 << 20): void {
  churn += bytes;
  if (churn < budget) return;
  churn = 0;
  if (typeof Bun !== "undefined") Bun.gc(true);
}

/** Tensors at least this large are spilled by default (smaller ones cost more in bookkeeping than they weigh). */
export const DEFAULT_SPILL_BYTES = 1 << 20;

let counter = 0;

/** An append-only, anonymous scratch file of tensor bytes. */
export class TensorSpill {
  /** The `location` spilled tensors carry (never a real path: it only resolves through the mount). */
  readonly location: string;
  private fd: number;
  private end = 0;

  constructor(dir: string) {
    const id = counter++;
    const path = join(dir, `.quant-spill-${process.pid}-${Date.now().toString(36)}-${id}`);
    try {
      this.fd = openSync(path, "wx+", 0o600);
    } catch (e) {
      throw new QuantError("E_SAVE", `cannot create a scratch file in ${dir} (${reason(e)})`, { file: path, cause: e });
    }
    try {
      unlinkSync(path);
    } catch {
      // a platform that cannot unlink an open file: it goes when closed (close() retries)
      this.pathToRemove = path;
    }
    this.location = `quant-spill:${process.pid}:${id}`;
  }
  private pathToRemove?: string;

  /** Bytes written so far. */
  get size(): number {
    return this.end;
  }

  /** The descriptor (for {@link ExternalFiles.mount}). */
  get descriptor(): number {
    return this.fd;
  }

  /** Append `bytes` (64-byte aligned); returns where they are. */
  put(bytes: Uint8Array): { offset: number; length: number } {
    const offset = Math.ceil(this.end / 64) * 64;
    let done = 0;
    try {
      while (done < bytes.byteLength) done += writeSync(this.fd, bytes, done, bytes.byteLength - done, offset + done);
    } catch (e) {
      throw new QuantError("E_SAVE", `cannot write scratch data (${reason(e)}): is the output's disk full?`, { cause: e });
    }
    this.end = offset + bytes.byteLength;
    return { offset, length: bytes.byteLength };
  }

  /**
   * Read bytes back (a fresh buffer). Bytes a packer hands back unchanged are written again rather than recognized:
   * nothing stops a packer from changing its input in place.
   */
  read(offset: number, length: number): Uint8Array {
    if (this.fd < 0) throw new QuantError("E_LOAD_EXTERNAL_MISSING", "the scratch data of a streamed run was released with its model");
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, out, done, length - done, offset + done);
      if (n <= 0) throw new QuantError("E_LOAD_EXTERNAL_RANGE", "scratch data ended early");
      done += n;
    }
    return out;
  }

  close(): void {
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
    if (this.pathToRemove) {
      try {
        unlinkSync(this.pathToRemove);
      } catch {
        // already gone
      }
    }
  }
}

/** Options of {@link spillOf}. */
export interface SpillOptions {
  /** Folder for the scratch file (default: the output's folder, else the system temp folder). */
  dir?: string;
  /** The run's output path: the scratch file goes beside it. */
  output?: string;
}

const spills = new WeakMap<Model, TensorSpill>();
/** A spill lives as long as its model: the result of a run stays readable (and savable) after the run. */
const closeWithModel = new FinalizationRegistry<TensorSpill>((s) => s.close());

/** The model's spill, created (and mounted on its external files) on first use. */
export function spillOf(model: Model, opts: SpillOptions = {}): TensorSpill {
  let s = spills.get(model);
  if (!s) {
    if (!model.external) throw new QuantError("E_SAVE", "this model has no external-data reader to spill tensors to");
    s = new TensorSpill(opts.dir ?? (opts.output ? dirname(resolve(opts.output)) : tmpdir()));
    model.external.mount(s.location, s);
    spills.set(model, s);
    closeWithModel.register(model, s);
  }
  return s;
}

/** Release the model's spill now (its tensors become unreadable) rather than when the model is collected. */
export function releaseSpill(model: Model): void {
  spills.get(model)?.close();
}

/** The model's spill if one was created. */
export function existingSpill(model: Model): TensorSpill | undefined {
  return spills.get(model);
}

/** True when the tensor's data is in a spill. */
export function isSpilled(t: TensorProto): boolean {
  return isExternal(t) && externalRef(t).location.startsWith("quant-spill:");
}

/** Point a tensor at spilled bytes (drops its inline payload). */
export function setSpilled(t: TensorProto, spill: TensorSpill, ref: { offset: number; length: number }): void {
  for (const k of ["raw_data", "float_data", "int32_data", "int64_data", "double_data", "uint64_data"] as const) delete t[k];
  t.data_location = EXTERNAL;
  t.external_data = [
    { key: "location", value: spill.location },
    { key: "offset", value: String(ref.offset) },
    { key: "length", value: String(ref.length) },
  ];
}

/** Move a tensor's inline `raw_data` of at least `minBytes` into the model's spill. Returns true when it moved. */
export function spillTensor(model: Model, t: TensorProto, opts: SpillOptions & { minBytes?: number } = {}): boolean {
  const raw = t.raw_data;
  if (!raw || raw.byteLength < (opts.minBytes ?? DEFAULT_SPILL_BYTES) || isExternal(t)) return false;
  const spill = spillOf(model, opts);
  setSpilled(t, spill, spill.put(raw));
  // The producer's buffers (its input and these bytes) are garbage now: see dropped().
  dropped(2 * raw.byteLength);
  return true;
}
