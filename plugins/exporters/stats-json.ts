/**
 * Exporter of the quantization parameters as JSON: for every DequantizeLinear on a constant, its scale(s),
 * zero point(s), axis and block size; plus the calibrated activation ranges. Meant for inspection and for other
 * runtimes that want the parameters without parsing ONNX.
 */
import {
  allGraphs, defineExporter, num, tensorDims, tensorFloat32, tensorInts, type Model, type TensorProto, type OptionKeys } from "../../src/index.ts";

/** Options of the `stats-json` exporter. */
export interface StatsJsonOptions {
  /** Output path (default `<output>.stats.json`). */
  path?: string;
}

/** The options this plugin takes: a config giving any other key is refused (E_CONFIG). */
export const optionKeys: OptionKeys<StatsJsonOptions> = { path: true };

/** One DequantizeLinear's parameters. */
export interface DqParams {
  tensor: string;
  output: string;
  graph: string;
  dims: number[];
  axis?: number;
  blockSize?: number;
  scale: number[];
  zeroPoint: number[];
}

/** Collect the parameters of every DequantizeLinear whose inputs are initializers. */
export function collectDqParams(model: Model): DqParams[] {
  const out: DqParams[] = [];
  for (const site of allGraphs(model.proto)) {
    const inits = new Map<string, TensorProto>();
    for (const t of site.graph.initializer ?? []) if (t.name) inits.set(t.name, t);
    for (const n of site.graph.node ?? []) {
      if (n.op_type !== "DequantizeLinear" || (n.domain && n.domain !== "ai.onnx")) continue;
      const [x, s, z] = n.input ?? [];
      const xt = x ? inits.get(x) : undefined;
      const st = s ? inits.get(s) : undefined;
      if (!xt || !st) continue;
      const zt = z ? inits.get(z) : undefined;
      const attr = (name: string) => n.attribute?.find((a) => a.name === name);
      out.push({
        tensor: x!,
        output: n.output?.[0] ?? "",
        graph: site.path,
        dims: tensorDims(xt),
        axis: attr("axis") ? num(attr("axis")!.i) : undefined,
        blockSize: attr("block_size") ? num(attr("block_size")!.i) : undefined,
        scale: Array.from(tensorFloat32(model, st)),
        zeroPoint: zt ? zeroPoints(model, zt) : [],
      });
    }
  }
  return out;
}

function zeroPoints(model: Model, t: TensorProto): number[] {
  const type = t.data_type;
  // 4-bit zero points are packed two per byte.
  if (type === 21 || type === 22) {
    const bytes = t.raw_data ?? new Uint8Array();
    const n = tensorDims(t).reduce((a, b) => a * b, 1);
    const vals: number[] = [];
    for (let i = 0; i < n; i++) {
      const nib = (bytes[i >> 1]! >> ((i & 1) * 4)) & 15;
      vals.push(type === 22 ? ((nib ^ 8) - 8) : nib);
    }
    return vals;
  }
  return tensorInts(model, t);
}

/** `stats-json` exporter factory. */
export default function statsJson(opts: StatsJsonOptions = {}) {
  return defineExporter({
    name: "stats-json",
    options: { ...opts },
    export(state, ctx) {
      const base = ctx.options.output?.replace(/\.onnx$/, "") ?? "quant";
      const path = opts.path ?? `${base}.stats.json`;
      const doc = {
        format: "quant-params",
        version: 1,
        weights: collectDqParams(state.model),
        activations: Object.fromEntries([...state.ranges].map(([k, r]) => [k, { min: r.min, max: r.max }])),
      };
      return [{ path, kind: "stats-json", data: JSON.stringify(doc, null, 1) }];
    },
  });
}
