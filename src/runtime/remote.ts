/**
 * An onnxruntime session in a worker thread, so inference of the next batch overlaps with the calibrators' work on the
 * current one (onnxruntime-node runs synchronously on the calling thread). With one intra-op thread that uses two
 * cores: onnxruntime on one, JS histograms on the other. Outputs come back as transferred buffers (no copy); inputs
 * are copied once (a batch may be a view into a larger buffer, which must not be transferred away).
 */
import { QuantError } from "../errors/errors.ts";
import type { Batch } from "../data/dataset.ts";
import { ortType, type RuntimeOptions } from "./session.ts";
import { isCompiled } from "../io/native.ts";
import type { WorkerReply, WorkerRequest } from "./worker.ts";

/** The worker inside the single-file binary: the entry point as src/cli/build-bin.ts names it (Bun maps it). */
const COMPILED_WORKER = "./src/runtime/worker.ts";

/** A tensor as the remote session returns it. */
export interface PlainTensor {
  readonly data: ArrayBufferView;
  readonly dims: readonly number[];
}

/** A session running in a worker; see the module comment. Call {@link RemoteSession.release} when done. */
export class RemoteSession {
  private waiting = new Map<number, { resolve(o: Record<string, PlainTensor>): void; reject(e: Error): void }>();
  private next = 0;
  private failure?: Error;
  private onReady?: { resolve(r: { inputNames: string[] }): void; reject(e: Error): void };
  private onReleased?: () => void;
  inputNames: readonly string[] = [];

  private constructor(private worker: Worker) {
    worker.onmessage = (e: MessageEvent<WorkerReply>) => this.receive(e.data);
    worker.onerror = (e: ErrorEvent) => this.fail(new Error(e.message || "worker failed"));
  }

  /** Start a worker and load `source` (ONNX bytes or a path) in it. */
  static async create(source: Uint8Array | string, options: RuntimeOptions = {}): Promise<RemoteSession> {
    const s = new RemoteSession(new Worker(isCompiled ? COMPILED_WORKER : new URL("./worker.ts", import.meta.url).href));
    try {
      const ready = await new Promise<{ inputNames: string[] }>((resolve, reject) => {
        s.onReady = { resolve, reject };
        s.send({ kind: "load", source, options });
      });
      s.inputNames = ready.inputNames;
      return s;
    } catch (e) {
      s.worker.terminate();
      throw new QuantError("E_RUNTIME", `onnxruntime-node cannot load the model in a worker: ${(e as Error).message}`, { cause: e });
    }
  }

  /** Run on a batch (every input the session takes; a missing one is E_CALIB_SHAPE). */
  run(batch: Batch): Promise<Record<string, PlainTensor>> {
    if (this.failure) return Promise.reject(this.failure);
    const feeds: Extract<WorkerRequest, { kind: "run" }>["feeds"] = {};
    const transfer: ArrayBuffer[] = [];
    for (const name of this.inputNames) {
      const b = batch[name];
      if (!b) throw new QuantError("E_CALIB_SHAPE", `model input "${name}" has no calibration data (the data has ${Object.keys(batch).map((k) => `"${k}"`).join(", ") || "no inputs"})`, { target: name });
      const data = b.data.slice(); // own copy: transferable, and never the whole buffer a view points into
      feeds[name] = { type: ortType(b.elemType), data, dims: b.dims };
      transfer.push(data.buffer as ArrayBuffer);
    }
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.send({ kind: "run", id, feeds }, transfer);
    });
  }

  /** Release the session and stop the worker. */
  async release(): Promise<void> {
    if (!this.failure) {
      await Promise.race([new Promise<void>((r) => ((this.onReleased = r), this.send({ kind: "release" }))), new Promise((r) => setTimeout(r, 2000))]);
    }
    this.worker.terminate();
    this.fail(new Error("session released"));
  }

  private send(m: WorkerRequest, transfer: ArrayBuffer[] = []): void {
    this.worker.postMessage(m, transfer);
  }

  private receive(m: WorkerReply): void {
    if (m.kind === "ready") this.onReady?.resolve(m);
    else if (m.kind === "released") this.onReleased?.();
    else if (m.kind === "out") {
      const w = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      w?.resolve(m.outputs);
    } else if (m.kind === "error") {
      const err = new QuantError("E_RUNTIME", `onnxruntime-node failed to run the model: ${m.message.split("\n")[0]}`);
      if (m.id === undefined) this.onReady?.reject(new Error(m.message));
      else {
        const w = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        w?.reject(err);
      }
    }
  }

  private fail(e: Error): void {
    this.failure ??= e;
    this.onReady?.reject(e);
    for (const w of this.waiting.values()) w.reject(e);
    this.waiting.clear();
  }
}
