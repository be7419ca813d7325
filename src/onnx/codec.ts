/**
 * loadModel / saveModel: lossless ONNX I/O.
 * - Loading maps the file (Bun.mmap) and decodes it; weight bytes stay views into the mapping.
 * - External data is validated at load and read lazily, tensor by tensor.
 * - Saving is atomic (temp + rename) and streams external data; models over protobuf's 2 GiB limit go external automatically.
 */
import { readFileSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { QuantError, reason } from "../errors/errors.ts";
import { openPending, settle, writeFilesAtomic, type PendingFile } from "../io/atomic.ts";
import { fileKind } from "../io/files.ts";
import { testHook } from "../io/cleanup.ts";
import { dataFileName, inputsOf, removeOrphanData, sizeOf } from "./data-files.ts";
import { decodeModelProto, encodeModelProto } from "./proto.ts";
import { concatChunks, encodeModelChunks as encodeChunksRaw, writeChunks } from "./encode-chunks.ts";
import { ExternalFiles, EXTERNAL, externalRef, isExternal } from "./external.ts";
import { checkModelStructure } from "./check.ts";
import { isSpilled } from "./spill.ts";
import { checkTensors } from "./check-tensors.ts";
import { allTensors, type TensorSite } from "./walk.ts";
import type { Model } from "./model.ts";
import type { TensorProto } from "./types.ts";
import { num } from "./types.ts";

/** Options of {@link loadModel}. */
export interface LoadOptions {
  /** Folder for external data when loading from bytes (defaults to the model's folder, or the cwd). */
  baseDir?: string;
  /** Run the structural checks (unique names, DAG, external ranges). Default true. */
  check?: boolean;
}

/** protobuf's hard limit for one message; above it a model must use external data. */
export const PROTOBUF_LIMIT = 2 ** 31 - 1;

/**
 * Load an ONNX model from a path or bytes. Throws QuantError `E_LOAD_*` with the file and a one-line reason.
 * @example const model = loadModel("resnet18.onnx");
 */
export function loadModel(source: string | Uint8Array, options: LoadOptions = {}): Model {
  let bytes: Uint8Array;
  let path: string | undefined;
  if (typeof source === "string") {
    path = resolve(source);
    let size: number;
    try {
      const st = statSync(path);
      if (st.isDirectory()) throw new QuantError("E_LOAD_READ", "is a folder, not an ONNX file", { file: source });
      // Checked before reading: a FIFO or a device would block or never end.
      if (!st.isFile()) throw new QuantError("E_LOAD_NOT_FILE", `is ${fileKind(st)}, not a regular file; refusing to read it`, { file: source });
      size = st.size;
    } catch (e) {
      if (e instanceof QuantError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      throw new QuantError(code === "ENOENT" ? "E_LOAD_MISSING" : "E_LOAD_READ", code === "ENOENT" ? "file not found" : `cannot read (${code ?? reason(e)})`, { file: source, cause: e });
    }
    if (size === 0) throw new QuantError("E_LOAD_EMPTY", "file is empty", { file: source });
    try {
      bytes = typeof Bun !== "undefined" && size > 1 << 20 ? Bun.mmap(path, { shared: false }) : readFileSync(path);
    } catch (e) {
      throw new QuantError("E_LOAD_READ", `cannot read (${reason(e)})`, { file: source, cause: e });
    }
  } else {
    bytes = source;
    if (bytes.byteLength === 0) throw new QuantError("E_LOAD_EMPTY", "model bytes are empty");
  }
  const file = typeof source === "string" ? source : undefined;
  let proto;
  try {
    proto = decodeModelProto(bytes);
  } catch (e) {
    const why = reason(e);
    if (/max depth exceeded/.test(why))
      throw new QuantError("E_LOAD_PARSE", "messages nested deeper than protobuf's 100-level limit (corrupt or hostile file)", { file, cause: e });
    // Well-formed protobuf whose fields do not fit ModelProto (e.g. a lone TensorProto): not a model, not corrupt.
    if (isTopLevelWireFormat(bytes))
      throw new QuantError("E_LOAD_NOT_MODEL", "a protobuf message, but not an ONNX ModelProto (its fields do not match the ModelProto schema)", { file, cause: e });
    const truncated = /index out of range|offset is outside/i.test(why);
    throw new QuantError("E_LOAD_PARSE", truncated ? `truncated or corrupt ONNX file (${why})` : `not a valid ONNX protobuf (${why})`, { file, cause: e });
  }
  if (!proto.graph || !(num(proto.ir_version) > 0) || (num(proto.ir_version) >= 3 && !proto.opset_import?.length))
    throw new QuantError("E_LOAD_NOT_MODEL", "protobuf decodes but is not an ONNX model (missing graph, ir_version or opset_import)", { file });
  const baseDir = options.baseDir ? resolve(options.baseDir) : path ? dirname(path) : process.cwd();
  const external = new ExternalFiles(baseDir, file);
  const model: Model = { proto, path, baseDir, source: bytes, external };
  if (options.check !== false) {
    try {
      checkModelStructure(proto, file);
      for (const site of allTensors(proto)) if (isExternal(site.tensor)) external.check(site.tensor);
      // After the external-data checks, so a file that is too short is reported as such (E_LOAD_EXTERNAL_RANGE).
      checkTensors(proto, file);
    } catch (e) {
      external.close();
      if (e instanceof QuantError) throw e;
      // Fuzzed inputs can make well-typed code trip (e.g. absurd nesting); report them as load errors.
      throw new QuantError("E_LOAD_PARSE", `corrupt ONNX model (${reason(e)})`, { file, cause: e });
    }
  }
  return model;
}

/**
 * True when `bytes` is a sequence of well-formed protobuf fields at the top level (valid tags and wire types,
 * lengths inside the buffer, varints ≤ 10 bytes). Nested messages are not checked.
 */
export function isTopLevelWireFormat(bytes: Uint8Array): boolean {
  let pos = 0;
  const n = bytes.byteLength;
  const varint = (): number => {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= n) return -1;
      const b = bytes[pos++]!;
      v += (b & 0x7f) * mul;
      mul *= 128;
      if (b < 0x80) return v;
    }
    return -1;
  };
  while (pos < n) {
    const tag = varint();
    if (tag < 8) return false; // field number 0 or unreadable
    switch (tag % 8) {
      case 0:
        if (varint() < 0) return false;
        break;
      case 1:
        pos += 8;
        break;
      case 2: {
        const len = varint();
        if (len < 0) return false;
        pos += len;
        break;
      }
      case 5:
        pos += 4;
        break;
      default:
        return false; // groups (3, 4) are not used by ONNX; 6 and 7 do not exist
    }
    if (pos > n) return false;
  }
  return true;
}

/** Encode to chunks; encoder failures (e.g. nesting past protobuf's depth limit) become E_SAVE. */
function encodeModelChunks(proto: Model["proto"], file?: string): { chunks: Uint8Array[]; length: number } {
  try {
    return encodeChunksRaw(proto);
  } catch (e) {
    throw new QuantError("E_SAVE", `cannot encode the model (${reason(e)})`, { file, cause: e });
  }
}

/** Options of {@link saveModel}. */
export interface SaveOptions {
  /**
   * Write tensor data to one file beside the model. `true` uses `<model file>.data`.
   * Default: keep external data if the model came with it, and switch to it when the model would exceed 2 GiB.
   */
  externalData?: boolean | { location?: string; threshold?: number; align?: number };
}

/** Byte size of a tensor's data as stored (raw_data or external), 0 for typed-field storage. */
function storedBytes(t: TensorProto): number {
  if (isExternal(t)) return externalRef(t).length;
  return t.raw_data?.byteLength ?? 0;
}

/** A tensor copy without its inline payload, pointing to external data. */
function externalized(t: TensorProto, location: string, offset: number, length: number): TensorProto {
  const { raw_data: _r, external_data: _e, data_location: _d, ...rest } = t;
  return {
    ...rest,
    data_location: EXTERNAL,
    external_data: [
      { key: "location", value: location },
      { key: "offset", value: String(offset) },
      { key: "length", value: String(length) },
    ],
  };
}

/** A tensor copy with its data inline. */
function inlined(t: TensorProto, bytes: Uint8Array): TensorProto {
  const { external_data: _e, data_location: _d, ...rest } = t;
  return { ...rest, raw_data: bytes };
}

/**
 * Save a model atomically. The model and its data never disagree: without an explicit `location`, tensor data goes to
 * a content-addressed file (`<model>.<hash>.data`) that is put in place first (a new name, so the previous model's
 * data is untouched); the model is renamed last, then older generations are removed. A reader sees either the old
 * pair or the new pair. Never replaces the model's own source files. The in-memory model is not changed.
 * @example saveModel(model, "out.onnx", { externalData: { threshold: 1024 } });
 */
export function saveModel(model: Model, path: string, options: SaveOptions = {}): { bytes: number; dataBytes: number; dataFile?: string } {
  const out = resolve(path);
  const sites = allTensors(model.proto);
  const total = sites.reduce((s, x) => s + storedBytes(x.tensor), 0);
  // Scratch data of a streaming run (src/onnx/spill.ts) is not the model's choice of external data.
  const hasExternal = sites.some((x) => isExternal(x.tensor) && !isSpilled(x.tensor));
  const protect = inputsOf(model);
  let ext = options.externalData;
  // Leave headroom for the non-tensor part of the proto.
  if (ext === undefined || ext === false) {
    if (total > PROTOBUF_LIMIT - (64 << 20)) {
      if (ext === false) throw new QuantError("E_SAVE", `model holds ${total} bytes of tensors, over protobuf's 2 GiB limit; save it with external data`, { file: path });
      ext = true;
    } else if (ext === undefined) ext = hasExternal;
  }
  const swaps: { site: TensorSite; original: TensorProto }[] = [];
  const swap = (site: TensorSite, t: TensorProto) => {
    swaps.push({ site, original: site.tensor });
    site.replace(t);
  };
  try {
    if (!ext) {
      for (const site of sites) if (isExternal(site.tensor)) swap(site, inlined(site.tensor, model.external!.read(site.tensor)));
      // Weights go from their buffers straight to the file (no 1-buffer copy of the whole model).
      const { chunks, length } = encodeModelChunks(model.proto, path);
      if (length > PROTOBUF_LIMIT) throw new QuantError("E_SAVE", `model is ${length} bytes, over protobuf's 2 GiB limit; save it with external data`, { file: path });
      writeFilesAtomic([out], ([f]) => writeChunks(chunks, (b) => f!.write(b)), { protect });
      return { bytes: length, dataBytes: 0 };
    }
    const cfg = typeof ext === "object" ? ext : {};
    const explicit = cfg.location !== undefined;
    const threshold = cfg.threshold ?? 1024;
    const entries: { value?: string | null }[] = [];
    const data = openPending(resolve(dirname(out), cfg.location ?? `${basename(out)}.data`), { protect, hash: !explicit, provisional: !explicit });
    let onnx: PendingFile | undefined;
    let placed: string | undefined;
    try {
      const pad = new Uint8Array(4096);
      for (const site of sites) {
        const t = site.tensor;
        const length = storedBytes(t);
        if (length === 0 || (length < threshold && !isExternal(t))) {
          if (isExternal(t)) swap(site, inlined(t, model.external!.read(t)));
          continue;
        }
        // Page-align large tensors so runtimes can map them; 64-byte align the rest (SIMD-friendly).
        const align = cfg.align ?? (length >= 1 << 16 ? 4096 : 64);
        const offset = Math.ceil(data.size / align) * align;
        if (offset > data.size) data.write(pad.subarray(0, offset - data.size));
        if (isExternal(t)) model.external!.stream(t, (b) => data.write(b));
        else data.write(t.raw_data!);
        const copy = externalized(t, "", offset, length);
        entries.push(copy.external_data![0]!);
        swap(site, copy);
      }
      data.close();
      const location = explicit ? cfg.location! : dataFileName(out, data.digest());
      for (const e of entries) e.value = location;
      const { chunks, length } = encodeModelChunks(model.proto, path);
      if (length > PROTOBUF_LIMIT) throw new QuantError("E_SAVE", "model proto exceeds 2 GiB even with external data", { file: path });
      onnx = openPending(out, { protect });
      writeChunks(chunks, (b) => onnx!.write(b));
      onnx.close();
      // Put the data in place now, under a name no existing model refers to (or one holding these exact bytes), so
      // the staged model can be loaded and checked from its temp path before it is published.
      const target = explicit ? data.path : join(dirname(data.path), basename(location));
      const existing = explicit ? undefined : sizeOf(target);
      if (existing === data.size) data.abort(); // same content hash and size: the bytes are already there
      else {
        if (!explicit) data.retarget(target);
        data.commit();
        placed = data.path;
      }
      const dataPath = target;
      const model_ = onnx;
      settle({
        files: [{ path: dataPath, tempPath: dataPath }, { path: model_.path, tempPath: model_.tempPath }],
        publish() {
          model_.commit();
          placed = undefined;
          testHook("after-model-rename");
          if (!explicit) removeOrphanData(model_.path, { keep: basename(location), protect, except: process.pid });
        },
        abort() {
          model_.abort();
          if (placed) rmSync(placed, { force: true });
          placed = undefined;
        },
      });
      return { bytes: length, dataBytes: data.size, dataFile: dataPath };
    } catch (e) {
      data.abort();
      onnx?.abort();
      if (placed) rmSync(placed, { force: true });
      if (e instanceof QuantError) throw e;
      throw new QuantError("E_SAVE", `writing ${out} failed (${reason(e)})`, { file: out, cause: e });
    }
  } finally {
    for (let i = swaps.length - 1; i >= 0; i--) swaps[i]!.site.replace(swaps[i]!.original);
  }
}

/** Serialize a model to bytes (inline data only; external tensors are read in). */
export function serializeModel(model: Model): Uint8Array {
  const sites = allTensors(model.proto).filter((s) => isExternal(s.tensor));
  const originals = sites.map((s) => s.tensor);
  try {
    for (const s of sites) s.replace(inlined(s.tensor, model.external!.read(s.tensor)));
    const { chunks, length } = encodeModelChunks(model.proto);
    return concatChunks(chunks, length);
  } finally {
    sites.forEach((s, i) => s.replace(originals[i]!));
  }
}

export type { PendingFile };

/**
 * An independent copy of a model, sharing its external data files. With `fromSource` (only right for a model not
 * edited since it was loaded) the proto is decoded again from the source bytes — cheap, weights stay views into the
 * same buffer; otherwise the current proto is encoded and decoded.
 */
export function cloneModel(model: Model, fromSource = false): Model {
  const bytes = fromSource && model.source ? model.source : encodeModelProto(model.proto);
  return { proto: decodeModelProto(bytes), path: model.path, baseDir: model.baseDir, source: bytes, external: model.external };
}
