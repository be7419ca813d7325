/**
 * Exporter of the quantized ONNX model. With `externalData` (or when the model would pass protobuf's 2 GiB limit)
 * tensor data goes to `<output>.<content hash>.data` beside it. Never replaces the input model or its data.
 */
import { resolve } from "node:path";
import { QuantError, defineExporter, saveModel, type OptionKeys } from "../../src/index.ts";

/** Options of the `onnx` exporter. */
export interface OnnxExporterOptions {
  /** Output path; defaults to the run's `output` option. */
  path?: string;
  /** Save with external data (default: the run's `externalData` option, else automatic). */
  externalData?: boolean;
  /** Tensors smaller than this stay inline when saving external data (bytes, default 1024). */
  threshold?: number;
}

/** The options this plugin takes: a config giving any other key is refused (E_CONFIG). */
export const optionKeys: OptionKeys<OnnxExporterOptions> = { path: true, externalData: true, threshold: true };

/** `onnx` exporter factory. */
export default function onnx(opts: OnnxExporterOptions = {}) {
  return defineExporter({
    name: "onnx",
    options: { ...opts },
    export(state, ctx) {
      const path = opts.path ?? ctx.options.output;
      if (!path) throw new QuantError("E_CONFIG", "no output path: pass -o/--output (or give the onnx exporter a path)");
      // The input and its data files are protected by identity (device + inode) when the file is written.
      const abs = resolve(path);
      // Unless told: external data when the input had some (a model that came as .onnx + .data stays that way).
      const ext = opts.externalData ?? ctx.options.externalData ?? ((state.model.external?.totalBytes() ?? 0) > 0 ? true : undefined);
      return [
        {
          path: abs,
          kind: "onnx",
          write: (p: string) => {
            const r = saveModel(state.model, p, { externalData: ext === undefined ? undefined : ext ? { threshold: opts.threshold } : false });
            return { bytes: r.bytes + r.dataBytes };
          },
        },
      ];
    },
  });
}
