/**
 * Stored bytes of a model's constants (initializers and Constant nodes, in every graph), grouped by tensor type and by
 * the op type that consumes them — looking through Q/DQ and data-movement ops, so an INT8 weight behind a
 * DequantizeLinear counts for its Conv, like the float weight it replaced.
 */
import type { Model } from "../onnx/model.ts";
import type { GraphProto, NodeProto, TensorProto } from "../onnx/types.ts";
import { allGraphs } from "../onnx/walk.ts";
import { storedByteLength } from "../onnx/weights.ts";
import { DATA_MOVEMENT_OPS } from "../onnx/weight-chain.ts";
import { dataTypeName } from "../tensor/dtypes.ts";
import type { SizeBreakdown } from "./types.ts";

const PASS_THROUGH = new Set([...DATA_MOVEMENT_OPS, "QuantizeLinear", "DequantizeLinear"]);

const opName = (n: NodeProto) => (n.domain && n.domain !== "ai.onnx" ? `${n.domain}.${n.op_type}` : (n.op_type ?? "?"));

/** The op type a value ends up in: the first consumer that is not Q/DQ or data movement (bounded walk). */
function consumingOp(name: string, readers: Map<string, NodeProto[]>): string {
  let frontier = [name];
  for (let depth = 0; depth < 8 && frontier.length; depth++) {
    const next: string[] = [];
    for (const v of frontier)
      for (const n of readers.get(v) ?? []) {
        if (!PASS_THROUGH.has(n.op_type ?? "") || (n.domain && n.domain !== "ai.onnx")) return opName(n);
        next.push(...(n.output ?? []).filter(Boolean));
      }
    frontier = next;
  }
  return "(none)";
}

function add(m: Record<string, number>, k: string, v: number) {
  m[k] = (m[k] ?? 0) + v;
}

/** The size breakdown of a model's stored constants. */
export function sizeBreakdown(model: Model): SizeBreakdown {
  const out: SizeBreakdown = { total: 0, byDtype: {}, byOpType: {} };
  for (const { graph } of allGraphs(model.proto)) {
    const readers = readersOf(graph);
    const count = (t: TensorProto, name: string) => {
      const bytes = storedByteLength(t);
      out.total += bytes;
      add(out.byDtype, dataTypeName(t.data_type ?? 0).toLowerCase(), bytes);
      add(out.byOpType, consumingOp(name, readers), bytes);
    };
    for (const t of graph.initializer ?? []) count(t, t.name ?? "");
    for (const n of graph.node ?? []) {
      if (n.op_type !== "Constant" || (n.domain && n.domain !== "ai.onnx")) continue;
      const t = (n.attribute ?? []).find((a) => a.name === "value")?.t;
      if (t && n.output?.[0]) count(t, n.output[0]);
    }
  }
  return out;
}

function readersOf(graph: GraphProto): Map<string, NodeProto[]> {
  const m = new Map<string, NodeProto[]>();
  for (const n of graph.node ?? [])
    for (const i of n.input ?? []) {
      if (!i) continue;
      const list = m.get(i);
      if (list) list.push(n);
      else m.set(i, [n]);
    }
  return m;
}
