/**
 * `fold-batchnorm` prepare pass: Conv → BatchNormalization (inference form) becomes one Conv with scaled weights
 * and a shifted bias, in every graph. Exporters usually fold BN themselves; when they don't, an unfolded BN sits
 * between Conv and its activation and stops ONNX Runtime from fusing the quantized Conv.
 *   scale_c = gamma_c / sqrt(var_c + eps);  W'[c,…] = W[c,…]·scale_c;  b'_c = (b_c − mean_c)·scale_c + beta_c
 */
import {
  DataType, GraphIndex, definePass, isOnnxOp, makeTensor, num, removeNodes, tensorDims, tensorFloat32,
  type GraphProto, type Model, type NodeProto, type TensorProto,
} from "../../src/index.ts";

/** Fold every foldable Conv → BatchNormalization pair; returns how many were folded. */
export function foldBatchNorm(model: Model): number {
  const index = new GraphIndex(model);
  let folded = 0;
  for (const scope of index.scopes) {
    const g = scope.graph;
    const inits = new Map<string, { t: TensorProto; i: number }>();
    (g.initializer ?? []).forEach((t, i) => t.name && inits.set(t.name, { t, i }));
    const floatInit = (name: string | undefined) => {
      const e = name ? inits.get(name) : undefined;
      return e && e.t.data_type === DataType.FLOAT && scope.producers.get(name!)?.kind === "initializer" ? e.t : undefined;
    };
    const gone: NodeProto[] = [];
    for (const bn of g.node ?? []) {
      if (!isOnnxOp(bn, "BatchNormalization") || (bn.output ?? []).filter(Boolean).length !== 1) continue;
      if (bn.attribute?.some((a) => a.name === "training_mode" && num(a.i) === 1)) continue;
      const x = bn.input?.[0];
      const conv = x ? index.producerNode(x, g) : undefined;
      if (!conv || !isOnnxOp(conv, "Conv") || index.consumers(x!, g).length !== 1 || index.isGraphOutput(x!, g)) continue;
      const w = floatInit(conv.input?.[1]);
      const [gamma, beta, mean, variance] = [1, 2, 3, 4].map((k) => floatInit(bn.input?.[k]));
      if (!w || !gamma || !beta || !mean || !variance) continue;
      // A weight or BN parameter read elsewhere must keep its value: fold into copies only when used once.
      const used = [conv.input![1]!, ...bn.input!.slice(1)].some((n) => index.consumers(n, g).length !== 1);
      if (used) continue;
      const bIn = conv.input?.[2] ? floatInit(conv.input[2]) : undefined;
      if (conv.input?.[2] && (!bIn || index.consumers(conv.input[2], g).length !== 1)) continue;
      const eps = bn.attribute?.find((a) => a.name === "epsilon")?.f ?? 1e-5;
      const dims = tensorDims(w);
      const c = dims[0]!;
      const per = dims.slice(1).reduce((a, b) => a * b, 1);
      const [G, B, M, V] = [gamma, beta, mean, variance].map((t) => tensorFloat32(model, t));
      if ([G, B, M, V].some((a) => a!.length !== c)) continue;
      const W = tensorFloat32(model, w);
      const newW = new Float32Array(W.length);
      const newB = new Float32Array(c);
      const oldB = bIn ? tensorFloat32(model, bIn) : undefined;
      for (let o = 0; o < c; o++) {
        const s = G![o]! / Math.sqrt(V![o]! + eps);
        for (let k = o * per; k < (o + 1) * per; k++) newW[k] = W[k]! * s;
        newB[o] = ((oldB?.[o] ?? 0) - M![o]!) * s + B![o]!;
      }
      replaceInit(g, inits, w.name!, makeTensor(w.name!, DataType.FLOAT, dims, newW));
      const biasName = conv.input?.[2] || index.uniqueName(`${conv.name || "conv"}_folded_bias`);
      if (bIn) replaceInit(g, inits, biasName, makeTensor(biasName, DataType.FLOAT, [c], newB));
      else g.initializer!.push(makeTensor(biasName, DataType.FLOAT, [c], newB));
      conv.input = [conv.input![0]!, conv.input![1]!, biasName];
      conv.output = [bn.output!.find(Boolean)!];
      for (const k of [1, 2, 3, 4]) {
        const n = bn.input![k]!;
        const e = inits.get(n);
        if (e) g.initializer!.splice(g.initializer!.indexOf(e.t), 1);
        inits.delete(n);
      }
      g.value_info = (g.value_info ?? []).filter((v) => v.name !== x);
      gone.push(bn);
      folded++;
    }
    removeNodes(g, gone);
  }
  return folded;
}

function replaceInit(g: GraphProto, inits: Map<string, { t: TensorProto; i: number }>, name: string, t: TensorProto) {
  const idx = g.initializer!.findIndex((x) => x.name === name);
  g.initializer![idx] = t;
  inits.set(name, { t, i: idx });
}

/** This plugin takes no options: a config giving any is refused (E_CONFIG). */
export const optionKeys = {};

/** `fold-batchnorm` pass factory. */
export default function foldBatchnorm(_opts: Record<string, unknown> = {}) {
  return definePass({
    name: "fold-batchnorm",
    run(model, ctx) {
      const n = foldBatchNorm(model);
      if (n) ctx.logger.info(`folded ${n} BatchNormalization node(s) into Conv`);
    },
  });
}
