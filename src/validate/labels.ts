/**
 * Labels for `validate --labels`: a .npy of class indices in data order — `[N]` or `[N, 1]` of any integer type (or
 * floats holding integers), or `[N, C]` one-hot / scores (the argmax is the label). Anything else is E_DATA_FORMAT.
 */
import { QuantError } from "../errors/errors.ts";
import { readNpy } from "../data/npy.ts";
import { DataType } from "../tensor/dtypes.ts";
import type { Labels } from "./metrics-by-shape.ts";

/** Read labels from a .npy (see the module comment). */
export function readLabels(path: string): Labels {
  const { data, dims, type } = readNpy(path);
  if (type === DataType.FLOAT16 || (type === DataType.BOOL && dims.length !== 1))
    throw new QuantError("E_DATA_FORMAT", `--labels ${path}: store class indices as integers (got ${type === DataType.FLOAT16 ? "float16" : "bool"} [${dims.join(", ")}])`);
  const n = dims.length === 0 ? 0 : dims[0]!;
  const per = dims.length <= 1 ? 1 : dims.slice(1).reduce((a, b) => a * b, 1);
  if (n < 1 || dims.length > 2) throw new QuantError("E_DATA_FORMAT", `--labels ${path}: expected [N], [N, 1] or [N, C] labels, got [${dims.join(", ")}]`);
  const values = new Int32Array(n);
  const at = (i: number) => Number(data[i]!);
  for (let r = 0; r < n; r++) {
    if (per === 1) {
      const v = at(r);
      if (!Number.isInteger(v) || v < 0) throw new QuantError("E_DATA_FORMAT", `--labels ${path}: label ${r} is ${v}, not a class index`);
      values[r] = v;
    } else {
      let best = 0;
      for (let c = 1; c < per; c++) if (at(r * per + c) > at(r * per + best)) best = c;
      values[r] = best;
    }
  }
  return { values, source: path };
}
