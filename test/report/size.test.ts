import { describe, expect, test } from "bun:test";
import { DataType, GraphBuilder, encodeModelProto, loadModel } from "../../src/index.ts";
import { sizeBreakdown } from "../../src/report/size.ts";
import { quantRange, weightHistograms } from "../../src/report/tensors.ts";
import { esc, fmt } from "../../src/report/svg.ts";

/** x[N,4] → MatMul(W[4,3]) → Relu → y; W float, or int8 per-channel behind a DequantizeLinear, and y's Relu input behind a per-tensor Q/DQ. */
function model(quantized: boolean) {
  const b = new GraphBuilder("m");
  b.input("x", DataType.FLOAT, ["N", 4]);
  if (!quantized) b.initializer("W", DataType.FLOAT, [4, 3], new Float32Array(12).map((_, i) => (i - 6) / 8));
  else {
    b.initializer("Wq", DataType.INT8, [4, 3], Int8Array.from({ length: 12 }, (_, i) => (i - 6) * 2));
    b.initializer("s", DataType.FLOAT, [3], new Float32Array(3).fill(1 / 16));
    b.initializer("zp", DataType.INT8, [3], new Int8Array(3));
    b.node("DequantizeLinear", ["Wq", "s", "zp"], { axis: 1 }, ["W"], { name: "dq" });
  }
  b.node("MatMul", ["x", "W"], {}, ["h"], { name: "mm" });
  if (quantized) {
    b.initializer("hs", DataType.FLOAT, [], new Float32Array([0.1]));
    b.initializer("hz", DataType.UINT8, [], new Uint8Array([128]));
    b.node("QuantizeLinear", ["h", "hs", "hz"], {}, ["hq"], { name: "q" });
    b.node("DequantizeLinear", ["hq", "hs", "hz"], {}, ["hd"], { name: "dqh" });
  }
  b.node("Relu", [quantized ? "hd" : "h"], {}, ["y"], { name: "relu" });
  b.output("y", DataType.FLOAT, ["N", 3]);
  return loadModel(encodeModelProto(b.model({ opset: 13 })));
}

describe("size breakdown", () => {
  test("bytes by tensor type and by the op that consumes them, through Q/DQ", () => {
    expect(sizeBreakdown(model(false))).toEqual({ total: 48, byDtype: { float: 48 }, byOpType: { MatMul: 48 } });
    // Wq 12 B int8 + s 12 B float + zp 3 B int8 for the MatMul; hs 4 B float + hz 1 B uint8 feed the Relu (through Q → DQ).
    expect(sizeBreakdown(model(true))).toEqual({ total: 32, byDtype: { int8: 15, float: 16, uint8: 1 }, byOpType: { MatMul: 27, Relu: 5 } });
  });
});

describe("quantization ranges", () => {
  test("per-tensor uint8 scale 0.1 zero point 128 represents [-12.8, 12.7]; per-channel weights have none", () => {
    const q = model(true);
    const r = quantRange(q, "h")!;
    expect(r.type).toBe("uint8");
    expect(r.lo).toBeCloseTo(-12.8, 5);
    expect(r.hi).toBeCloseTo(12.7, 5);
    expect(r.step).toBeCloseTo(0.1, 7);
    expect(quantRange(q, "W")).toBeUndefined();
    expect(quantRange(q, "nothing")).toBeUndefined();
  });

  test("weight histogram: counts sum to the element count, range is the exact min/max", () => {
    const [h] = weightHistograms(model(false), model(true), [{ name: "W", opType: "MatMul", sqnrDb: 40 }]);
    expect(h!.values).toBe(12);
    expect(h!.counts.reduce((a, b) => a + b, 0)).toBe(12);
    expect(h!.min).toBe(-0.75);
    expect(h!.max).toBe(0.625);
    expect(h!.qRange).toBeUndefined();
  });
});

describe("escaping", () => {
  test("every HTML-significant character, and SQNR display", () => {
    expect(esc(`<a href="x" onclick='y'>&amp;</a>`)).toBe("&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;");
    expect([fmt(null), fmt(Infinity), fmt(-Infinity), fmt(Number.NaN), fmt(12.345)]).toEqual(["∞", "∞", "-∞", "—", "12.35"]);
  });
});
