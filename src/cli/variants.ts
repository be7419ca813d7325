/** `quant variants`: the transformers.js variant set of a model (or of every model in a folder), measured. */
import { mkdirSync, statSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { defineCommand } from "citty";
import { QuantError } from "../errors/errors.ts";
import { expandInputs } from "../config/plan.ts";
import { formatVariants, makeVariants, variantSpecs, VARIANTS, type VariantRow } from "../pipeline/variants.ts";
import { globalArgs, parseShapes, repeated } from "./args.ts";
import { builtinPlugins } from "./registry.ts";
import { makeLogger, printJson, wantsJson, type GlobalFlags } from "./io.ts";

/** Examples printed by `quant variants --help`; test/cli/help-examples.test.ts runs every one. */
export const examples = [
  "quant variants model.onnx -o onnx/ --runs 5",
  "quant variants models/ -o onnx-all/ --modes q8,q4,q4f16 --runs 0 --format json",
  "quant variants transformer.onnx -o onnx-tf/ --shape rows=4x8x8   (timed at batch 4)",
];

export default defineCommand({
  meta: {
    name: "variants",
    description: `The files transformers.js loads by dtype, from one float32 model (or each model of a folder):
${VARIANTS.map((v) => `  ${v.mode.padEnd(6)} <name>${v.suffix}.onnx  ${v.description}`).join("\n")}
Each is measured against the float model in onnxruntime-node (size, output SQNR on a random input, speed on 1 thread).`,
  },
  args: {
    model: { type: "positional", required: true, description: "Input ONNX model, or a folder of .onnx files" },
    output: { type: "string", alias: "o", required: true, description: "Output folder" },
    modes: { type: "string", description: `Comma list of modes (default all: ${VARIANTS.map((v) => v.mode).join(",")})`, valueHint: "M,…" },
    runs: { type: "string", description: "Timed runs per variant for the speed figure (default 50; 0 skips timing)", valueHint: "N" },
    shape: { type: "string", description: "Shape of a measurement input, name=1x128 (repeatable; symbolic dims default to 1)", valueHint: "NAME=SHAPE" },
    ...globalArgs,
  },
  async run({ args, rawArgs }) {
    const flags = args as GlobalFlags;
    const json = wantsJson(flags);
    const logger = makeLogger(flags);
    const modes = args.modes ? String(args.modes).split(",").map((s) => s.trim()).filter(Boolean) : undefined;
    variantSpecs(modes); // unknown modes fail before any work
    const runs = args.runs === undefined ? 50 : Number(args.runs);
    if (!Number.isInteger(runs) || runs < 0) throw new QuantError("E_USAGE", `--runs must be a non-negative integer (got ${args.runs})`);
    const shapes = parseShapes(repeated(rawArgs, "shape"));
    const input = resolve(String(args.model));
    let isDir = false;
    try {
      isDir = statSync(input).isDirectory();
    } catch (e) {
      throw new QuantError((e as NodeJS.ErrnoException).code === "ENOENT" ? "E_LOAD_MISSING" : "E_LOAD_READ", `cannot read ${input}: ${(e as NodeJS.ErrnoException).code ?? e}`);
    }
    const models = isDir ? expandInputs(input, process.cwd()) : [input];
    if (!models.length) throw new QuantError("E_USAGE", `no .onnx files in ${input}`);
    const out = resolve(String(args.output));
    mkdirSync(out, { recursive: true });
    const all: { input: string; variants: VariantRow[] }[] = [];
    for (const [i, m] of models.entries()) {
      const rows = await makeVariants(m, out, {
        registry: builtinPlugins,
        modes,
        runs,
        shapes,
        logger,
        onStart: (mode, index, total) => {
          if (!flags.quiet) logger.info(`[${i + 1}/${models.length}] ${basename(m)}: ${mode} (${index + 1}/${total})`);
        },
      });
      all.push({ input: m, variants: rows });
      if (!json && !flags.quiet) process.stdout.write(`${formatVariants(m, rows)}\n`);
    }
    if (json) printJson({ output: out, models: all.map((a) => ({ ...a, variants: a.variants.map((r) => ({ ...r, file: join(out, basename(r.file)) })) })) });
    return 0;
  },
});
