/**
 * A small CNN written the way each opset from 7 to 12 spells it — the ops whose schemas changed in that range
 * (Upsample → Resize, Slice and Clip attributes → inputs, BatchNormalization's `spatial`, Dropout's mask) — so the
 * tests can push models of every old opset through the whole chain.
 *   x[1,3,16,16] → Conv 3→8 → BatchNormalization → Relu → Upsample/Resize ×2 → MaxPool 4 → Slice channels 0..6
 *   → Clip(0, 6) → Dropout → Flatten → Gemm 384→10 (transB) → y[1,10]
 */
import { GraphBuilder } from "../../src/onnx/builder.ts";
import { irVersionFor } from "../../src/onnx/opset/index.ts";
import type { ModelProto } from "../../src/onnx/types.ts";
import { DataType } from "../../src/tensor/dtypes.ts";
import { rng } from "./random.ts";

/** Gaussian-ish values (sum of uniforms) scaled to `std`. */
function normal(n: number, seed: number, std: number): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() + r() + r() + r() - 2) * std * 1.732;
  return out;
}

/**
 * The CNN at `opset` (7–12), with the IR version that opset shipped with (IR 3 for opsets 7 and 8, which lists every
 * initializer as a graph input too, as IR 3 requires). `maskRead` makes Dropout's mask an output;
 * `initializersAsInputs` lists the initializers as inputs at any IR (old PyTorch exports did).
 */
export function oldOpsetCnn(opset: number, opts: { maskRead?: boolean; initializersAsInputs?: boolean; irVersion?: number } = {}): ModelProto {
  const b = new GraphBuilder(`cnn_opset${opset}`);
  b.input("x", DataType.FLOAT, [1, 3, 16, 16]);
  b.initializer("conv.weight", DataType.FLOAT, [8, 3, 3, 3], normal(216, 1, Math.sqrt(2 / 27)));
  b.initializer("conv.bias", DataType.FLOAT, [8], normal(8, 2, 0.1));
  b.initializer("bn.scale", DataType.FLOAT, [8], normal(8, 3, 0.1).map((v) => 1 + v));
  b.initializer("bn.bias", DataType.FLOAT, [8], normal(8, 4, 0.1));
  b.initializer("bn.mean", DataType.FLOAT, [8], normal(8, 5, 0.1));
  b.initializer("bn.var", DataType.FLOAT, [8], normal(8, 6, 0.1).map((v) => 1 + Math.abs(v)));
  b.initializer("fc.weight", DataType.FLOAT, [10, 384], normal(3840, 7, Math.sqrt(2 / 384)));
  b.initializer("fc.bias", DataType.FLOAT, [10], normal(10, 8, 0.1));
  const conv = b.node("Conv", ["x", "conv.weight", "conv.bias"], { pads: [1, 1, 1, 1], kernel_shape: [3, 3] }, ["conv"], { name: "conv" });
  const bn = b.node("BatchNormalization", [conv, "bn.scale", "bn.bias", "bn.mean", "bn.var"], opset < 9 ? { epsilon: 1e-5, spatial: 1 } : { epsilon: 1e-5 }, ["bn"], { name: "bn" });
  const relu = b.node("Relu", [bn], {}, ["relu"], { name: "relu" });
  let up: string;
  if (opset < 9) up = b.node("Upsample", [relu], { mode: "nearest", scales: { floats: [1, 1, 2, 2] } }, ["up"], { name: "up" });
  else {
    b.initializer("up.scales", DataType.FLOAT, [4], new Float32Array([1, 1, 2, 2]));
    if (opset === 9) up = b.node("Upsample", [relu, "up.scales"], { mode: "nearest" }, ["up"], { name: "up" });
    else if (opset === 10) up = b.node("Resize", [relu, "up.scales"], { mode: "nearest" }, ["up"], { name: "up" });
    else {
      b.initializer("up.roi", DataType.FLOAT, [0], new Float32Array(0));
      up = b.node("Resize", [relu, "up.roi", "up.scales"], { mode: "nearest", coordinate_transformation_mode: "asymmetric", nearest_mode: "floor" }, ["up"], { name: "up" });
    }
  }
  const pool = b.node("MaxPool", [up], { kernel_shape: [4, 4], strides: [4, 4] }, ["pool"], { name: "pool" });
  let slice: string;
  if (opset < 10) slice = b.node("Slice", [pool], { axes: [1], starts: [0], ends: [6] }, ["slice"], { name: "slice" });
  else {
    b.initializer("slice.starts", DataType.INT64, [1], new BigInt64Array([0n]));
    b.initializer("slice.ends", DataType.INT64, [1], new BigInt64Array([6n]));
    b.initializer("slice.axes", DataType.INT64, [1], new BigInt64Array([1n]));
    slice = b.node("Slice", [pool, "slice.starts", "slice.ends", "slice.axes"], {}, ["slice"], { name: "slice" });
  }
  let clip: string;
  if (opset < 11) clip = b.node("Clip", [slice], { min: { float: 0 }, max: { float: 6 } }, ["clip"], { name: "clip" });
  else {
    b.initializer("clip.min", DataType.FLOAT, [], new Float32Array([0]));
    b.initializer("clip.max", DataType.FLOAT, [], new Float32Array([6]));
    clip = b.node("Clip", [slice, "clip.min", "clip.max"], {}, ["clip"], { name: "clip" });
  }
  const drop = b.node("Dropout", [clip], opset < 12 ? { ratio: { float: 0.1 } } : {}, opts.maskRead ? ["drop", "mask"] : ["drop"], { name: "dropout" });
  const flat = b.node("Flatten", [drop], { axis: 1 }, ["flat"], { name: "flatten" });
  b.node("Gemm", [flat, "fc.weight", "fc.bias"], { transB: 1 }, ["y"], { name: "fc" });
  b.output("y", DataType.FLOAT, [1, 10]);
  if (opts.maskRead) b.output("mask", DataType.FLOAT, [1, 6, 8, 8]);
  const irVersion = opts.irVersion ?? irVersionFor(opset);
  if (opts.initializersAsInputs ?? irVersion < 4)
    for (const t of b.graph.initializer!) b.input(t.name!, t.data_type!, (t.dims ?? []).map(Number));
  return b.model({ opset, irVersion });
}
