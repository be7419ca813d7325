/**
 * The last gate before an output model is published: the staged temp file itself (what will be renamed into place)
 * is decoded and checked structurally, then loaded in an onnxruntime-node session. Either failing is E_EXPORT_INVALID
 * with the reason (ORT's own message), and the caller aborts the transaction, so an output ONNX Runtime refuses is
 * never written.
 */
import { statSync } from "node:fs";
import { totalmem } from "node:os";
import type { ConsolaInstance } from "consola";
import { QuantError, reason } from "../errors/errors.ts";
import type { Diagnostic } from "../kernel/types.ts";
import { loadModel } from "../onnx/codec.ts";
import { checkOps } from "../onnx/check-ops.ts";

/** Options of {@link checkStagedModel}. */
export interface OutputCheckOptions {
  /** Create an onnxruntime-node session on the staged file (default true). */
  ort?: boolean;
  /** Skip the session when model + data exceed this many bytes (default: a quarter of RAM, at most 2 GiB). */
  ortMaxBytes?: number;
  logger?: ConsolaInstance;
}

/**
 * External data from which the session is created with basic graph optimizations only (default: all). The session still
 * parses and checks every node, infers types and assigns kernels, but does not run the layout and QDQ fusions, which
 * copy (or dequantize) the weights: at "all", a 200 MB INT8 output of a 810 MB model took 4.3 s and 420 MB, at
 * "basic" 0.12 s and 27 MB, ORT mapping the data file (bench/large.ts). So a model of any size with external data
 * is checked by a session before it is written.
 */
export const LIGHT_CHECK_BYTES = 64 << 20;

/** Default size above which the runtime check is skipped: the model would be in memory twice (ours + ORT's). */
export function defaultOrtMaxBytes(): number {
  return Math.min(2 ** 31, Math.floor(totalmem() / 4));
}

const firstLine = (e: unknown) =>
  reason(e).replace(/^onnxruntime-node cannot load the model:\s*/, "").replace(/^\[ErrorCode:\w+\]\s*/, "").split("\n")[0]!.trim() || "unknown error";

/**
 * Check a staged model file (`tempPath`, to be published as `path`). Returns info/warning diagnostics; throws
 * E_EXPORT_INVALID when the model is invalid.
 */
export async function checkStagedModel(tempPath: string, path: string, opts: OutputCheckOptions = {}): Promise<Diagnostic[]> {
  const out: Diagnostic[] = [];
  const t0 = performance.now();
  const protoBytes = statSync(tempPath).size;
  let bytes = protoBytes;
  let model;
  try {
    model = loadModel(tempPath);
  } catch (e) {
    throw new QuantError("E_EXPORT_INVALID", `the output is not a valid model, so it was not written: ${reason(e)}`, { file: path, cause: e });
  }
  try {
    // loadModel already checked every external tensor's range in its data file.
    bytes += model.external?.totalBytes() ?? 0;
    const problems = checkOps(model.proto);
    const errors = problems.filter((p) => p.level === "error");
    if (errors.length)
      throw new QuantError("E_EXPORT_INVALID", `the output would not load in ONNX Runtime, so it was not written: ${errors.map((p) => p.message).join("; ")}`, { file: path, target: errors[0]!.target });
    for (const p of problems) out.push({ level: "warning", code: "output-check", message: p.message, target: p.target });
  } finally {
    model.external?.close();
  }
  out.push({ level: "info", code: "output-check", message: `operators exist at the declared opsets (${(performance.now() - t0).toFixed(0)} ms)` });
  if (opts.ort === false) return out;
  const max = opts.ortMaxBytes ?? defaultOrtMaxBytes();
  // External data is mapped by ORT, not read: only the .onnx itself is held twice (see lightCheck).
  if (protoBytes > max || (bytes > max && bytes - protoBytes < LIGHT_CHECK_BYTES)) {
    const msg = `not loaded in onnxruntime-node before writing: model + data are ${(bytes / 2 ** 20).toFixed(0)} MiB, over the ${(max / 2 ** 20).toFixed(0)} MiB budget for holding it in memory twice (only the structural check ran)`;
    opts.logger?.warn(msg);
    out.push({ level: "warning", code: "ort-check", message: msg });
    return out;
  }
  const light = bytes - protoBytes >= LIGHT_CHECK_BYTES;
  const t1 = performance.now();
  const { RuntimeSession } = await import("../runtime/session.ts");
  let session;
  try {
    // Severity 4 (fatal only): the refusal is reported once, as our one-line error, not also as ORT log lines.
    session = await RuntimeSession.create(tempPath, { intraOpThreads: 1, interOpThreads: 1, logSeverityLevel: 4, ...(light ? { optimization: "basic" as const } : {}) });
  } catch (e) {
    // ORT's own message, naming the output rather than the temp file, without its C++ source location.
    const msg = firstLine(e).replaceAll(tempPath, path).replace(/\/onnxruntime_src\/\S*:\d+ [^(]*\([^)]*\)\s*/, " ");
    throw new QuantError("E_EXPORT_INVALID", `ONNX Runtime refuses the output, so it was not written: ${msg}`, { file: path, cause: e });
  } finally {
    await session?.release();
  }
  const ms = performance.now() - t1;
  const how = light ? `, basic graph optimizations: its ${(bytes / 2 ** 20).toFixed(0)} MiB of external data mapped, not copied` : "";
  out.push({ level: "info", code: "ort-check", message: `loads in onnxruntime-node (${ms.toFixed(0)} ms${how})`, metrics: { ms } });
  return out;
}
