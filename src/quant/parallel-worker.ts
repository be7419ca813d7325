/**
 * Worker side of {@link quantizeInParallel} (parallel.ts): quantizes one weight per message with the same
 * {@link quantizeWeights} the main thread uses, and hands the integer values back as a transferred buffer.
 */
import { quantizeWeights, type QuantSpec } from "../tensor/quantize.ts";
import { isQuantError, reason } from "../errors/errors.ts";

/** A weight to quantize. */
export interface QuantizeRequest {
  id: number;
  data: Float32Array;
  dims: number[];
  spec: QuantSpec;
  name: string;
}

declare const self: Worker;

self.onmessage = (e: MessageEvent<QuantizeRequest>) => {
  const { id, data, dims, spec, name } = e.data;
  try {
    const q = quantizeWeights(data, dims, spec, name);
    self.postMessage({ id, q }, [q.values.buffer as ArrayBuffer]);
    // This worker holds nothing else: free the weight once this handler (which still references it) has returned,
    // before the next one arrives (collected inside the handler, it stayed alive: 2 weights per worker at the peak).
    setTimeout(() => Bun.gc(true), 0);
  } catch (err) {
    const error = isQuantError(err) ? { code: err.code, message: err.message, target: err.site.target } : { message: reason(err) };
    self.postMessage({ id, error });
  }
};
