/**
 * Worker side of {@link RemoteSession} (remote.ts): owns one onnxruntime session and runs it on request, handing the
 * outputs back as transferred buffers (no copy). Messages: `load` → `ready`, `run` → `out`, any failure → `error`.
 */
import type * as Ort from "onnxruntime-node";
import { ortSessionOptions, ortTensor, type RuntimeOptions } from "./session.ts";

/** Request from the main thread. */
export type WorkerRequest =
  | { kind: "load"; source: Uint8Array | string; options: RuntimeOptions }
  | { kind: "run"; id: number; feeds: Record<string, { type: Ort.Tensor.Type; data: ArrayBufferView; dims: number[] }> }
  | { kind: "release" };

/** Reply to the main thread. */
export type WorkerReply =
  | { kind: "ready"; inputNames: string[]; outputNames: string[] }
  | { kind: "out"; id: number; outputs: Record<string, { data: ArrayBufferView; dims: number[] }> }
  | { kind: "released" }
  | { kind: "error"; id?: number; message: string };

declare const self: Worker;
let ort: typeof Ort | undefined;
let session: Ort.InferenceSession | undefined;
/** Bytes of inputs received and outputs handed over since the last collection (see GarbageBudget in calibrate.ts). */
let churn = 0;

self.onmessage = async (e: MessageEvent<WorkerRequest>) => {
  const m = e.data;
  try {
    if (m.kind === "load") {
      if (!ort) {
        await (await import("../io/native.ts")).preloadNative("onnxruntime");
        ort = await import("onnxruntime-node");
      }
      const opts = ortSessionOptions(m.options);
      session = typeof m.source === "string" ? await ort.InferenceSession.create(m.source, opts) : await ort.InferenceSession.create(m.source, opts);
      post({ kind: "ready", inputNames: [...session.inputNames], outputNames: [...session.outputNames] });
    } else if (m.kind === "run") {
      const feeds: Record<string, Ort.Tensor> = {};
      for (const [k, f] of Object.entries(m.feeds)) feeds[k] = ortTensor(ort!, f.type, f.data, f.dims);
      const out = await session!.run(feeds);
      const outputs: Record<string, { data: ArrayBufferView; dims: number[] }> = {};
      const transfer: ArrayBuffer[] = [];
      for (const [k, t] of Object.entries(out)) {
        const data = t.data as Float32Array;
        outputs[k] = { data, dims: [...t.dims] };
        // Outputs own their buffers (onnxruntime-node copies into fresh ones): hand them over without copying.
        if (data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && !transfer.includes(data.buffer as ArrayBuffer)) transfer.push(data.buffer as ArrayBuffer);
      }
      post({ kind: "out", id: m.id, outputs }, transfer);
      let run = 0;
      for (const f of Object.values(m.feeds)) run += f.data.byteLength;
      for (const o of Object.values(outputs)) run += o.data.byteLength;
      churn += run;
      if (churn >= (32 << 20) + 2 * run) {
        churn = 0;
        Bun.gc(true);
      }
    } else if (m.kind === "release") {
      await session?.release();
      session = undefined;
      post({ kind: "released" });
    }
  } catch (err) {
    post({ kind: "error", ...(m.kind === "run" ? { id: m.id } : {}), message: err instanceof Error ? err.message : String(err) });
  }
};

function post(reply: WorkerReply, transfer: ArrayBuffer[] = []): void {
  self.postMessage(reply, transfer);
}
