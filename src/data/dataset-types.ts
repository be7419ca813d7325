/**
 * The types every dataset shares (a model input, a batch, the dataset interface, an input's layout). The contract
 * itself is src/kernel/dataset.ts; this file re-exports it for the readers (array-dataset.ts, random-dataset.ts,
 * merged-dataset.ts) and the opener (dataset.ts), so none has to import another for a type, and adds layoutOf.
 */
import type { CalibrationDataset, InputLayout } from "../kernel/dataset.ts";
export type { Batch, CalibrationDataset, InputLayout, ModelInputInfo, SampleAxisSpec } from "../kernel/dataset.ts";

/** The layout of `input` in `ds` (datasets without `layout` stack every input on axis 0). */
export function layoutOf(ds: CalibrationDataset, input: string): InputLayout {
  return ds.layout?.(input) ?? { batchAxis: 0, varies: true };
}
