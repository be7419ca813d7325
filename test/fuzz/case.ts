/**
 * Running one fuzz case: write the model (and any external-data files) into a scratch folder, then load →
 * quantize → save through the kernel with the case's chain. Outcomes:
 * - `ok` (output written) or `E_…` (a QuantError a user can act on): fine;
 * - anything else throws {@link FuzzCrash}: a non-QuantError, or a QuantError that only wraps one (a built-in plugin
 *   or the loader tripping over a JS error: a bug that was caught, not a refusal that was meant).
 */
import { mkdirSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { createConsola } from "consola";
import { isQuantError, QuantError } from "../../src/errors/errors.ts";
import { runPipeline } from "../../src/pipeline/pipeline.ts";
import { defaultChain } from "../../src/config/plan.ts";
import { resolveChain } from "../../src/config/resolve.ts";
import type { PluginSpec } from "../../src/config/schema.ts";
import type { RunOptions } from "../../src/kernel/options.ts";
import type { Plugin } from "../../src/kernel/types.ts";
import type { CaseMode, FuzzCase } from "./mutate.ts";
import { builtinPlugins } from "../../plugins/registry.ts";

/** A failure that is a bug in quant, with a signature stable across runs (for minimizing). */
export class FuzzCrash extends Error {
  constructor(
    readonly signature: string,
    readonly original: unknown,
  ) {
    super(signature);
  }
}

const silent = createConsola({ level: -999 });

/** Options and chain of each mode. */
function plan(mode: CaseMode, out: string): { options: Partial<RunOptions>; chain: PluginSpec[] } {
  const weights = (o: Partial<RunOptions>): PluginSpec[] =>
    defaultChain("weights", o, builtinPlugins).map((s) => (s === "weight-only" ? (["weight-only", { sensitivity: false }] as PluginSpec) : s));
  switch (mode) {
    case "int8": return { options: { output: out, perChannel: true }, chain: weights({}) };
    case "int4": {
      const o: Partial<RunOptions> = { output: out, bits: 4, blockSize: 32, symmetric: true, nativeInt4: out.length % 2 === 0 };
      return { options: o, chain: weights(o) };
    }
    case "opset21": return { options: { output: out, opset: 21 }, chain: weights({}) };
    case "external": return { options: { output: out, externalData: true, bits: 4, blockSize: 32 }, chain: weights({}) };
    case "static": return { options: { output: out, samples: 2, batchSize: 1 }, chain: defaultChain("static", {}, builtinPlugins) };
  }
}

const chains = new Map<string, Plugin[]>();
async function plugins(chain: PluginSpec[]): Promise<Plugin[]> {
  const key = JSON.stringify(chain);
  let p = chains.get(key);
  if (!p) chains.set(key, (p = await resolveChain(chain, { registry: builtinPlugins })));
  return p;
}

/** The bug signature of an error, or undefined when it is a proper QuantError. */
export function crashSignature(e: unknown): string | undefined {
  // The input passed loadModel's checks, so an output that fails them (duplicate names, bad tensors…) is quant's doing.
  if (isQuantError(e) && e.code === "E_EXPORT_INVALID" && /^the output is not a valid model/.test(e.message)) {
    const cause = (e as QuantError).cause;
    return `E_EXPORT_INVALID (our output does not load): ${normalize(isQuantError(cause) ? `${cause.code} ${cause.message}` : String((cause as Error)?.message ?? cause))}`;
  }
  if (isQuantError(e)) {
    const cause = (e as QuantError).cause;
    // Built-in code wrapped a JS error (TypeError, RangeError…) into a coded one: still a bug.
    if (cause instanceof Error && !isQuantError(cause) && /^(TypeError|RangeError|ReferenceError|SyntaxError|Error)$/.test(cause.name) && wrapsBug(e as QuantError)) {
      return `${e.code} wrapping ${cause.name}: ${normalize(cause.message)}`;
    }
    return undefined;
  }
  const err = e as Error;
  return `${err?.name ?? typeof e}: ${normalize(String(err?.message ?? e))}`;
}

/** Codes whose cause is expected to be a foreign error (file system, protobuf decoder, onnxruntime). */
function wrapsBug(e: QuantError): boolean {
  if (e.code === "E_PLUGIN") return true;
  return e.code === "E_LOAD_PARSE" && /^corrupt ONNX model/.test(e.message);
}

const normalize = (m: string) => m.replace(/\d+/g, "N").replace(/'[^']*'|"[^"]*"/g, "'…'").slice(0, 120);

/** Run a case in `dir` (emptied first). Returns `ok` or the QuantError code; throws FuzzCrash for bugs. */
export async function runCase(c: FuzzCase, dir: string): Promise<string> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const modelPath = join(dir, "model.onnx");
  writeFileSync(modelPath, c.model);
  for (const [name, bytes] of Object.entries(c.files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), bytes);
  }
  const out = join(dir, "out", "q.onnx");
  mkdirSync(dirname(out), { recursive: true });
  const { options, chain } = plan(c.mode, out);
  try {
    await runPipeline({ model: modelPath, plugins: await plugins(chain), options, logger: silent });
  } catch (e) {
    const sig = crashSignature(e);
    if (sig) throw new FuzzCrash(sig, e);
    return (e as QuantError).code;
  }
  if (!existsSync(out)) throw new FuzzCrash("run succeeded without writing its output", undefined);
  return "ok";
}
