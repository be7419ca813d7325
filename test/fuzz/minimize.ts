/**
 * Greedy structural minimization of a crashing case: remove one element at a time (a node, an initializer, a
 * graph input/output/value_info, an attribute, a function, an opset entry, a file) and keep the removal when the
 * case still crashes with the same signature. Bounded by a time budget; the result is usually a handful of nodes.
 */
import { decodeModelProto, encodeModelProto } from "../../src/onnx/proto.ts";
import type { GraphProto, ModelProto } from "../../src/onnx/types.ts";
import { nodeSubgraphs } from "../../src/onnx/walk.ts";
import { FuzzCrash, runCase } from "./case.ts";
import type { FuzzCase } from "./mutate.ts";

/** Arrays whose elements may be removed one by one. */
function removableLists(m: ModelProto): unknown[][] {
  const lists: unknown[][] = [];
  const walk = (g: GraphProto | undefined, depth: number) => {
    if (!g || depth > 8) return;
    for (const l of [g.node, g.initializer, g.sparse_initializer, g.input, g.output, g.value_info]) if (l?.length) lists.push(l);
    for (const n of g.node ?? []) {
      if (n.attribute?.length) lists.push(n.attribute);
      for (const s of nodeSubgraphs(n)) walk(s.graph, depth + 1);
    }
  };
  walk(m.graph, 0);
  for (const l of [m.functions, m.metadata_props, m.training_info, m.opset_import]) if (l?.length) lists.push(l);
  return lists;
}

/** Smallest case found within `budgetMs` that still crashes with `signature`. */
export async function minimize(c: FuzzCase, signature: string, dir: string, budgetMs = 30_000): Promise<FuzzCase> {
  const t0 = performance.now();
  const crashes = async (k: FuzzCase) => {
    try {
      await runCase(k, dir);
      return false;
    } catch (e) {
      return e instanceof FuzzCrash && e.signature === signature;
    }
  };
  let best = c;
  let progress = true;
  while (progress && performance.now() - t0 < budgetMs) {
    progress = false;
    for (const name of Object.keys(best.files)) {
      const { [name]: _, ...rest } = best.files;
      const k = { ...best, files: rest };
      if (await crashes(k)) (best = k), (progress = true);
    }
    let m: ModelProto;
    try {
      m = decodeModelProto(best.model);
    } catch {
      return best; // not decodable: the bytes themselves are the reproducer
    }
    const count = removableLists(m).reduce((s, l) => s + l.length, 0);
    // Index-based: decode afresh per attempt so each removal starts from the current best.
    for (let i = count - 1; i >= 0 && performance.now() - t0 < budgetMs; i--) {
      const trial = decodeModelProto(best.model);
      let left = i;
      for (const l of removableLists(trial)) {
        if (left < l.length) {
          l.splice(left, 1);
          break;
        }
        left -= l.length;
      }
      let bytes: Uint8Array;
      try {
        bytes = encodeModelProto(trial);
      } catch {
        continue;
      }
      const k = { ...best, model: bytes };
      if (await crashes(k)) (best = k), (progress = true);
    }
  }
  return best;
}
