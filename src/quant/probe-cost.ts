/**
 * What one inference of a model costs, counted rather than timed: multiply-accumulates of the nodes that read a
 * float32 weight (Conv, ConvTranspose, MatMul, Gemm), from the output shapes one run of the model produces. The
 * sensitivity probe decides how many samples it can afford from this count, so its decision (and the bytes of the
 * output) never depends on how busy the machine is. Products of two activations (attention scores) are not counted:
 * the estimate is a lower bound dominated by the weights, which is what the probe multiplies.
 */
import type { GraphProto, NodeProto } from "../onnx/types.ts";
import type { Model } from "../onnx/model.ts";
import { cloneModel } from "../onnx/codec.ts";
import { valueInfo } from "../onnx/builder.ts";
import { RuntimeSession } from "../runtime/session.ts";
import type { Batch } from "../kernel/dataset.ts";
import { DataType } from "../tensor/dtypes.ts";

/** Multiply-accumulates per element of the node's output given its weight dims, or undefined for other ops. */
function macsPerOutput(node: NodeProto, dims: readonly number[], slot: number): number | undefined {
  const elements = dims.reduce((a, b) => a * b, 1);
  const op = node.op_type ?? "";
  if ((node.domain ?? "") !== "" && node.domain !== "ai.onnx") return undefined;
  // Conv weight [M, C/g, k…]: each output element sums C/g·k… products. ConvTranspose [C, M/g, k…]: C·k…/(M/g)·(M/g)… ≈ elements / (M/g·g).
  if (op === "Conv" && slot === 1 && dims.length >= 3) return elements / dims[0]!;
  if (op === "ConvTranspose" && slot === 1 && dims.length >= 3) return elements / (dims[1]! || 1);
  // MatMul x·W with W [K, N] (or […, K, N]): K per output element.
  if (op === "MatMul" && slot === 1 && dims.length >= 2) return dims[dims.length - 2]!;
  if (op === "MatMul" && slot === 0 && dims.length >= 2) return dims[dims.length - 1]!;
  if (op === "Gemm" && slot <= 1 && dims.length === 2) {
    const attr = (n: string) => Number(node.attribute?.find((a) => a.name === n)?.i ?? 0);
    const trans = slot === 0 ? attr("transA") : attr("transB");
    // A [M, K] (transA: [K, M]); B [K, N] (transB: [N, K]).
    return slot === 0 ? dims[trans ? 0 : 1]! : dims[trans ? 1 : 0]!;
  }
  return undefined;
}

/**
 * Multiply-accumulates of one run of `model` on `feeds` (one batch), over the main-graph nodes reading a float32
 * initializer as a Conv/ConvTranspose/MatMul/Gemm weight. Runs the model once with those nodes' outputs fetched.
 */
export async function inferenceMacs(model: Model, batch: Batch): Promise<number> {
  const g = model.proto.graph as GraphProto;
  const weights = new Map((g.initializer ?? []).filter((t) => t.data_type === DataType.FLOAT).map((t) => [t.name ?? "", (t.dims ?? []).map(Number)]));
  const counted: { output: string; perOutput: number }[] = [];
  for (const node of g.node ?? []) {
    const output = node.output?.[0];
    if (!output) continue;
    (node.input ?? []).forEach((name, slot) => {
      const dims = weights.get(name);
      const per = dims ? macsPerOutput(node, dims, slot) : undefined;
      if (per !== undefined) counted.push({ output, perOutput: per });
    });
  }
  if (!counted.length) return 0;
  const probe = cloneModel(model);
  const pg = probe.proto.graph as GraphProto;
  const have = new Set((pg.output ?? []).map((o) => o.name));
  for (const { output } of counted) if (!have.has(output)) (pg.output ??= []).push(valueInfo(output, DataType.FLOAT)), have.add(output);
  const session = await RuntimeSession.create(probe);
  try {
    const out = await session.run(session.feeds(batch), [...new Set(counted.map((c) => c.output))]);
    let macs = 0;
    for (const c of counted) {
      const t = out[c.output];
      if (t) macs += t.dims.reduce((a, b) => a * Number(b), 1) * c.perOutput;
    }
    return macs;
  } finally {
    await session.release();
  }
}
