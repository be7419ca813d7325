/**
 * Opset conversion of the default ONNX domain ("" / "ai.onnx"), in place, in two phases: every node of every scope
 * (main graph, subgraphs, training graphs, local functions importing the default domain) is checked first, and
 * only when all can be converted is anything changed. A failure is one `E_OPSET` QuantError naming each op (and
 * node) that blocks the conversion. Nodes of other domains are left alone.
 *
 * Upward conversion goes from opset >= 7 to <= 22 through the adapters in ./adapters (each tested to compute the
 * same outputs in ONNX Runtime). Downward conversion is only done when it is trivially safe: no operator used by
 * the model has a different schema version at the target opset, so only the opset number changes.
 *
 * @example
 * const model = loadModel("old.onnx");
 * const { from, to, converted } = convertOpset(model, 21);
 */
import { QuantError, reason } from "../../errors/errors.ts";
import type { Model } from "../model.ts";
import type { NodeProto } from "../types.ts";
import { num } from "../types.ts";
import { nodeLabel } from "./adapter.ts";
import { ConvertContext, NameGen } from "./context.ts";
import { conversionSteps, type Step } from "./registry.ts";
import { collectScopes, defaultOpset, isDefaultDomain, ScopeIndex, scopeNodes, type Scope } from "./scope.ts";
import { DEPRECATED_SINCE, irVersionFor, MAX_OPSET, MIN_SOURCE_OPSET, OP_VERSIONS, schemaVersion } from "./versions.ts";

export { MAX_OPSET, MIN_SOURCE_OPSET, irVersionFor, schemaVersion } from "./versions.ts";

/** Result of {@link convertOpset}. */
export interface OpsetConversion {
  /** Default-domain opset the model imported before (0 when it imported none). */
  from: number;
  /** Opset it imports now. */
  to: number;
  /** One line per node whose signature or semantics had to be rewritten (nodes that only changed version are not listed). */
  converted: string[];
}

interface Plan {
  scope: Scope;
  index: ScopeIndex;
  steps: Map<NodeProto, Step[]>;
}

/** Collects problems grouped by op and reason, for one readable message. */
class Problems {
  private groups = new Map<string, { op: string; reason: string; ids: string[] }>();
  add(node: NodeProto, op: string, reason: string) {
    const key = `${op}\u0000${reason}`;
    const g = this.groups.get(key) ?? { op, reason, ids: [] };
    this.groups.set(key, g);
    const id = node.name || node.output?.[0];
    if (id) g.ids.push(`"${id}"`);
  }
  get size() {
    return this.groups.size;
  }
  toString() {
    return [...this.groups.values()]
      .map(({ op, reason, ids }) => `${op}${ids.length ? ` ${ids.slice(0, 4).join(", ")}${ids.length > 4 ? ` (+${ids.length - 4} more)` : ""}` : ""}: ${reason}`)
      .join("; ");
  }
}

function checkNode(node: NodeProto, scope: Scope, index: ScopeIndex, target: number, problems: Problems): Step[] | undefined {
  const op = node.op_type ?? "";
  const from = scope.from;
  if (!OP_VERSIONS.has(op)) return void problems.add(node, op, "not an ai.onnx operator quant knows");
  if (schemaVersion(op, from) === undefined) return void problems.add(node, op, `does not exist at opset ${from}`);
  const deprecated = DEPRECATED_SINCE.get(op);
  if (deprecated !== undefined && deprecated <= from) return void problems.add(node, op, `deprecated since opset ${deprecated} (the model is invalid)`);
  if (from > target) {
    if (schemaVersion(op, target) !== schemaVersion(op, from))
      problems.add(node, op, `its schema differs between opset ${target} and ${from}; downward conversion only changes the opset number`);
    return undefined;
  }
  const steps = conversionSteps(node, from, target);
  const adapted = steps.filter((s) => s.adapter);
  if (adapted.length && node.attribute?.some((a) => a.ref_attr_name))
    problems.add(node, op, "its attributes refer to function attributes, which cannot be rewritten");
  for (const s of adapted) {
    const why = s.adapter!.check?.(node, { index, from, target });
    if (why) problems.add(node, s.op, why);
  }
  return adapted.length ? steps : undefined;
}

/**
 * Convert the default-domain opset of `model` to `target`, in place. Throws QuantError `E_OPSET` (and changes
 * nothing) when the target is out of range or any node cannot be converted safely.
 */
export function convertOpset(model: Model, target: number): OpsetConversion {
  const proto = model.proto;
  const file = model.path;
  if (!Number.isInteger(target) || target < MIN_SOURCE_OPSET || target > MAX_OPSET)
    throw new QuantError("E_OPSET", `target opset ${target} is not supported (quant converts between opsets ${MIN_SOURCE_OPSET} and ${MAX_OPSET})`, { file });
  const originalIr = num(proto.ir_version);
  const from = defaultOpset(proto.opset_import);
  if (from === undefined) {
    // Nothing uses the default domain yet: importing it changes no computation.
    (proto.opset_import ??= []).push({ domain: "", version: target });
    raiseIr(model, target);
    return { from: 0, to: target, converted: [] };
  }
  const functionsAt = (proto.functions ?? []).map((f) => defaultOpset(f.opset_import));
  if (from === target && functionsAt.every((v) => v === undefined || v === target)) {
    raiseIr(model, target);
    return { from, to: target, converted: [] };
  }
  if (from < MIN_SOURCE_OPSET)
    throw new QuantError("E_OPSET", `the model is at opset ${from}; quant converts from opset ${MIN_SOURCE_OPSET} on (ONNX Runtime, which verifies conversions, starts there too)`, { file });

  // Phase 1: check everything, change nothing.
  const scopes = collectScopes(proto, from);
  const problems = new Problems();
  const indexes = new Map<Scope, ScopeIndex>();
  const plans: Plan[] = [];
  for (const scope of scopes) {
    if (scope.from < MIN_SOURCE_OPSET) {
      problems.add({ name: scope.path }, "function", `imports opset ${scope.from}, below ${MIN_SOURCE_OPSET}`);
      continue;
    }
    const index = new ScopeIndex(scope, model, scope.parent && indexes.get(scope.parent), originalIr);
    indexes.set(scope, index);
    const steps = new Map<NodeProto, Step[]>();
    for (const node of scopeNodes(scope)) {
      if (!isDefaultDomain(node.domain)) continue;
      const s = checkNode(node, scope, index, target, problems);
      if (s) steps.set(node, s);
    }
    plans.push({ scope, index, steps });
  }
  if (problems.size) throw new QuantError("E_OPSET", `cannot convert from opset ${from} to ${target}: ${problems}`, { file });

  // Phase 2: rewrite. Checks cover every failure an adapter knows of; should one still throw, undo and report.
  const undo = snapshot(plans);
  try {
    const converted = rewrite(plans, target, new NameGen(proto));
    for (const o of proto.opset_import ?? []) if (isDefaultDomain(o.domain)) o.version = target;
    for (const f of proto.functions ?? []) for (const o of f.opset_import ?? []) if (isDefaultDomain(o.domain)) o.version = target;
    raiseIr(model, target);
    return { from, to: target, converted };
  } catch (e) {
    undo();
    throw new QuantError("E_OPSET", `conversion from opset ${from} to ${target} failed and was undone (${reason(e)})`, { file, cause: e });
  }
}

/** Apply the planned adapters; returns the `converted` lines. */
function rewrite(plans: Plan[], target: number, names: NameGen): string[] {
  const converted: string[] = [];
  for (const { scope, index, steps } of plans) {
    if (!steps.size) continue;
    const out: NodeProto[] = [];
    for (const node of scopeNodes(scope)) {
      const plan = steps.get(node);
      if (!plan) {
        out.push(node);
        continue;
      }
      const ctx = new ConvertContext(index, scope, scope.from, target, names, node.name || node.op_type || "node");
      const where = scope.path === "main" ? "" : ` in ${scope.path}`;
      for (const step of plan) {
        if (!step.adapter) continue;
        const label = nodeLabel(node, step.op);
        const what = step.adapter.apply(node, ctx);
        if (what) converted.push(`${label}${where} → v${step.version}: ${what}`);
      }
      out.push(...ctx.before, node, ...ctx.after);
    }
    if (scope.graph) scope.graph.node = out;
    else scope.fn!.node = out;
  }
  return converted;
}

/** Record what adapters may change (node lists, planned nodes, initializers, value_info) and return a restore function. */
function snapshot(plans: Plan[]): () => void {
  const saved = plans.map(({ scope, steps }) => {
    const owner = scope.graph ?? scope.fn!;
    return {
      owner,
      graph: scope.graph,
      node: owner.node?.slice(),
      valueInfo: owner.value_info?.slice(),
      initializer: scope.graph?.initializer?.slice(),
      nodes: [...steps.keys()].map((n) => [n, { ...n, input: n.input?.slice(), output: n.output?.slice(), attribute: n.attribute?.slice() }] as const),
    };
  });
  return () => {
    for (const s of saved) {
      s.owner.node = s.node;
      s.owner.value_info = s.valueInfo;
      if (s.graph) s.graph.initializer = s.initializer;
      for (const [node, copy] of s.nodes) {
        for (const k of Object.keys(node) as (keyof NodeProto)[]) delete node[k];
        Object.assign(node, copy);
      }
    }
  };
}

/** Raise ir_version to what the opset needs (never lowers it). */
function raiseIr(model: Model, opset: number): void {
  const need = irVersionFor(opset);
  if (num(model.proto.ir_version) < need) model.proto.ir_version = need;
}
