/**
 * `normalize` prepare pass: put weights where quantizers look for them, without changing what the model computes.
 * - `Constant` nodes holding a dense tensor become initializers of the graph they are in (same name as the output).
 * - `Identity` nodes whose input is a constant (directly or through more Identities) are bypassed: their readers read
 *   the constant itself. An Identity whose output is a graph output stays (the output name is the interface).
 * Constants that are graph outputs, Constants in function bodies and overridable initializers (also graph inputs)
 * are left alone.
 */
import {
  GraphIndex,
  QuantError,
  constantTensor,
  definePass,
  isOnnxOp,
  num,
  removeNodes,
  removeValueInfo,
  replaceUses,
  replaceUsesMany,
  valueInfo,
  type GraphProto,
  type Model,
  type ModelProto,
  type NodeProto,
} from "../../src/index.ts";

/** What {@link normalizeModel} changed. */
export interface NormalizeResult {
  /** Constant nodes turned into initializers. */
  constantsPromoted: number;
  /** Identity nodes removed after their readers were pointed at the constant. */
  identitiesRemoved: number;
}

/** Turn Constant nodes into initializers of their own graph. */
function promoteConstants(proto: ModelProto, index: GraphIndex): number {
  // Before IR 4 an initializer must also be a main-graph input, and subgraph signatures cannot grow: only the
  // main graph is handled there, with the input declared.
  const legacy = num(proto.ir_version) < 4;
  let promoted = 0;
  for (const scope of index.scopes) {
    if (legacy && scope.site.path !== "main") continue;
    const g = scope.graph;
    const gone: NodeProto[] = [];
    for (const node of g.node ?? []) {
      const name = node.output?.[0];
      const t = constantTensor(node);
      if (!t || !name || scope.outputs.has(name)) continue;
      t.name = name;
      (g.initializer ??= []).push(t);
      if (legacy) (g.input ??= []).push(valueInfo(name, t.data_type ?? 0, (t.dims ?? []).map((d) => num(d))));
      gone.push(node);
    }
    promoted += removeNodes(g, gone);
  }
  return promoted;
}

/** Bypass Identity nodes that forward a constant: one batched rename per graph. */
function bypassIdentities(index: GraphIndex): number {
  let removed = 0;
  for (const scope of index.scopes) {
    const g: GraphProto = scope.graph;
    const bypass: { node: NodeProto; out: string; src: string }[] = [];
    for (const node of g.node ?? []) {
      if (!isOnnxOp(node, "Identity")) continue;
      const out = node.output?.[0];
      let src = node.input?.[0];
      if (!out || !src) continue;
      // Walk up the chain (the index is a snapshot of the graph before any edit, so chains are intact in it).
      for (let hops = 0; hops < 1e6; hops++) {
        const p = index.producerNode(src, g);
        if (!p || !isOnnxOp(p, "Identity") || !p.input?.[0]) break;
        src = p.input[0];
      }
      if (index.constantOf(src, g)) bypass.push({ node, out, src });
    }
    if (!bypass.length) continue;
    let done = bypass;
    try {
      replaceUsesMany(g, new Map(bypass.map((b) => [b.out, b.src])));
    } catch (e) {
      if (!(e instanceof QuantError && e.code === "E_GRAPH")) throw e;
      // A subgraph reuses a constant's name: go one by one and keep the Identities that cannot be bypassed.
      done = bypass.filter((b) => {
        try {
          replaceUses(g, b.out, b.src);
          return true;
        } catch (err) {
          if (err instanceof QuantError && err.code === "E_GRAPH") return false;
          throw err;
        }
      });
    }
    const gone = done.filter((b) => !scope.outputs.has(b.out));
    removed += removeNodes(g, gone.map((b) => b.node));
    removeValueInfo(g, gone.map((b) => b.out));
  }
  return removed;
}

/**
 * Normalize where weights live (see the file comment). Mutates the model in place.
 * @example const { constantsPromoted, identitiesRemoved } = normalizeModel(model);
 */
export function normalizeModel(model: Model | ModelProto): NormalizeResult {
  const proto = "proto" in model ? model.proto : model;
  const constantsPromoted = promoteConstants(proto, new GraphIndex(proto));
  const identitiesRemoved = bypassIdentities(new GraphIndex(proto));
  return { constantsPromoted, identitiesRemoved };
}

/** This plugin takes no options: a config giving any is refused (E_CONFIG). */
export const optionKeys = {};

/**
 * The `normalize` pass plugin.
 * @example export default defineConfig({ passes: ["normalize"] });
 */
export default function normalize(options: Record<string, unknown> = {}) {
  return definePass({
    name: "normalize",
    options,
    run(model, ctx) {
      const r = normalizeModel(model);
      ctx.logger.debug(`promoted ${r.constantsPromoted} Constant node(s) to initializers, removed ${r.identitiesRemoved} Identity node(s)`);
    },
  });
}
