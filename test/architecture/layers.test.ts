/**
 * The layering rules of the code base, read from the import statements of every source file (tests excluded):
 * - a built-in plugin imports only the public API (`src/index.ts`), exactly as a user's plugin would;
 * - `src/` never imports `plugins/`, except the one file that wires the built-in registry into the CLI;
 * - the top-level folders of `src/` import each other without a circle (the folder graph is acyclic);
 * - `src/kernel/` (the plugin contract) imports nothing from `src/data`, `src/runtime` or the ONNX codec modules.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { Glob } from "bun";

const ROOT = resolve(import.meta.dir, "../..");
/** The only file of src/ allowed to import plugins/: the CLI's wiring of the built-in registry. */
const REGISTRY_WIRING = "src/cli/registry.ts";
/** ONNX modules that decode, encode or open model files: the kernel may use the types, never these. */
const ONNX_CODECS = ["src/onnx/codec.ts", "src/onnx/proto.ts", "src/onnx/external.ts", "src/onnx/encode-chunks.ts", "src/onnx/data-files.ts", "src/onnx/load-normalize.ts"];

/** Every relative module a file imports or re-exports (static `import`/`export … from`, dynamic `import()`), type-only included. */
export function importsOf(source: string): string[] {
  const text = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
  const out: string[] = [];
  const re = /\b(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']\s*\)/g;
  for (let m; (m = re.exec(text)); ) out.push((m[1] ?? m[2])!);
  return out;
}

/** The import graph between source files (repo-relative paths), relative imports only. */
function graph(): Map<string, string[]> {
  const files = [...new Glob("{src,plugins}/**/*.ts").scanSync({ cwd: ROOT })].filter((f) => !f.endsWith(".test.ts") && !f.endsWith(".d.ts")).sort();
  const g = new Map<string, string[]>();
  for (const f of files) {
    const deps = importsOf(readFileSync(join(ROOT, f), "utf8"))
      .filter((s) => s.startsWith("."))
      .map((s) => relative(ROOT, resolve(ROOT, dirname(f), s)).replaceAll("\\", "/"));
    g.set(f, deps);
  }
  return g;
}

const G = graph();
const edges = [...G].flatMap(([from, deps]) => deps.map((to) => ({ from, to })));
const srcFolder = (f: string) => (f.startsWith("src/") && f.split("/").length > 2 ? f.split("/")[1]! : undefined);

describe("layers", () => {
  test("the parser sees every kind of import", () => {
    const src = `import a from "./a.ts";\nimport type { B } from "../b.ts";\nexport { c } from "./c.ts";\nexport * from "./d.ts";\nconst e = await import("./e.ts");\n// import x from "./commented.ts"\nimport {\n  f,\n  g,\n} from "./fg.ts";`;
    expect(importsOf(src)).toEqual(["./a.ts", "../b.ts", "./c.ts", "./d.ts", "./e.ts", "./fg.ts"]);
    expect(G.size).toBeGreaterThan(100);
    expect(edges.length).toBeGreaterThan(300);
  });

  test("plugins/ import only src/index.ts from src/", () => {
    const bad = edges.filter((e) => e.from.startsWith("plugins/") && e.to.startsWith("src/") && e.to !== "src/index.ts");
    expect(bad.map((e) => `${e.from} → ${e.to}`)).toEqual([]);
  });

  test("src/ imports plugins/ only in the CLI's registry wiring", () => {
    const bad = edges.filter((e) => e.from.startsWith("src/") && e.to.startsWith("plugins/") && e.from !== REGISTRY_WIRING);
    expect(bad.map((e) => `${e.from} → ${e.to}`)).toEqual([]);
  });

  test("the top-level folders of src/ import each other without a circle", () => {
    const folders = new Map<string, Set<string>>();
    const why = new Map<string, string>();
    for (const e of edges) {
      const a = srcFolder(e.from), b = srcFolder(e.to);
      if (!a || !b || a === b) continue;
      if (!folders.has(a)) folders.set(a, new Set());
      folders.get(a)!.add(b);
      why.set(`${a}→${b}`, `${e.from} → ${e.to}`);
    }
    // Depth-first search; a back edge closes a circle, reported with one import per step.
    const cycles: string[] = [];
    const state = new Map<string, 1 | 2>();
    const stack: string[] = [];
    const visit = (n: string) => {
      state.set(n, 1);
      stack.push(n);
      for (const m of folders.get(n) ?? []) {
        if (state.get(m) === 1) {
          const loop = [...stack.slice(stack.indexOf(m)), m];
          cycles.push(loop.slice(1).map((to, i) => why.get(`${loop[i]}→${to}`)).join("; "));
        } else if (!state.has(m)) visit(m);
      }
      stack.pop();
      state.set(n, 2);
    };
    for (const n of [...folders.keys()].sort()) if (!state.has(n)) visit(n);
    expect(cycles).toEqual([]);
  });

  test("src/kernel imports nothing from src/data, src/runtime or the ONNX codecs", () => {
    const bad = edges.filter((e) => e.from.startsWith("src/kernel/") && (e.to.startsWith("src/data/") || e.to.startsWith("src/runtime/") || ONNX_CODECS.includes(e.to)));
    expect(bad.map((e) => `${e.from} → ${e.to}`)).toEqual([]);
  });
});
