/**
 * `fidelity` validator: the float and the quantized model compared on the same inputs in onnxruntime-node (the
 * measurement is `measureFidelity` of the public API); an output below `minSqnrDb` (default 20 dB on real data) is an
 * error; with `labels`, labelled top-1 of both models.
 */
import { defineValidator, fidelityDiagnostics, measureFidelity, type FidelityOptions, type OptionKeys } from "../../src/index.ts";

/** The options this plugin takes: a config giving any other key is refused (E_CONFIG). */
export const optionKeys: OptionKeys<FidelityOptions> = { data: true, samples: true, detailed: true, minSqnrDb: true, shapes: true, seed: true, images: true, inputs: true, sampleAxis: true, labels: true };

/** The `fidelity` validator plugin. Data, samples, shapes and seed default to the run's data options (`ctx.data`). */
export default function fidelity(opts: FidelityOptions = {}) {
  return defineValidator({
    name: "fidelity",
    options: { ...opts },
    async validate(state, ctx) {
      const o = ctx.data?.options ?? { seed: 0 };
      const report = await measureFidelity(state.original, state.model, {
        data: opts.data ?? o.data,
        inputs: opts.inputs ?? o.inputs,
        sampleAxis: opts.sampleAxis ?? o.sampleAxis,
        samples: opts.samples ?? o.samples,
        detailed: opts.detailed,
        shapes: opts.shapes ?? o.shapes,
        seed: opts.seed ?? o.seed,
        images: opts.images ?? o.images,
        labels: opts.labels,
        logger: ctx.logger,
        onProgress: (d, t) => ctx.progress(d, t, "samples"),
      });
      return fidelityDiagnostics(report, opts.minSqnrDb);
    },
  });
}
