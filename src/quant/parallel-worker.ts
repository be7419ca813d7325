/**
 * Worker side of {@link quantizeInParallel} (parallel.ts): quantizes one weight per message with the same
 * {@link quantizeWeights} the main thread uses, and hands the integer values back as a transferred buffer.
 */
import { quantizeWeights, type QuantSpec } from "../tensor/quantize.ts";
import { isQuantError, reason } from "../kernel/errors.ts";
import { dropped } from "../onnx/spill.ts";

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
    dropped(data.byteLength, 0); // this worker holds nothing else: free the weight now
  } catch (err) {
    const error = isQuantError(err) ? { code: err.code, message: err.message, target: err.site.target } : { message: reason(err) };
    self.postMessage({ id, error });
  }
};
