/** Which tensor an output's accuracy is measured on: pre-activation logits behind Sigmoid/Softmax (through layout ops). */
import { describe, expect, test } from "bun:test";
import { DataType, GraphBuilder } from "../../src/index.ts";
import { describeMeasured, measuredOutputs } from "../../src/accuracy/outputs.ts";

const F = DataType.FLOAT;

describe("measuredOutputs", () => {
  test("Sigmoid output → its input; Softmax → Reshape → Transpose output → the Softmax input; plain output → itself", () => {
    const b = new GraphBuilder();
    b.input("x", F, [1, 4]);
    b.node("Sigmoid", ["x"], {}, ["p"]);
    b.initializer("shape", DataType.INT64, [2], BigInt64Array.of(2n, 2n));
    const r = b.node("Reshape", [b.node("Softmax", ["x"], { axis: 1 }, ["sm"]), "shape"], {}, ["r"]);
    b.node("Transpose", [r], { perm: [1, 0] }, ["scores"]);
    b.node("Relu", ["x"], {}, ["feat"]);
    for (const o of ["p", "scores", "feat"]) b.output(o, F);
    const g = b.model().graph!;
    expect(measuredOutputs(g)).toEqual([
      { output: "p", tensor: "x", through: "Sigmoid" },
      { output: "scores", tensor: "x", through: "Softmax" },
      { output: "feat", tensor: "feat" },
    ]);
    expect(describeMeasured(g)).toBe("pre-Sigmoid logits of 'p' and pre-Softmax logits of 'scores' and 'feat'");
  });

  test("a Softmax whose output is also read by other ops is measured as the output itself", () => {
    const b = new GraphBuilder();
    b.input("x", F, [1, 4]);
    b.node("Softmax", ["x"], {}, ["p"]);
    b.node("Relu", ["p"], {}, ["q"]);
    b.output("p", F);
    b.output("q", F);
    expect(measuredOutputs(b.model().graph!)[0]).toEqual({ output: "p", tensor: "p" });
  });
});
