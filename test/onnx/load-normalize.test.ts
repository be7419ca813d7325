/**
 * What the kernel settles right after loading: node order (sorted once, one info line, no per-node warnings) and
 * initializers listed as graph inputs (IR < 4: constants, dropped from the inputs; IR ≥ 4: overridable and kept
 * float unless --inputs-as-constants).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GraphBuilder } from "../../src/onnx/builder.ts";
import { loadModel } from "../../src/onnx/codec.ts";
import { dropInitializerInputs, initializerInputs, sortNodes } from "../../src/onnx/load-normalize.ts";
import { encodeModelProto } from "../../src/onnx/proto.ts";
import { sqnrDb } from "../../src/tensor/quantize.ts";
import { DataType } from "../../src/tensor/dtypes.ts";
import { quant } from "../cli/helpers.ts";
import { oldOpsetCnn } from "../helpers/old-opset.ts";
import { mlpModel } from "../helpers/models.ts";
import { f32, randomFeeds, run } from "./ort.ts";

const dir = mkdtempSync(join(tmpdir(), "quant-loadnorm-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("node order", () => {
  test("sortNodes puts a reversed graph in topological order and leaves a sorted one alone", () => {
    const m = mlpModel();
    const order = m.proto.graph!.node!.map((n) => n.op_type);
    expect(sortNodes(m)).toEqual([]);
    m.proto.graph!.node!.reverse();
    expect(sortNodes(m)).toEqual(["main"]);
    expect(m.proto.graph!.node!.map((n) => n.op_type)).toEqual(order);
  });
  test("an If body out of order is sorted too, and named", () => {
    const body = new GraphBuilder("then");
    body.node("Relu", ["t"], {}, ["r"], { name: "late" });
    body.node("Neg", ["x"], {}, ["t"], { name: "early" });
    body.output("r", DataType.FLOAT, [2]);
    const b = new GraphBuilder();
    b.input("x", DataType.FLOAT, [2]);
    b.input("c", DataType.BOOL, []);
    b.node("If", ["c"], { then_branch: body.graph, else_branch: body.graph }, ["y"], { name: "if" });
    b.output("y", DataType.FLOAT, [2]);
    const m = loadModel(encodeModelProto(b.model()), { check: false });
    expect(sortNodes(m)).toEqual(["main/if.then_branch", "main/if.else_branch"]);
  });
  test("the CLI sorts once: one info line, no node-order warnings, a sorted output", async () => {
    const proto = oldOpsetCnn(12);
    const nodes = proto.graph!.node!;
    proto.graph!.node = [...nodes.slice(6), ...nodes.slice(0, 6)]; // the tail first: 6 reads out of order
    const p = join(dir, "unsorted.onnx");
    writeFileSync(p, encodeModelProto(proto));
    for (const args of [["quantize", "--per-channel"], ["calibrate", "--samples", "2", "--shape", "1x3x16x16"]]) {
      const out = join(dir, `sorted-${args[0]}.onnx`);
      const r = quant([args[0]!, p, "-o", out, ...args.slice(1)]);
      expect(r.code).toBe(0);
      expect(r.stderr.split("\n").filter((l) => l.includes("topological"))).toEqual(["ℹ nodes were not in topological order; sorted"]);
      expect(r.stdout + r.stderr).not.toContain("node-order");
      const feeds = randomFeeds(proto, 5);
      expect(sqnrDb(f32((await run(p, feeds)).y), f32((await run(out, feeds)).y))).toBeGreaterThan(20);
    }
    const v = quant(["validate", p, join(dir, "sorted-quantize.onnx"), "--samples", "2", "--format", "json"]);
    expect(v.stdout).not.toContain("node-order");
  });
});

describe("initializers listed as graph inputs", () => {
  test("only inputs with a same-named initializer are taken; real inputs stay", () => {
    const m = loadModel(encodeModelProto(oldOpsetCnn(9, { initializersAsInputs: true })));
    expect(initializerInputs(m)).toHaveLength(9);
    expect(dropInitializerInputs(m)).toHaveLength(9);
    expect(m.proto.graph!.input!.map((v) => v.name)).toEqual(["x"]);
    expect(m.proto.graph!.initializer).toHaveLength(9);
  });
  test("IR 4, every initializer listed (as PyTorch 1.x exported): constants by default, said in the summary", async () => {
    const proto = oldOpsetCnn(9, { initializersAsInputs: true });
    const p = join(dir, "ir4.onnx");
    writeFileSync(p, encodeModelProto(proto));
    const out = join(dir, "ir4.q.onnx");
    const r = quant(["quantize", p, "-o", out, "--per-channel"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("weights: 2 quantized");
    expect(r.stdout).toContain("note: 9 initializer(s) listed as graph inputs treated as constants and removed from the inputs (every initializer is listed, as older exporters did; --no-inputs-as-constants keeps them overridable and float)");
    expect(loadModel(out).proto.graph!.input!.map((v) => v.name)).toEqual(["x"]);
    const feeds = randomFeeds(proto, 2);
    expect(sqnrDb(f32((await run(p, feeds)).y), f32((await run(out, feeds)).y))).toBeGreaterThan(30);
  });
  test("IR 4 with --no-inputs-as-constants: overridable, a warning says so, E_NOTHING_QUANTIZED, nothing written", () => {
    const p = join(dir, "ir4.onnx");
    const out = join(dir, "ir4.keep.onnx");
    const r = quant(["quantize", p, "-o", out, "--per-channel", "--no-inputs-as-constants"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("9 initializer(s) are also graph inputs (IR 4: callers may override them), so they stay float (--no-inputs-as-constants)");
    expect(r.stderr).toContain("E_NOTHING_QUANTIZED");
    expect(existsSync(out)).toBe(false);
  });
  test("IR 4 listing only some initializers: those stay overridable and float, a warning names the flag; the others are quantized", () => {
    const proto = oldOpsetCnn(9, { initializersAsInputs: true });
    const g = proto.graph!;
    const inits = new Set(g.initializer!.map((t) => t.name));
    // Keep only the first listed initializer as an input: a deliberate override point, not an exporter's habit.
    const firstListed = g.input!.find((v) => inits.has(v.name))!.name;
    g.input = g.input!.filter((v) => !inits.has(v.name) || v.name === firstListed);
    const p = join(dir, "ir4-some.onnx");
    writeFileSync(p, encodeModelProto(proto));
    const out = join(dir, "ir4-some.q.onnx");
    const r = quant(["quantize", p, "-o", out, "--per-channel", "--format", "json"]);
    expect(r.stderr).toContain("1 initializer(s) are also graph inputs (IR 4: callers may override them), so they stay float; pass --inputs-as-constants to quantize them as constants");
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.weights.quantized).toBe(1); // fc.weight; conv.weight stays float and overridable
    const q = loadModel(out).proto.graph!;
    expect(q.input!.map((v) => v.name)).toEqual(["x", firstListed!]);
    expect(q.initializer!.find((t) => t.name === firstListed)!.data_type).toBe(1);
  });
  test("IR 4 with --inputs-as-constants (quantize and calibrate): weights quantized, dropped from the inputs, said in the summary", async () => {
    const proto = oldOpsetCnn(9, { initializersAsInputs: true });
    const p = join(dir, "ir4b.onnx");
    writeFileSync(p, encodeModelProto(proto));
    for (const cmd of ["quantize", "calibrate"]) {
      const out = join(dir, `ir4b.${cmd}.onnx`);
      const r = quant([cmd, p, "-o", out, "--per-channel", "--inputs-as-constants", "--samples", "4"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("weights: 2 quantized");
      expect(r.stdout).toContain("note: 9 initializer(s) listed as graph inputs treated as constants and removed from the inputs (--inputs-as-constants)");
      const q = loadModel(out);
      expect(q.proto.graph!.input!.map((v) => v.name)).toEqual(["x"]);
      const feeds = randomFeeds(proto, 2);
      expect(sqnrDb(f32((await run(p, feeds)).y), f32((await run(out, feeds)).y))).toBeGreaterThan(cmd === "quantize" ? 30 : 20);
    }
  });
  test("IR 3: constants by default (ONNX requires them listed as inputs then); the output's IR is raised past 3", () => {
    const p = join(dir, "ir3.onnx");
    writeFileSync(p, encodeModelProto(oldOpsetCnn(8)));
    const out = join(dir, "ir3.q.onnx");
    const r = quant(["quantize", p, "-o", out, "--format", "json"]);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.weights.quantized).toBe(2);
    expect(rep.notes).toEqual(["8 initializer(s) listed as graph inputs treated as constants and removed from the inputs (IR 3 requires every initializer to be listed as an input; they are constants)"]);
    const q = loadModel(out).proto;
    expect(Number(q.ir_version)).toBeGreaterThanOrEqual(5);
    expect(q.graph!.input!.map((v) => v.name)).toEqual(["x"]);
  });
});
