/**
 * The run's data as plugins get it (`ctx.data`): the runner holds the data options, opens the data when a plugin
 * (or the calibrate phase) first asks, hands the same dataset to every request alike, and closes everything it opened
 * when the run ends — so no plugin sees paths in its options or has to close what it did not open.
 */
import type { DataRequest, ModelInputInfo, OpenedRunData, RunData } from "../kernel/dataset.ts";
import type { DataOptions } from "../kernel/options.ts";

/** {@link RunData} plus what only the runner may do: close every dataset it opened. */
export interface RunDataHandle extends RunData {
  close(): Promise<void>;
}

/** The run's data over `options`; nothing is opened until a request comes. */
export function createRunData(options: DataOptions): RunDataHandle {
  const { statsIn: _in, statsOut: _out, ...source } = options;
  const opened = new Map<string, Promise<OpenedRunData & { close(): void }>>();
  const open = async (inputs: readonly ModelInputInfo[], request: DataRequest = {}): Promise<OpenedRunData> => {
    const samples = request.samples ?? options.samples;
    // Same inputs, same count: the same dataset (batches are read by index, so sharing is safe).
    const key = JSON.stringify([inputs.map((i) => [i.name, i.elemType, i.shape]), samples, request.maxSamples]);
    let p = opened.get(key);
    if (!p) {
      const { openData } = await import("../data/open.ts");
      p = openData(
        options.data,
        {
          inputs: options.inputs,
          sampleAxis: options.sampleAxis,
          samples,
          maxSamples: request.maxSamples,
          shapes: options.shapes,
          seed: options.seed,
          images: typeof options.images === "string" ? { preset: options.images } : options.images,
          announce: request.announce,
        },
        [...inputs],
      );
      opened.set(key, p);
      // A failed open is not cached: the next request tries again (and reports its own error).
      p.catch(() => opened.delete(key));
    }
    const o = await p;
    return { dataset: o.dataset, random: o.random };
  };
  return {
    given: Boolean(options.data || options.inputs),
    samples: options.samples,
    options: source,
    open,
    async close() {
      const all = [...opened.values()];
      opened.clear();
      for (const p of all) await p.then((o) => o.close(), () => {});
    },
  };
}
