/**
 * One entry point from what a user gives as data — a path, values per input, or a dataset object of their own — to
 * an open dataset, for calibration, the INT4 sensitivity probe and validation alike.
 */
import { QuantError } from "../errors/errors.ts";
import { type CalibrationDataset, type DatasetSpec, type ModelInputInfo, openDatasetAsync } from "./dataset.ts";
import type { InputValue } from "./values.ts";
import type { DataSource } from "../kernel/dataset.ts";
export type { DataSource };

/** True for an object implementing {@link CalibrationDataset} (rather than values per input). */
export function isDataset(x: unknown): x is CalibrationDataset {
  const d = x as CalibrationDataset;
  return !!d && typeof d === "object" && typeof d.batch === "function" && typeof d.count === "number" && Array.isArray(d.inputs);
}

/** An opened data source: the dataset, who closes it, and which inputs get random values. */
export interface OpenedData {
  dataset: CalibrationDataset;
  /** Inputs fed random samples (none when a path or a dataset object is given). */
  random: string[];
  /** Close the dataset if it was opened here (a caller's dataset object is left open). */
  close(): void;
}

/** Open `data` (plus per-input `spec.inputs`, which take precedence) for the model `inputs`. */
export async function openData(data: DataSource | undefined, spec: Omit<DatasetSpec, "path">, inputs: ModelInputInfo[]): Promise<OpenedData> {
  if (isDataset(data)) {
    if (spec.inputs && Object.keys(spec.inputs).length) throw new QuantError("E_USAGE", "values per input (--input) cannot be combined with a dataset object: add them to the dataset");
    const missing = inputs.filter((i) => !data.inputs.includes(i.name));
    if (missing.length) throw new QuantError("E_DATA_REQUIRED", `the dataset has no data for input${missing.length > 1 ? "s" : ""} ${missing.map((i) => i.name).join(", ")}`, { target: missing[0]!.name });
    return { dataset: data, random: [], close() {} };
  }
  const values = typeof data === "object" && data ? { ...(data as Record<string, InputValue>), ...spec.inputs } : spec.inputs;
  const path = typeof data === "string" ? data : undefined;
  const dataset = await openDatasetAsync({ ...spec, path, inputs: values }, inputs);
  const random = path === undefined ? inputs.filter((i) => values?.[i.name] === undefined).map((i) => i.name) : [];
  return { dataset, random, close: () => dataset.close() };
}
