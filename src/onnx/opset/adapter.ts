/**
 * The adapter contract: one adapter moves nodes of one operator across one of its version boundaries (e.g.
 * ReduceSum to version 13). Boundaries without an adapter are compatible: the newer schema only adds types or
 * attributes whose defaults keep the old behaviour (checked against the ONNX changelog for every op up to opset 22).
 */
import type { NodeProto } from "../types.ts";
import type { CheckContext, ConvertContext } from "./context.ts";

/** Moves a node of one operator to version `since`. */
export interface Adapter {
  /** The operator version this adapter produces (a since_version of the op). */
  since: number;
  /** Why this node cannot be converted safely, or undefined when it can. Must not change anything. */
  check?(node: NodeProto, ctx: CheckContext): string | undefined;
  /**
   * Rewrite the node in place (adding nodes or constants through `ctx`). Returns a short description of what changed,
   * or undefined when only the version moved. Never throws for a node whose check passed.
   */
  apply(node: NodeProto, ctx: ConvertContext): string | undefined;
  /**
   * When the adapter replaces the operator (Upsample → Resize, Scatter → ScatterElements, BatchNormalization with
   * spatial=0 → elementwise ops): the new op type and the opset whose schema of it the node then follows, so the
   * conversion continues from there. Called on the node as it is before `apply`.
   */
  becomes?(node: NodeProto, target: number): { op: string; reached: number } | undefined;
}

/** Adapters per op type. */
export type AdapterTable = Record<string, Adapter[]>;

/** Label of a node in messages: `Op "name"` (or its first output when unnamed). */
export function nodeLabel(node: NodeProto, op = node.op_type): string {
  const id = node.name || node.output?.[0];
  return id ? `${op} "${id}"` : `${op}`;
}

/** Input `i` of a node, or "" when absent. */
export function inputAt(node: NodeProto, i: number): string {
  return node.input?.[i] ?? "";
}

/** Set input `i`, padding skipped optional inputs with "". */
export function setInput(node: NodeProto, i: number, name: string): void {
  const inputs = (node.input ??= []);
  while (inputs.length < i) inputs.push("");
  inputs[i] = name;
}

/** Drop trailing empty optional inputs (a node's input list should not end with ""). */
export function trimInputs(node: NodeProto): void {
  const inputs = node.input ?? [];
  while (inputs.length && !inputs[inputs.length - 1]) inputs.pop();
}
