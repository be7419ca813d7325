/**
 * A user exporter, written outside quant's source tree: writes every integer tensor the quantizers produced as
 * safetensors — quantized weights (I8/U8; 4-bit values widened to one per byte), their zero points and int32 biases —
 * so another runtime can load them without parsing ONNX (the scales are in the `stats-json` exporter's output).
 *
 * Use it from a config file:  plugins: [normalize, weight-only, int8, onnx, ["./plugins/safetensors-exporter.ts", { path: "weights.safetensors" }]]
 */
import { defineExporter, encodeSafetensors, type SafetensorsInput } from "quant";

export default function safetensorsExporter(opts: { path?: string } = {}) {
  return defineExporter({
    name: "safetensors",
    options: { ...opts },
    export(state, ctx) {
      const path = opts.path ?? `${(ctx.options.output ?? "quant.onnx").replace(/\.onnx$/, "")}.safetensors`;
      const tensors: Record<string, SafetensorsInput> = {};
      for (const p of state.pending) {
        // The dtype follows the typed array (Int8Array → I8, Uint8Array → U8, Int32Array → I32 …).
        tensors[p.tensor.name!] = { data: p.values, dims: (p.tensor.dims ?? [p.values.length]).map(Number) };
      }
      ctx.logger.info(`${Object.keys(tensors).length} integer tensors → ${path}`);
      const chunks = encodeSafetensors(tensors, { format: "quant-int", source: state.original.path ?? "" });
      return [{ path, kind: "safetensors", data: Buffer.concat(chunks) }];
    },
  });
}
