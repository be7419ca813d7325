/**
 * Keeping onnxruntime's fused graph while observing it.
 *
 * Why: with all optimizations on, onnxruntime runs CNNs in a blocked channel layout (NCHWc: the `com.microsoft.nchwc`
 * Conv/pool kernels), which on AVX-512 is about 3× faster than plain NCHW. A ReduceMin/ReduceMax reading an activation
 * is an NCHW op, so onnxruntime inserts a `ReorderOutput` (NCHWc → NCHW copy) in front of it: on mobilenet_v2 those
 * copies cost as much as both reductions together. But min and max over *all* elements do not depend on the layout:
 * when the channel count is a multiple of the block size (so the blocked tensor has no padding channels), the NCHWc
 * tensor holds exactly the same values, only permuted. The block size is the CPU's (MLAS: 8 with AVX2, 16 with
 * AVX-512); {@link nchwcBlock} reads it off a one-Conv model once per process rather than assuming it.
 *
 * So: let onnxruntime optimize the observation model once and save the result (`optimizedModelFilePath`), point our
 * reductions at the NCHWc tensors directly, drop the reorders nobody else reads, and run that graph with optimizations
 * off (it is already optimized). Wherever the reasoning does not apply, the reorder stays: results are exact either
 * way (test/runtime/fused.test.ts compares both paths on mobilenet_v2).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadModel, serializeModel } from "../onnx/codec.ts";
import { GraphBuilder } from "../onnx/builder.ts";
import { encodeModelProto } from "../onnx/proto.ts";
import type { Model } from "../onnx/model.ts";
import type { NodeProto } from "../onnx/types.ts";
import { num } from "../onnx/types.ts";
import { DataType } from "../tensor/dtypes.ts";
import type { ObservationModel } from "./observe.ts";
import { RuntimeSession, type RuntimeOptions } from "./session.ts";

const NCHWC_DOMAIN = "com.microsoft.nchwc";

/**
 * Let onnxruntime optimize `source` (all levels) and load what it saved. Returns the session, the optimized model
 * (a view of a temporary file) and `cleanup`, which removes the file: call it once the model is no longer read.
 */
async function optimized(source: Model | Uint8Array, options: RuntimeOptions): Promise<{ session: RuntimeSession; model: Model; cleanup(): void }> {
  const dir = mkdtempSync(join(tmpdir(), "quant-fused-"));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  try {
    const file = join(dir, "optimized.onnx");
    const session = await RuntimeSession.create(source, { ...options, optimization: "all", optimizedModelFilePath: file });
    try {
      return { session, model: loadModel(file, { check: false }), cleanup };
    } catch (e) {
      await session.release();
      throw e;
    }
  } catch (e) {
    cleanup();
    throw e;
  }
}

let block: Promise<number> | undefined;
/**
 * The NCHWc block size onnxruntime uses on this CPU: a Conv with 48 output channels is padded to a multiple of it,
 * which shows in its reordered weights (48 → block ≤ 16, which divides 16; 64 → 32 or more). 0 when the Conv is not
 * blocked at all (no NCHWc on this CPU), so nothing is bypassed. Measured once per process.
 */
export function nchwcBlock(): Promise<number> {
  return (block ??= (async () => {
    const b = new GraphBuilder("nchwc_probe");
    b.input("x", DataType.FLOAT, [1, 16, 4, 4]);
    b.initializer("w", DataType.FLOAT, [48, 16, 1, 1], new Float32Array(48 * 16).fill(0.5));
    b.output(b.node("Conv", ["x", "w"], {}, ["y"]), DataType.FLOAT, [1, 48, 4, 4]);
    try {
      const { session, model, cleanup } = await optimized(encodeModelProto(b.model({ opset: 13 })), { intraOpThreads: 1 });
      await session.release();
      cleanup();
      const g = model.proto.graph!;
      const conv = g.node?.find((n) => n.domain === NCHWC_DOMAIN && n.op_type === "Conv");
      const w = conv && g.initializer?.find((t) => t.name === conv.input?.[1]);
      if (!w?.dims?.length) return 0;
      return num(w.dims[0]) === 48 ? 16 : 64;
    } catch {
      return 0;
    }
  })());
}

/**
 * Rewire the reductions of an optimized observation graph (in place) past pure-permutation `ReorderOutput` nodes and
 * remove the reorders left without readers. Only our reductions (by output name) are touched. Returns the count removed.
 */
export function bypassReorders(
  nodes: NodeProto[],
  reductions: ReadonlySet<string>,
  graphOutputs: ReadonlySet<string>,
  blockSize: number,
): { nodes: NodeProto[]; rewired: number; removed: number } {
  const reorderOf = new Map<string, NodeProto>();
  for (const n of nodes) {
    if (!(blockSize > 0) || n.op_type !== "ReorderOutput" || n.domain !== NCHWC_DOMAIN || n.input?.length !== 1 || n.output?.length !== 1) continue;
    const ch = n.attribute?.find((a) => a.name === "channels");
    if (ch?.i === undefined || num(ch.i) % blockSize !== 0) continue;
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
 * The session to observe min/max with: over onnxruntime's optimized graph with reorders bypassed when that removes
 * any (`fused`), else over the observation model as built. Release it when done.
 */
export async function createObservationSession(obs: ObservationModel, options: RuntimeOptions = {}): Promise<{ session: RuntimeSession; fused: boolean; removed: number }> {
  const level = options.optimization ?? "all";
  const size = level === "all" || level === "layout" ? await nchwcBlock() : 0;
  if (!size) return { session: await RuntimeSession.create(obs.model, options), fused: false, removed: 0 };
  let plain: { session: RuntimeSession; model: Model; cleanup(): void };
  try {
    plain = await optimized(obs.model, options);
  } catch {
    // Saving can fail where running does not (e.g. past protobuf's 2 GiB): observe without the fused graph.
    return { session: await RuntimeSession.create(obs.model, options), fused: false, removed: 0 };
  }
  const g = plain.model.proto.graph!;
  const reductions = new Set(obs.observed.flatMap((o) => [o.min, o.max]));
  const { nodes, removed } = bypassReorders(g.node ?? [], reductions, new Set((g.output ?? []).map((o) => o.name!)), size);
  try {
    if (!removed) return { session: plain.session, fused: false, removed: 0 };
    g.node = nodes;
    const session = await RuntimeSession.create(plain.model, { ...options, optimization: "disabled", optimizedModelFilePath: undefined });
    await plain.session.release();
    return { session, fused: true, removed };
  } catch {
    return { session: plain.session, fused: false, removed: 0 };
  } finally {
    plain.model.external?.close();
    plain.cleanup();
  }
}
