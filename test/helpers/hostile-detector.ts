/**
 * A small detector-like CNN with the failure issue 13 found in a real detector: a depthwise Conv whose output
 * channels span ranges ~50× apart (one ≈ ±100, one in [1.2, 3.4]) followed by a learnable per-channel affine Mul/Add
 * in float that amplifies the narrow channel; a sigmoid probability map at the end. Per-tensor uint8 leaves the
 * narrow channel a few codes, so static INT8 ruins the output while every other node quantizes well.
 */
import { DataType, GraphBuilder, type ModelProto } from "../../src/index.ts";
import { randf } from "../onnx/fixtures.ts";

const F = DataType.FLOAT;

/** The model: x [1, 3, 32, 32] → prob [1, 1, 32, 32] (Sigmoid). Node names: stem, dw, affine_mul, affine_add, pw1, pw2, head. */
export function hostileDetector(): ModelProto {
  const b = new GraphBuilder("hostile_detector");
  b.input("x", F, [1, 3, 32, 32]);
  const C = 16;
  const w = (name: string, dims: number[], seed: number, scale: number) => {
    const a = randf(dims.reduce((x, y) => x * y, 1), seed);
    for (let i = 0; i < a.length; i++) a[i]! *= scale;
    return b.initializer(name, F, dims, a);
  };
  w("stem_w", [C, 3, 3, 3], 1, 0.4);
  w("stem_b", [C], 2, 0.1);
  const s = b.node("Relu", [b.node("Conv", ["x", "stem_w", "stem_b"], { pads: [1, 1, 1, 1] }, ["stem_out"], { name: "stem" })], {}, ["stem_relu"], { name: "stem_relu" });
  // Depthwise: channel 0 wide (×60), channel 1 a near-constant 2.3 ± 1 (tiny weights, bias 2.3).
  const dw = randf(C * 9, 3);
  const dwb = randf(C, 4);
  for (let i = 0; i < 9; i++) {
    dw[i]! *= 60;
    dw[9 + i]! *= 0.08;
  }
  dwb[1] = 2.3;
  b.initializer("dw_w", F, [C, 1, 3, 3], dw);
  b.initializer("dw_b", F, [C], dwb);
  const d = b.node("Conv", [s, "dw_w", "dw_b"], { pads: [1, 1, 1, 1], group: C }, ["dw_out"], { name: "dw" });
  // Learnable affine in float: the narrow channel is scaled up 40×, the wide one down.
  const scale = new Float32Array(C).fill(1);
  scale[0] = 0.02;
  scale[1] = 40;
  const shift = new Float32Array(C);
  shift[1] = -92;
  b.initializer("affine_scale", F, [1, C, 1, 1], scale);
  b.initializer("affine_shift", F, [1, C, 1, 1], shift);
  const a = b.node("Add", [b.node("Mul", [d, "affine_scale"], {}, ["affine_mul_out"], { name: "affine_mul" }), "affine_shift"], {}, ["affine_out"], { name: "affine_add" });
  w("pw1_w", [C, C, 1, 1], 5, 0.3);
  w("pw1_b", [C], 6, 0.1);
  const p1 = b.node("Relu", [b.node("Conv", [a, "pw1_w", "pw1_b"], {}, ["pw1_out"], { name: "pw1" })], {}, ["pw1_relu"], { name: "pw1_relu" });
  w("pw2_w", [8, C, 1, 1], 7, 0.3);
  w("pw2_b", [8], 8, 0.1);
  const p2 = b.node("Relu", [b.node("Conv", [p1, "pw2_w", "pw2_b"], {}, ["pw2_out"], { name: "pw2" })], {}, ["pw2_relu"], { name: "pw2_relu" });
  w("head_w", [1, 8, 1, 1], 9, 0.3);
  w("head_b", [1], 10, 0.1);
  b.node("Sigmoid", [b.node("Conv", [p2, "head_w", "head_b"], {}, ["logits"], { name: "head" })], {}, ["prob"], { name: "prob_sigmoid" });
  b.output("prob", F, [1, 1, 32, 32]);
  return b.model({ opset: 13 });
}
