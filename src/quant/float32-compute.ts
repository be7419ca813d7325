/**
 * Float32 compute for float16 / bfloat16 models, for static quantization.
 *
 * ONNX Runtime's CPU provider fuses DequantizeLinear → Conv → QuantizeLinear into QLinearConv only when the Q/DQ
 * carry float32 scales. With float16 scales (opset 19) it keeps the Q/DQ nodes, inserts Casts around every float16
 * op it has no kernel for, and the model gets slower than the float16 original (bench/fp16-qdq.ts, 4 Conv 64→64
 * 3×3 at 56×56, 1 thread, two runs on a busy machine: fp16 6.7 / 16.6 ms, fp16-scale QDQ 13.7 / 58.5 ms with no
 * QLinearConv, float32 QDQ between Casts 2.1 / 11.6 ms with 4 of 4 QLinearConv, same SQNR). So the graph's arithmetic
 * is retyped to float32 before placement:
 * - float16/bfloat16 initializers stay in their type in the file (no size growth) behind a Cast to float32, which
 *   ONNX Runtime folds at load; placement sees through that Cast, so quantized weights are read from the fp16 data;
 * - Cast(to=float16/bfloat16) becomes Cast(to=float), Constant/ConstantOfShape values and dtype attributes too,
 *   declared value types of every graph (subgraph inputs/outputs included) become float;
 * - the main graph's inputs and outputs keep their declared types: a Cast after each float16 input, before each
 *   float16 output, so callers feed and receive exactly what they did;
 * - Casts that became float → float are bypassed (float16 exports wrap ops without float16 kernels, e.g. Resize, in
 *   such Casts; left in place they would split the quantized region).
 */
import type { Model } from "../onnx/model.ts";
import { GraphIndex, constantTensor } from "../onnx/graph.ts";
import { makeTensor, tensorDims, tensorFloat32 } from "../onnx/tensor-data.ts";
import { replaceUsesMany } from "../onnx/graph-edit.ts";
import type { GraphProto, NodeProto, TypeProto } from "../onnx/types.ts";
import { AttributeType, num } from "../onnx/types.ts";
import { allGraphs } from "../onnx/walk.ts";
import { DataType, dataTypeName } from "../tensor/dtypes.ts";
import { elementTypes } from "../onnx/elem-types.ts";

/** What {@link computeInFloat32} changed. */
export interface Float32ComputeReport {
  /** The half types found (FLOAT16 and/or BFLOAT16). */
  readonly types: string[];
  /** Half-precision initializers kept in their type behind a Cast. */
  readonly weights: number;
  /** Main-graph inputs and outputs that got a Cast to keep their declared type. */
  readonly boundaryCasts: number;
  /** Casts to a half type retyped to float, and no-op Casts bypassed. */
  readonly retypedCasts: number;
  readonly bypassedCasts: number;
}

const HALF: ReadonlySet<number> = new Set([DataType.FLOAT16, DataType.BFLOAT16]);
/** Ops whose `dtype` attribute sets their output type. */
const DTYPE_OPS = new Set(["EyeLike", "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli", "SequenceEmpty"]);

const isDefault = (n: NodeProto) => !n.domain || n.domain === "ai.onnx";
const attr = (n: NodeProto, name: string) => n.attribute?.find((a) => a.name === name);

/** Set every half element type inside a type to float; true when something changed. */
function retype(t: TypeProto | undefined, found: Set<number>): boolean {
  if (!t) return false;
  let changed = false;
  for (const tt of [t.tensor_type, t.sparse_tensor_type]) {
    if (tt?.elem_type !== undefined && HALF.has(tt.elem_type)) {
      found.add(tt.elem_type);
      tt.elem_type = DataType.FLOAT;
      changed = true;
    }
  }
  changed = retype(t.sequence_type?.elem_type, found) || changed;
  changed = retype(t.optional_type?.elem_type, found) || changed;
  return retype(t.map_type?.value_type, found) || changed;
}

/** True when the model computes in a half type anywhere (declared types, initializers, Casts, constants). */
export function hasHalfCompute(model: Model): boolean {
  const probe = new Set<number>();
  const half = (t: TypeProto | undefined) => retype(t ? structuredClone(t) : undefined, probe);
  for (const { graph: g } of allGraphs(model.proto)) {
    if ((g.initializer ?? []).some((t) => HALF.has(t.data_type ?? 0))) return true;
    if ([...(g.input ?? []), ...(g.output ?? []), ...(g.value_info ?? [])].some((v) => half(v.type))) return true;
    for (const n of g.node ?? []) {
      if (!isDefault(n)) continue;
      if (n.op_type === "Cast" && HALF.has(num(attr(n, "to")?.i ?? 0))) return true;
      if (n.op_type === "Constant" && HALF.has(constantTensor(n)?.data_type ?? 0)) return true;
      if (n.op_type === "ConstantOfShape" && HALF.has(attr(n, "value")?.t?.data_type ?? 0)) return true;
      if (DTYPE_OPS.has(n.op_type ?? "") && HALF.has(num(attr(n, "dtype")?.i ?? 0))) return true;
    }
  }
  return false;
}

/**
 * Point every read of `from` in `g` at `to`, in subgraphs that read it from outside too — their outputs included (a
 * branch returning the outer value), so the retyped interface matches.
 */
function renameReads(g: GraphProto, from: string, to: string, skip?: NodeProto): void {
  replaceUsesMany(g, new Map([[from, to]]), skip ? { filter: (n) => n !== skip } : {});
}

const cast = (name: string, input: string, output: string, to: number): NodeProto => ({
  op_type: "Cast", name, input: [input], output: [output], attribute: [{ name: "to", type: AttributeType.INT, i: to }],
});

/**
 * Retype a half-precision model's computation to float32 in place (see the file comment); undefined when the model
 * has no half-precision computation (nothing changed). Main-graph nodes come out in topological order.
 */
export function computeInFloat32(model: Model): Float32ComputeReport | undefined {
  const main = model.proto.graph;
  if (!main || !hasHalfCompute(model)) return undefined;
  const index = new GraphIndex(model);
  main.node = index.topoOrder(main);
  const found = new Set<number>();
  let weights = 0, boundaryCasts = 0, retypedCasts = 0, bypassedCasts = 0;
  for (const site of allGraphs(model.proto)) {
    const g = site.graph;
    const isMain = g === main;
    const front: NodeProto[] = [];
    const after = new Map<NodeProto, NodeProto[]>();
    // An IR ≥ 4 initializer that is also a main-graph input is that input's default: handled with the inputs.
    const inputs = new Set((g.input ?? []).map((v) => v.name ?? ""));
    for (const t of g.initializer ?? []) {
      if (!HALF.has(t.data_type ?? 0) || !t.name || (isMain && inputs.has(t.name))) continue;
      found.add(t.data_type!);
      const value = t.name;
      t.name = index.uniqueName(`${value}_${dataTypeName(t.data_type!).toLowerCase()}`);
      front.push(cast(index.uniqueName(`${value}_to_float`), t.name, value, DataType.FLOAT));
      weights++;
    }
    for (const n of g.node ?? []) {
      if (!isDefault(n)) continue;
      const op = n.op_type ?? "";
      if (op === "Cast") {
        const to = attr(n, "to");
        if (to && HALF.has(num(to.i ?? 0))) {
          found.add(num(to.i!));
          to.i = DataType.FLOAT;
          retypedCasts++;
        }
      } else if (op === "Constant") {
        const t = constantTensor(n);
        const out = n.output?.[0];
        if (!t || !out || !HALF.has(t.data_type ?? 0)) continue;
        found.add(t.data_type!);
        const stored = index.uniqueName(`${out}_${dataTypeName(t.data_type!).toLowerCase()}`);
        n.output![0] = stored;
        after.set(n, [cast(index.uniqueName(`${out}_to_float`), stored, out, DataType.FLOAT)]);
      } else if (op === "ConstantOfShape") {
        const a = attr(n, "value");
        if (a?.t && HALF.has(a.t.data_type ?? 0)) {
          found.add(a.t.data_type!);
          a.t = makeTensor(a.t.name ?? "", DataType.FLOAT, tensorDims(a.t), tensorFloat32(model, a.t));
        }
      } else if (DTYPE_OPS.has(op)) {
        const a = attr(n, "dtype");
        if (a && HALF.has(num(a.i ?? 0))) {
          found.add(num(a.i!));
          a.i = DataType.FLOAT;
        }
      }
    }
    for (const v of g.value_info ?? []) retype(v.type, found);
    if (!isMain) for (const v of [...(g.input ?? []), ...(g.output ?? [])]) retype(v.type, found);
    if (front.length || after.size) g.node = [...front, ...(g.node ?? []).flatMap((n) => [n, ...(after.get(n) ?? [])])];
  }

  // Main-graph inputs: the declared type stays, readers get a float copy.
  const inputCasts: NodeProto[] = [];
  for (const v of main.input ?? []) {
    const type = v.type?.tensor_type?.elem_type ?? 0;
    if (!v.name || !HALF.has(type)) continue;
    found.add(type);
    const f = index.uniqueName(`${v.name}_float`);
    renameReads(main, v.name, f);
    inputCasts.push(cast(index.uniqueName(`${v.name}_to_float`), v.name, f, DataType.FLOAT));
    boundaryCasts++;
  }
  main.node = [...inputCasts, ...(main.node ?? [])];
  // Main-graph outputs: the producer writes a float value, a Cast gives the declared type back.
  for (const v of main.output ?? []) {
    const type = v.type?.tensor_type?.elem_type ?? 0;
    if (!v.name || !HALF.has(type)) continue;
    const nodes = main.node;
    const at = nodes.findIndex((n) => (n.output ?? []).includes(v.name!));
    if (at < 0) continue; // a graph input passed through keeps its type
    found.add(type);
    const f = index.uniqueName(`${v.name}_float`);
    const p = nodes[at]!;
    p.output = p.output!.map((o) => (o === v.name ? f : o));
    renameReads(main, v.name, f);
    nodes.splice(at + 1, 0, cast(index.uniqueName(`${v.name}_to_${dataTypeName(type).toLowerCase()}`), f, v.name, type));
    boundaryCasts++;
  }
  bypassedCasts = bypassNoOpCasts(model, main);
  return { types: [...found].sort().map(dataTypeName), weights, boundaryCasts, retypedCasts, bypassedCasts };
}

/** Remove main-graph Casts from float to float (not a graph output's producer); returns how many. */
function bypassNoOpCasts(model: Model, main: GraphProto): number {
  const types = elementTypes(model.proto.graph ?? {});
  const outputs = new Set((main.output ?? []).map((o) => o.name));
  const drop = new Set<NodeProto>();
  for (const n of main.node ?? []) {
    if (n.op_type !== "Cast" || !isDefault(n) || num(attr(n, "to")?.i ?? 0) !== DataType.FLOAT) continue;
    const [x] = n.input ?? [];
    const y = n.output?.[0];
    if (!x || !y || outputs.has(y) || types.get(x) !== DataType.FLOAT) continue;
    renameReads(main, y, x, n);
    drop.add(n);
  }
  if (drop.size) {
    main.node = (main.node ?? []).filter((n) => !drop.has(n));
    const gone = new Set<string | undefined>([...drop].map((n) => n.output![0]));
    main.value_info = (main.value_info ?? []).filter((v) => !gone.has(v.name));
  }
  return drop.size;
}
