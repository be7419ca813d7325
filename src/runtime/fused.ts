/**
 * Keeping onnxruntime's fused graph while observing it.
 *
 * Why: with all optimizations on, onnxruntime runs CNNs in a blocked channel layout (NCHWc: the `com.microsoft.nchwc`
 * Conv/pool kernels), which on AVX-512 is about 3× faster than plain NCHW. A ReduceMin/ReduceMax reading an activation
 * is an NCHW op, so onnxruntime inserts a `ReorderOutput` (NCHWc → NCHW copy) in front of it: on mobilenet_v2 those
 * copies cost as much as both reductions together. But min and max over *all* elements do not depend on the layout:
 * when the channel count is a multiple of 16 (so the blocked tensor has no padding channels for any block size
 * onnxruntime uses: 4, 8 or 16), the NCHWc tensor holds exactly the same values, only permuted.
 *
 * So: let onnxruntime optimize the observation model once and save the result (`optimizedModelFilePath`), point our
 * reductions at the NCHWc tensors directly, drop the reorders nobody else reads, and run that graph with optimizations
 * off (it is already optimized). The caller checks the first batch against the unedited session, so a runtime whose
 * layouts differ from this reasoning is caught and the plain path is used instead.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadModel, serializeModel } from "../onnx/codec.ts";
import type { NodeProto } from "../onnx/types.ts";
import { num } from "../onnx/types.ts";
import type { ObservationModel } from "./observe.ts";
import { RuntimeSession, type RuntimeOptions } from "./session.ts";

const NCHWC_DOMAIN = "com.microsoft.nchwc";
/** Largest NCHWc block onnxruntime's MLAS uses; a channel count divisible by it has no padding for any block size. */
const MAX_BLOCK = 16;

/** The plain observation session (all optimizations) and, when it helps, the fused one. */
export interface FusedSessions {
  /** Session over the observation model as built (onnxruntime inserts reorders as it needs). */
  readonly plain: RuntimeSession;
  /** Session over onnxruntime's optimized graph with the reductions reading blocked tensors; undefined when nothing was saved. */
  readonly fused?: RuntimeSession;
  /** Reorders removed. */
  readonly removed: number;
}

/**
 * Rewire the reductions of an optimized observation graph (in place) past pure-permutation `ReorderOutput` nodes and
 * remove the reorders left without readers. Only our reductions (by output name) are touched. Returns the count removed.
 */
export function bypassReorders(nodes: NodeProto[], reductions: ReadonlySet<string>, graphOutputs: ReadonlySet<string>): { nodes: NodeProto[]; rewired: number; removed: number } {
  const reorderOf = new Map<string, NodeProto>();
  for (const n of nodes) {
    if (n.op_type !== "ReorderOutput" || n.domain !== NCHWC_DOMAIN || n.input?.length !== 1 || n.output?.length !== 1) continue;
    const ch = n.attribute?.find((a) => a.name === "channels");
    if (ch?.i === undefined || num(ch.i) % MAX_BLOCK !== 0) continue;
    reorderOf.set(n.output[0]!, n);
  }
  let rewired = 0;
  for (const n of nodes) {
    if ((n.op_type !== "ReduceMin" && n.op_type !== "ReduceMax") || !n.output?.[0] || !reductions.has(n.output[0])) continue;
    const r = reorderOf.get(n.input?.[0] ?? "");
    if (!r) continue;
    n.input = [r.input![0]!, ...n.input!.slice(1)];
    rewired++;
  }
  const read = new Set<string>(graphOutputs);
  for (const n of nodes) for (const i of n.input ?? []) if (i) read.add(i);
  const kept = nodes.filter((n) => !(reorderOf.get(n.output?.[0] ?? "") === n && !read.has(n.output![0]!)));
  return { nodes: kept, rewired, removed: nodes.length - kept.length };
}

/**
 * Create the observation sessions: the plain one (all optimizations, saving its optimized graph), and a fused one
 * when bypassing reorders removes any. Release both when done (or use {@link FusedSessions.plain} alone).
 */
export async function createObservationSessions(obs: ObservationModel, options: RuntimeOptions = {}): Promise<FusedSessions> {
  const optimization = options.optimization ?? "all";
  if (optimization !== "all" && optimization !== "layout") return { plain: await RuntimeSession.create(obs.model, options), removed: 0 };
  const dir = mkdtempSync(join(tmpdir(), "quant-fused-"));
  try {
    const file = join(dir, "optimized.onnx");
    let plain: RuntimeSession;
    try {
      plain = await RuntimeSession.create(obs.model, { ...options, optimizedModelFilePath: file });
    } catch {
      // Saving can fail where running does not (e.g. models past protobuf's 2 GiB): observe without the fused graph.
      return { plain: await RuntimeSession.create(obs.model, options), removed: 0 };
    }
    try {
      const opt = loadModel(file, { check: false });
      const g = opt.proto.graph!;
      const reductions = new Set(obs.observed.flatMap((o) => [o.min, o.max]));
      const { nodes, removed } = bypassReorders(g.node ?? [], reductions, new Set((g.output ?? []).map((o) => o.name!)));
      if (!removed) return { plain, removed: 0 };
      g.node = nodes;
      const fused = await RuntimeSession.create(serializeModel(opt), { ...options, optimization: "disabled", optimizedModelFilePath: undefined });
      return { plain, fused, removed };
    } catch {
      return { plain, removed: 0 };
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
