/** Name matching for --exclude and --layer-bits: exact names or globs (`*`, `?`, `[…]`). */
import type { ModelProto } from "../onnx/types.ts";
import { allGraphs } from "../onnx/walk.ts";

const cache = new Map<string, RegExp>();

/** A glob as a whole-string RegExp. */
export function globToRegExp(glob: string): RegExp {
  let re = cache.get(glob);
  if (!re) {
    const body = glob.replace(/[.+^${}()|\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
    re = new RegExp(`^${body}$`);
    cache.set(glob, re);
  }
  return re;
}

/** True when any of `names` matches any pattern (exact or glob). */
export function matchesAny(patterns: readonly string[], names: readonly (string | undefined)[]): string | undefined {
  for (const p of patterns) {
    const glob = /[*?[]/.test(p);
    for (const n of names) {
      if (!n) continue;
      if (glob ? globToRegExp(p).test(n) : p === n) return p;
    }
  }
  return undefined;
}

/** Bits for a layer from `--layer-bits` (first matching pattern in insertion order), or undefined. */
export function layerBitsFor(layerBits: Readonly<Record<string, number>>, names: readonly (string | undefined)[]): number | undefined {
  for (const [p, bits] of Object.entries(layerBits)) if (matchesAny([p], names)) return Number(bits);
  return undefined;
}

/** What a model names: node names, tensor names (weights, activations, graph inputs/outputs) and op types. */
export interface ModelNames {
  names: ReadonlySet<string>;
  opTypes: ReadonlySet<string>;
}

/** Collect {@link ModelNames} over every graph of a model (subgraphs included). */
export function modelNames(model: ModelProto): ModelNames {
  const names = new Set<string>();
  const opTypes = new Set<string>();
  for (const { graph } of allGraphs(model)) {
    for (const t of graph.initializer ?? []) if (t.name) names.add(t.name);
    for (const v of [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.value_info ?? [])]) if (v.name) names.add(v.name);
    for (const n of graph.node ?? []) {
      if (n.name) names.add(n.name);
      if (n.op_type) opTypes.add(n.op_type);
      for (const t of [...(n.input ?? []), ...(n.output ?? [])]) if (t) names.add(t);
    }
  }
  return { names, opTypes };
}

const matchesSome = (p: string, pool: ReadonlySet<string>) => (/[*?[]/.test(p) ? [...pool].some((n) => globToRegExp(p).test(n)) : pool.has(p));

/**
 * One warning per selection pattern that matches nothing in the model (`exclude`, `layerBits` keys, `opTypes`,
 * `opTypesExclude`): a typo there silently changes nothing, so it is said.
 */
export function unmatchedPatterns(model: ModelProto, o: { exclude?: readonly string[]; layerBits?: Readonly<Record<string, number>>; opTypes?: readonly string[]; opTypesExclude?: readonly string[] }): string[] {
  const { names, opTypes } = modelNames(model);
  const out: string[] = [];
  for (const p of o.exclude ?? [])
    if (!matchesSome(p, names))
      out.push(`--exclude ${p} matches no node, weight or tensor name${opTypes.has(p) ? ` (${p} is an op type: use --op-types-exclude ${p})` : ""}; nothing is excluded by it`);
  for (const p of Object.keys(o.layerBits ?? {})) if (!matchesSome(p, names)) out.push(`--layer-bits ${p}=… matches no node, weight or tensor name; it changes nothing`);
  for (const [flag, list] of [["--op-types", o.opTypes], ["--op-types-exclude", o.opTypesExclude]] as const)
    for (const t of list ?? []) if (!matchesSome(t, opTypes)) out.push(`${flag} ${t}: the model has no ${t} node (op types: ${[...opTypes].sort().join(", ")})`);
  return out;
}
