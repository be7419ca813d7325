/**
 * Several datasets over disjoint inputs read as one (arrays for the inputs that have data, random samples for the
 * float inputs that do not): the same count, batches merged, layouts and descriptions delegated.
 */
import { QuantError } from "../errors/errors.ts";
import type { Batch, CalibrationDataset } from "./dataset-types.ts";
import type { InputLayout } from "./layout.ts";

/** Datasets over disjoint inputs, with the same sample count, read together. */
export class MergedDataset implements CalibrationDataset {
  readonly count: number;
  readonly inputs: readonly string[];

  constructor(private readonly parts: readonly CalibrationDataset[]) {
    this.count = parts[0]?.count ?? 0;
    if (parts.some((p) => p.count !== this.count)) throw new QuantError("E_CALIB_SAMPLES", `merged datasets disagree on the sample count (${parts.map((p) => p.count).join(" vs ")})`);
    this.inputs = parts.flatMap((p) => p.inputs);
  }

  batch(start: number, size: number): Batch {
    const out: Batch = {};
    for (const p of this.parts) Object.assign(out, p.batch(start, size));
    return out;
  }

  release(batch: Batch): void {
    for (const p of this.parts) {
      if (!p.release) continue;
      const own: Batch = {};
      for (const name of p.inputs) if (batch[name]) own[name] = batch[name]!;
      p.release(own);
    }
  }

  layout(input: string): InputLayout {
    const p = this.parts.find((x) => x.inputs.includes(input));
    return p?.layout?.(input) ?? { batchAxis: 0, varies: true };
  }

  describe(): string[] {
    return this.parts.flatMap((p) => p.describe?.() ?? []);
  }

  close(): void {
    for (const p of this.parts) p.close();
  }
}
