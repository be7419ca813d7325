/**
 * Normalizations the kernel applies once, right after loading, so every later step (opset conversion, calibration,
 * quantizers, validators) sees one well-formed graph:
 * - node order: ONNX requires topological order, but some exporters and graph tools write nodes out of order
 *   (ONNX Runtime re-sorts silently). Sorting once here replaces a warning per misplaced node.
 * - initializers listed as graph inputs: before IR 4 every initializer had to be a graph input too, and runtimes treat
 *   them as constants; from IR 4 on such an input is an overridable default. Any output we write has IR ≥ 5, where a
 *   listed initializer would become overridable, so when they are constants they leave `graph.input`.
 */
import { GraphIndex } from "./graph.ts";
import type { Model } from "./model.ts";
import type { GraphProto, NodeProto } from "./types.ts";
import { num } from "./types.ts";

/** True when every node of `graph` reads only values defined before it (or outside the graph). */
function isSorted(index: GraphIndex, graph: GraphProto): boolean {
  const scope = index.scope(graph);
  const nodes = graph.node ?? [];
  const position = new Map<NodeProto, number>();
  nodes.forEach((n, i) => position.set(n, i));
  for (const [name, readers] of scope.consumers) {
    const p = scope.producers.get(name);
    if (p?.kind !== "node") continue;
    const at = position.get(p.node)!;
    for (const r of readers) if (position.get(r.node)! < at) return false;
  }
  return true;
}

/**
 * Put the nodes of every graph (main graph and If/Loop/Scan bodies) in topological order, keeping the stored order
 * where it is already valid. Returns the paths of the graphs that were reordered (empty when all were sorted).
 * Throws `E_GRAPH` on a cycle.
 * @example if (sortNodes(model).length) logger.info("nodes were not in topological order; sorted");
 */
export function sortNodes(model: Model): string[] {
  const index = new GraphIndex(model);
  const sorted: string[] = [];
  for (const scope of index.scopes) {
    if (isSorted(index, scope.graph)) continue;
    scope.graph.node = index.topoOrder(scope.graph);
    sorted.push(scope.site.path);
  }
  return sorted;
}

/** Names of main-graph initializers that are also listed in `graph.input`. */
export function initializerInputs(model: Model): string[] {
  const g = model.proto.graph;
  const inits = new Set((g?.initializer ?? []).map((t) => t.name ?? "").filter(Boolean));
  return (g?.input ?? []).map((v) => v.name ?? "").filter((n) => inits.has(n));
}

/** True when the model's IR version makes initializers listed as inputs constants (IR < 4). */
export const inputsAreConstants = (model: Model): boolean => num(model.proto.ir_version) < 4;

/**
 * Remove from `graph.input` every input that has a same-named initializer, making those initializers constants.
 * Returns the names removed.
 */
export function dropInitializerInputs(model: Model): string[] {
  const g = model.proto.graph;
  const names = new Set(initializerInputs(model));
  if (!g || !names.size) return [];
  g.input = (g.input ?? []).filter((v) => !names.has(v.name ?? ""));
  return [...names];
}

/** Where {@link normalizeOnLoad} reports: the one info line about node order, the warning about overridable weights. */
export interface LoadLog {
  info(message: string): void;
  warn(message: string): void;
}

/**
 * True when every main-graph initializer is also listed as a graph input: what exporters wrote when initializers had
 * to be inputs (IR < 4, and PyTorch's `keep_initializers_as_inputs` long after), not a choice to make weights
 * overridable.
 */
export function allInitializersListed(model: Model): boolean {
  const inits = (model.proto.graph?.initializer ?? []).filter((t) => t.name);
  return inits.length > 0 && initializerInputs(model).length === inits.length;
}

/**
 * Everything the kernel does to a model right after loading: sort the nodes, and decide whether initializers listed
 * as graph inputs are constants. They are when the IR version says so (IR < 4), when `inputsAsConstants` is true, or,
 * unless it is false, when *every* initializer is listed (an exporter's habit, not a request). A model listing only
 * some keeps those overridable and float, with one warning. Returns the notes for the run's summary.
 */
export function normalizeOnLoad(model: Model, options: { inputsAsConstants?: boolean }, log: LoadLog): string[] {
  const notes: string[] = [];
  const sorted = sortNodes(model);
  if (sorted.length) log.info(`nodes were not in topological order; sorted${sorted.length > 1 || sorted[0] !== "main" ? ` (${sorted.join(", ")})` : ""}`);
  const listed = initializerInputs(model);
  if (!listed.length) return notes;
  const ir = num(model.proto.ir_version);
  const legacy = inputsAreConstants(model);
  const every = !legacy && options.inputsAsConstants === undefined && allInitializersListed(model);
  if (legacy || options.inputsAsConstants || every) {
    const why = legacy
      ? `IR ${ir} requires every initializer to be listed as an input; they are constants`
      : every
        ? `every initializer is listed, as older exporters did; --no-inputs-as-constants keeps them overridable and float`
        : "--inputs-as-constants";
    notes.push(`${dropInitializerInputs(model).length} initializer(s) listed as graph inputs treated as constants and removed from the inputs (${why})`);
  } else {
    const msg = `${listed.length} initializer(s) are also graph inputs (IR ${ir}: callers may override them), so they stay float${options.inputsAsConstants === false ? " (--no-inputs-as-constants)" : "; pass --inputs-as-constants to quantize them as constants"}`;
    log.warn(msg);
    notes.push(msg);
  }
  return notes;
}
