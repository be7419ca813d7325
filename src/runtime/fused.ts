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
import { makeTempDir, removeTempDir } from "../io/cleanup.ts";
import { join } from "node:path";
import { loadModel, serializeModel } from "../onnx/codec.ts";
import { GraphBuilder } from "../onnx/builder.ts";
import { encodeModelProto } from "../onnx/proto.ts";
import type { Model } from "../onnx/model.ts";
import type { NodeProto, TensorProto } from "../onnx/types.ts";
import { AttributeType, num } from "../onnx/types.ts";
import { makeTensor } from "../onnx/tensor-data.ts";
import { DataType } from "../tensor/dtypes.ts";
import type { ObservationModel } from "./observe.ts";
import { RuntimeSession, modelSource, type RuntimeOptions } from "./session.ts";

const NCHWC_DOMAIN = "com.microsoft.nchwc";

/**
 * Let onnxruntime optimize `source` (all levels) and load what it saved. Returns the session, the optimized model
 * (a view of a temporary file) and `cleanup`, which removes the file: call it once the model is no longer read.
 */
async function optimized(source: Model | Uint8Array, options: RuntimeOptions): Promise<{ session: RuntimeSession; model: Model; cleanup(): void }> {
  const dir = makeTempDir("fused");
  const cleanup = () => removeTempDir(dir);
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
 * Ops of ours whose result over a tensor does not change when they read its blocked copy instead: whole-tensor
 * reductions, and (subsample.ts) the Shape the stride is computed from (the product of its non-batch dims), the
 * spatial Slice over axes 2 and 3 (the same elements in either layout), and the Identity exposing a small tensor whole
 * (the same values in blocked order: `values` are a multiset to the histogram calibrators).
 */
const LAYOUT_FREE_OPS: ReadonlySet<string> = new Set(["ReduceMin", "ReduceMax", "Shape", "Slice", "Identity"]);

/** Output names of the nodes of `obs` that may read a blocked copy of their tensor (see {@link bypassReorders}). */
function layoutFree(obs: ObservationModel): Set<string> {
  return new Set(obs.observed.flatMap((o) => [o.min, o.max, ...(o.layoutFree ?? [])]));
}

/** Static (H, W) of the subsampled tensors by their subsample's output name. */
function spatialOf(obs: ObservationModel): Map<string, readonly [number, number]> {
  return new Map(obs.observed.flatMap((o) => (o.spatial && o.values ? [[o.values, o.spatial] as const] : [])));
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
  spatial: ReadonlyMap<string, readonly [number, number]> = new Map(),
): { nodes: NodeProto[]; rewired: number; removed: number; initializers: TensorProto[] } {
  const reorderOf = new Map<string, NodeProto>();
  for (const n of nodes) {
    if (!(blockSize > 0) || n.op_type !== "ReorderOutput" || n.domain !== NCHWC_DOMAIN || n.input?.length !== 1 || n.output?.length !== 1) continue;
    const ch = n.attribute?.find((a) => a.name === "channels");
    if (ch?.i === undefined || num(ch.i) % blockSize !== 0) continue;
    reorderOf.set(n.output[0]!, n);
  }
  let rewired = 0;
  const initializers: TensorProto[] = [];
  let consts = false;
  const out: NodeProto[] = [];
  const name = (s: string) => `observe_blocked_${s}`;
  for (const n of nodes) {
    const r = LAYOUT_FREE_OPS.has(n.op_type!) && !n.domain && n.output?.[0] && reductions.has(n.output[0]) ? reorderOf.get(n.input?.[0] ?? "") : undefined;
    if (!r) {
      out.push(n);
      continue;
    }
    const blocked = r.input![0]!;
    rewired++;
    if (n.op_type !== "Slice") {
      n.input = [blocked, ...n.input!.slice(1)];
      out.push(n);
      continue;
    }
    // The spatial subsample: the blocked tensor's logical shape is (N, C, H, W) but its memory is (N, C/b, H, W, b).
    // Viewed as (N·C/b, H, W, b) by a Reshape (no copy), a Slice over axes 1 and 2 with the same starts and steps
    // selects the same elements as the NCHW Slice over axes 2 and 3 (in another order), on any block size.
    if (!consts) {
      consts = true;
      initializers.push(
        makeTensor(name("minus1"), DataType.INT64, [1], new BigInt64Array([-1n])),
        makeTensor(name("from2"), DataType.INT64, [1], new BigInt64Array([2n])),
        makeTensor(name("to4"), DataType.INT64, [1], new BigInt64Array([4n])),
        makeTensor(name("block"), DataType.INT64, [1], new BigInt64Array([BigInt(blockSize)])),
        makeTensor(name("axes12"), DataType.INT64, [2], new BigInt64Array([1n, 2n])),
      );
    }
    const o = n.output![0]!;
    let target = `${o}_blocked_target`;
    const view = `${o}_blocked_view`;
    const hwKnown = spatial.get(o);
    if (hwKnown) {
      initializers.push(makeTensor(target, DataType.INT64, [4], new BigInt64Array([-1n, BigInt(hwKnown[0]), BigInt(hwKnown[1]), BigInt(blockSize)])));
    } else {
      const shape = `${o}_blocked_shape`;
      const hw = `${o}_blocked_hw`;
      out.push(
        { op_type: "Shape", name: `${shape}_node`, input: [blocked], output: [shape] },
        { op_type: "Slice", name: `${hw}_node`, input: [shape, name("from2"), name("to4")], output: [hw] },
        { op_type: "Concat", name: `${target}_node`, input: [name("minus1"), hw, name("block")], output: [target], attribute: [{ name: "axis", type: AttributeType.INT, i: 0 }] },
      );
    }
    out.push({ op_type: "Reshape", name: `${view}_node`, input: [blocked, target], output: [view] });
    const [, starts, ends, , steps] = n.input!;
    n.input = [view, starts!, ends!, name("axes12"), steps!];
    out.push(n);
  }
  nodes = out;
  const read = new Set<string>(graphOutputs);
  for (const n of nodes) for (const i of n.input ?? []) if (i) read.add(i);
  const kept = nodes.filter((n) => !(reorderOf.get(n.output?.[0] ?? "") === n && !read.has(n.output![0]!)));
  return { nodes: kept, rewired, removed: nodes.length - kept.length, initializers };
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
  const reductions = layoutFree(obs);
  const { nodes, removed, initializers } = bypassReorders(g.node ?? [], reductions, new Set((g.output ?? []).map((o) => o.name!)), size, spatialOf(obs));
  try {
    if (!removed) return { session: plain.session, fused: false, removed: 0 };
    g.node = nodes;
    g.initializer = [...(g.initializer ?? []), ...initializers];
    // The optimizing session goes first: two sessions of the same weights side by side (NCHWc copies included) were
    // the calibration's memory peak (2.1 GB for an 88 MB float16 ISNet).
    await plain.session.release();
    try {
      return { session: await RuntimeSession.create(plain.model, { ...options, optimization: "disabled", optimizedModelFilePath: undefined }), fused: true, removed };
    } catch {
      return { session: await RuntimeSession.create(obs.model, options), fused: false, removed: 0 };
    }
  } finally {
    plain.model.external?.close();
    plain.cleanup();
  }
}

/**
 * The fused observation graph as bytes, for a session in another thread (runner.ts's worker), to be run with
 * optimizations disabled; undefined when there is no reorder to drop (or the graph has external data): then run the
 * observation model as built.
 */
export async function fusedObservationBytes(obs: ObservationModel, options: RuntimeOptions = {}): Promise<{ bytes: Uint8Array; removed: number } | undefined> {
  const level = options.optimization ?? "all";
  const size = level === "all" || level === "layout" ? await nchwcBlock() : 0;
  if (!size) return undefined;
  const plain = await optimized(obs.model, options);
  try {
    await plain.session.release();
    const g = plain.model.proto.graph!;
    const { nodes, removed, initializers } = bypassReorders(g.node ?? [], layoutFree(obs), new Set((g.output ?? []).map((o) => o.name!)), size, spatialOf(obs));
    if (!removed) return undefined;
    g.node = nodes;
    g.initializer = [...(g.initializer ?? []), ...initializers];
    const src = modelSource(plain.model);
    if (!(src.source instanceof Uint8Array)) {
      src.cleanup();
      return undefined;
    }
    return { bytes: src.source, removed };
  } finally {
    plain.model.external?.close();
    plain.cleanup();
  }
}
