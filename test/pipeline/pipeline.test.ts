import { describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  QuantError, defineExporter, definePacker, definePass, defineQuantizer, defineValidator, loadModel, runPipeline,
  type Plugin, type QuantEvent,
} from "../../src/index.ts";
import weightOnly from "../../plugins/quantizers/weight-only.ts";
import int8 from "../../plugins/packers/int8.ts";
import onnx from "../../plugins/exporters/onnx.ts";
import { mlpModel } from "../helpers/models.ts";

const tmp = () => mkdtempSync(join(tmpdir(), "quant-kernel-"));

describe("kernel", () => {
  test("phases run in order; plugins of one kind in chain order; setup in order, cleanup in reverse", async () => {
    const log: string[] = [];
    const track = (name: string, kind: "pass" | "exporter") => {
      const common = { name, setup: () => void log.push(`setup ${name}`), cleanup: () => void log.push(`cleanup ${name}`) };
      return kind === "pass"
        ? definePass({ ...common, run: () => void log.push(`run ${name}`) })
        : defineExporter({ ...common, export: () => (log.push(`export ${name}`), []) });
    };
    const events: string[] = [];
    await runPipeline({
      model: mlpModel(),
      plugins: [track("e1", "exporter"), track("p1", "pass"), track("p2", "pass"), track("e2", "exporter")],
      onEvent: (e: QuantEvent) => e.type === "phase:start" && events.push(e.phase),
    });
    expect(events).toEqual(["load", "prepare", "calibrate", "quantize", "pack", "export", "validate"]);
    expect(log).toEqual([
      "setup e1", "setup p1", "setup p2", "setup e2",
      "run p1", "run p2", "export e1", "export e2",
      "cleanup e2", "cleanup p2", "cleanup p1", "cleanup e1",
    ]);
  });

  test("a throwing plugin becomes a QuantError naming plugin, phase and target; cleanup still runs", async () => {
    let cleaned = false;
    const bad = defineQuantizer({
      name: "boom",
      cleanup: () => void (cleaned = true),
      quantize(_m, _i, ctx) {
        ctx.at("w1");
        throw new TypeError("kaput");
      },
    });
    const err = await runPipeline({ model: mlpModel(), plugins: [bad] }).catch((e) => e);
    expect(err).toBeInstanceOf(QuantError);
    expect(err.code).toBe("E_PLUGIN");
    expect(err.site).toMatchObject({ plugin: "boom", phase: "quantize", target: "w1" });
    expect(err.toLine()).toBe('E_PLUGIN [quantize:boom] (w1): plugin "boom" failed in quantize on w1: kaput');
    expect(cleaned).toBe(true);
  });

  test("a QuantError from a plugin keeps its code and gains the site", async () => {
    const p = definePass({ name: "strict", run: () => { throw new QuantError("E_UNSUPPORTED_OP", "no"); } });
    const err = await runPipeline({ model: mlpModel(), plugins: [p] }).catch((e) => e);
    expect(err.code).toBe("E_UNSUPPORTED_OP");
    expect(err.site).toMatchObject({ plugin: "strict", phase: "prepare" });
  });

  test("data moves through return values: the first packer that accepts a tensor packs it", async () => {
    const seen: string[] = [];
    const first = definePacker({ name: "never", accepts: () => false, pack: () => void seen.push("never") });
    const dir = tmp();
    const r = await runPipeline({
      model: mlpModel(),
      plugins: [weightOnly(), first, int8(), onnx()],
      options: { output: join(dir, "out.onnx"), perChannel: true, symmetric: true },
    });
    expect(seen).toEqual([]);
    expect(r.entries.filter((e) => e.action === "quantized").map((e) => e.tensor)).toEqual(["w1", "w2"]);
    expect(r.opset).toEqual({ from: 13, to: 13, needs: [{ plugin: "weight-only", opset: 13, reason: "per-channel weights" }] });
    const out = loadModel(join(dir, "out.onnx"));
    const dq = out.proto.graph!.node!.filter((n) => n.op_type === "DequantizeLinear");
    expect(dq.map((n) => n.output![0])).toEqual(["w2", "w1"]);
    expect(out.proto.graph!.initializer!.find((t) => t.name === "w1_quantized")!.data_type).toBe(3);
  });

  test("a pending tensor no packer accepts is an error naming it", async () => {
    const err = await runPipeline({ model: mlpModel(), plugins: [weightOnly()] }).catch((e) => e);
    expect(err.code).toBe("E_CONFIG");
    expect(err.message).toContain('no packer in the chain accepts int8 tensor "w1_quantized"');
  });

  test("validator errors fail the run; nothing half-written stays behind", async () => {
    const dir = tmp();
    const v = defineValidator({ name: "picky", validate: () => [{ level: "error", code: "picky", message: "no thanks" }] });
    const err = await runPipeline({ model: mlpModel(), plugins: [weightOnly(), int8(), onnx(), v], options: { output: join(dir, "o.onnx") } }).catch((e) => e);
    expect(err.code).toBe("E_VALIDATE");
    expect(err.message).toContain("picky: no thanks");
    expect(readdirSync(dir).filter((f) => f.includes(".tmp-"))).toEqual([]);
  });

  test("the same plugin twice in a chain is refused", async () => {
    const err = await runPipeline({ model: mlpModel(), plugins: [int8(), int8()] as Plugin[] }).catch((e) => e);
    expect(err.code).toBe("E_CONFIG");
  });

  test("the onnx exporter never overwrites its input", async () => {
    const dir = tmp();
    const src = join(dir, "m.onnx");
    await runPipeline({ model: mlpModel(), plugins: [onnx()], options: { output: src } });
    const err = await runPipeline({ model: src, plugins: [weightOnly(), int8(), onnx()], options: { output: src } }).catch((e) => e);
    expect(err.code).toBe("E_OUTPUT_IS_INPUT");
  });
});
