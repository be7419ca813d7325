/**
 * Loads in ONNX Runtime (the `ort-load` validator plugin and `quant validate` use it): the output model loads in onnxruntime-node (graph resolution, type inference, kernel lookup
 * for every node, all graph optimizations), which is the real test of "loadable" for most users.
 */
import { RuntimeSession } from "../runtime/session.ts";
import type { Diagnostic } from "../kernel/types.ts";
import { reason } from "../errors/errors.ts";
import type { Model } from "../onnx/model.ts";

/** The first line of ORT's message, without the `[ErrorCode:…]` prefix or our own wrapping. */
function firstLine(e: unknown): string {
  return reason(e).replace(/^onnxruntime-node cannot load the model:\s*/, "").replace(/^\[ErrorCode:\w+\]\s*/, "").trim() || "unknown error";
}

/**
 * Try to create an onnxruntime-node session for a model (bytes for inline models, a temporary folder for models with
 * external data). Returns an error diagnostic with ORT's first message line, or an info diagnostic.
 * @example const [d] = await checkOrtLoad(model); if (d.level === "error") console.error(d.message);
 */
export async function checkOrtLoad(model: Model, target?: string): Promise<Diagnostic[]> {
  const t0 = performance.now();
  let session: RuntimeSession | undefined;
  try {
    session = await RuntimeSession.create(model, { intraOpThreads: 1, interOpThreads: 1 });
    const ms = performance.now() - t0;
    return [{ level: "info", code: "ort-load", target, message: `loads in onnxruntime-node (${session.inputNames.length} input(s), ${session.outputNames.length} output(s), ${ms.toFixed(0)} ms)`, metrics: { ms } }];
  } catch (e) {
    return [{ level: "error", code: "ort-load", target, message: `onnxruntime-node cannot load the model: ${firstLine(e)}` }];
  } finally {
    await session?.release();
  }
}
