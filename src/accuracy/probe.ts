/**
 * The probe: one model in which every quantized node can be switched between its quantized and its float inputs at
 * run time, so the isolated sensitivity of every node — and the output of any set of float nodes — is measured in
 * ONE onnxruntime session (one run per sample and configuration), not one session per candidate.
 *
 * Built from the fully quantized model: every input a node reads from a DequantizeLinear becomes
 * `float + gate · (dequantized − float)`, where `float` is the Q's input (an activation) or the original float constant (a
 * weight or bias, taken from the float model by node name and slot). Edges are grouped into units, one per node the
 * search may keep float — the same node an `exclude` of its name keeps float in the real placement:
 * - a node reading a dequantized weight, an integer-kernel op (Conv, MatMul, Gemm…) reading a DQ, or a node whose
 *   output is quantized again (QLinearAdd, QLinearConcat…) owns its own inputs;
 * - a float node reading a DQ (a Mul after a fused Conv, a PRelu, an output Sigmoid) belongs to the producer of the
 *   quantized value: that Q exists only so the producer fuses, and keeping the producer float removes it;
 * - a data-movement node between a weight's DQ and its reader (weight-only chains) belongs to that reader.
 * With every gate off the probe computes the float model; with all on, the quantized one (as fake quantization:
 * ORT cannot fuse through the gate, so the ranking is on fake-quant outputs and the search verifies its result on the
 * real, fused model).
 */
import type { Model } from "../onnx/model.ts";
import type { GraphProto, NodeProto, TensorProto } from "../onnx/types.ts";
import { cloneModel } from "../onnx/codec.ts";
import { valueInfo } from "../onnx/builder.ts";
import { DataType } from "../tensor/dtypes.ts";

/** Ops whose integer kernels read DQ outputs directly: reading a DQ makes them quantized even without a Q after. */
const KERNEL_OPS = new Set(["Conv", "ConvTranspose", "MatMul", "Gemm", "Gather", "LSTM", "GRU", "RNN", "MatMulNBits"]);
/** Single-input ops a quantized value may pass through before a float reader (ORT deletes Relu/Clip into the Q). */
const FOLLOW_OPS = new Set(["Relu", "Clip"]);

/** A node the search may keep float, and its gate input. */
export interface ProbeUnit {
  node: string;
  opType: string;
  /** Float scalar graph input: 1 = this node's inputs are the quantized ones, 0 = the float ones. */
  gate: string;
  /** Gated edges. */
  edges: number;
}

/** The probe model and its units, in graph order. */
export interface Probe {
  model: Model;
  units: ProbeUnit[];
  /** Gated edges no unit owns (always quantized in the probe). */
  unowned: number;
}

const isQ = (n: NodeProto | undefined) => !!n && !n.domain && n.op_type === "QuantizeLinear";
const isDQ = (n: NodeProto | undefined) => !!n && !n.domain && n.op_type === "DequantizeLinear";

/**
 * Build the probe from the float model (after the passes, before quantization) and the fully quantized one (packed).
 * Node names must be unique and shared by both models (the quantizers keep node names).
 */
export function buildProbe(float: Model, quantized: Model): Probe {
  const probe = cloneModel(quantized);
  const g = probe.proto.graph as GraphProto;
  const fg = float.proto.graph as GraphProto;
  const floatNode = new Map((fg.node ?? []).filter((n) => n.name).map((n) => [n.name!, n]));
  const floatInit = new Map((fg.initializer ?? []).filter((t) => t.name).map((t) => [t.name!, t]));
  const inits = new Map((g.initializer ?? []).map((t) => [t.name ?? "", t]));
  const producer = new Map<string, NodeProto>();
  const readers = new Map<string, NodeProto[]>();
  for (const n of g.node ?? []) {
    for (const o of n.output ?? []) if (o) producer.set(o, n);
    for (const i of n.input ?? []) if (i) (readers.get(i) ?? readers.set(i, []).get(i)!).push(n);
  }
  const nodes = (g.node ?? []).filter((n) => !isQ(n) && !isDQ(n));
  const dqEdges = (n: NodeProto) => (n.input ?? []).map((x, s) => ({ s, d: x ? producer.get(x) : undefined })).filter((e) => isDQ(e.d));
  const weightDQ = (d: NodeProto) => inits.has(d.input?.[0] ?? "");
  const outputQuantized = (n: NodeProto) => (n.output ?? []).some((o) => !!o && (readers.get(o) ?? []).some(isQ));
  const candidate = (n: NodeProto) => {
    const e = dqEdges(n);
    return !!e.length && !!n.name && (KERNEL_OPS.has(n.op_type ?? "") || outputQuantized(n) || e.some((x) => weightDQ(x.d!)));
  };
  const candidates = new Set(nodes.filter(candidate));

  /** The unit an edge belongs to, or undefined. */
  const ownerOf = (n: NodeProto, d: NodeProto): NodeProto | undefined => {
    if (candidates.has(n)) return n;
    if (weightDQ(d)) {
      // A chain between a weight's DQ and its reader: follow single readers to the node that owns the weight.
      let at = n;
      for (let hop = 0; hop < 6; hop++) {
        const r = readers.get(at.output?.[0] ?? "") ?? [];
        if (r.length !== 1) return undefined;
        if (candidates.has(r[0]!)) return r[0];
        at = r[0]!;
      }
      return undefined;
    }
    // A float reader of a quantized activation: the unit of whoever produced it (through a Relu/Clip ORT deletes).
    const q = producer.get(d.input?.[0] ?? "");
    let p = isQ(q) ? producer.get(q!.input?.[0] ?? "") : undefined;
    for (let hop = 0; p && !candidates.has(p) && FOLLOW_OPS.has(p.op_type ?? "") && hop < 3; hop++) p = producer.get(p.input?.[0] ?? "");
    return p && candidates.has(p) ? p : undefined;
  };

  /** The float value an edge reads when its gate is off, or undefined (edge not gateable). */
  const added = new Map<string, string>();
  const floatSource = (n: NodeProto, s: number, d: NodeProto): string | undefined => {
    const q = producer.get(d.input?.[0] ?? "");
    if (isQ(q)) return q!.input?.[0] || undefined;
    const fn = floatNode.get(n.name ?? "");
    const orig = fn?.input?.[s];
    const t = orig ? floatInit.get(orig) : undefined;
    if (!t || t.data_type !== DataType.FLOAT) return undefined;
    let name = added.get(t.name!);
    if (!name) {
      name = unique(`${t.name}__float`);
      added.set(t.name!, name);
      const copy: TensorProto = { ...t, name };
      (g.initializer ??= []).push(copy);
    }
    return name;
  };
  const taken = new Set<string>([...producer.keys(), ...inits.keys(), ...(g.input ?? []).map((i) => i.name ?? "")]);
  const unique = (base: string) => {
    let name = base;
    for (let i = 1; taken.has(name); i++) name = `${base}_${i}`;
    taken.add(name);
    return name;
  };

  const unitOf = new Map<NodeProto, ProbeUnit>();
  let unowned = 0;
  const where: { before: NodeProto; node: NodeProto }[] = [];
  for (const n of nodes) {
    for (const { s, d } of dqEdges(n)) {
      const owner = ownerOf(n, d!);
      const src = owner ? floatSource(n, s, d!) : undefined;
      if (!owner || !src) {
        unowned++;
        continue;
      }
      let u = unitOf.get(owner);
      if (!u) {
        u = { node: owner.name!, opType: owner.op_type ?? "", gate: unique(`__quant_gate_${unitOf.size}`), edges: 0 };
        unitOf.set(owner, u);
        (g.input ??= []).push(valueInfo(u.gate, DataType.FLOAT, []));
      }
      u.edges++;
      const out = unique(`${n.input![s]}__gated`);
      // float + gate·(dequantized − float): exactly the float value at gate 0; ORT's scalar-broadcast Mul/Add are
      // fast paths, where a Where with a scalar condition runs its generic broadcast (2× slower on fr_feature).
      const diff = unique(`${out}_diff`), scaled = unique(`${out}_scaled`);
      where.push(
        { before: n, node: { op_type: "Sub", name: unique(`${diff}_Sub`), input: [n.input![s]!, src], output: [diff] } },
        { before: n, node: { op_type: "Mul", name: unique(`${scaled}_Mul`), input: [u.gate, diff], output: [scaled] } },
        { before: n, node: { op_type: "Add", name: unique(`${out}_Add`), input: [src, scaled], output: [out] } },
      );
      n.input![s] = out;
    }
  }
  // Each gate goes right before its reader: its inputs (the DQ and the float value) are produced earlier.
  const before = new Map<NodeProto, NodeProto[]>();
  for (const w of where) (before.get(w.before) ?? before.set(w.before, []).get(w.before)!).push(w.node);
  g.node = (g.node ?? []).flatMap((n) => [...(before.get(n) ?? []), n]);
  const order = new Map((g.node ?? []).map((n, i) => [n, i]));
  const units = [...unitOf.entries()].sort((a, b) => order.get(a[0])! - order.get(b[0])!).map(([, u]) => u);
  return { model: probe, units, unowned };
}
