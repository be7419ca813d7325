/**
 * Reproducers of fuzz failures: one folder per failure under test/fuzz/corpus/ with `model.onnx`, any files the
 * model refers to (external data) under `files/`, and `case.json` (mode, kind, signature, mutations). The replay
 * test runs every folder through the same chain as the fuzzer.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import type { CaseMode, FuzzCase } from "./mutate.ts";

/** Folder holding the reproducers. */
export const CORPUS = join(import.meta.dir, "corpus");

/** What went wrong. */
export type FailureKind = "crash" | "hang" | "rss" | "exit";

/** Save `c` as a reproducer; returns its folder (named by content hash, so a repeat is not saved twice). */
export function saveReproducer(c: FuzzCase, kind: FailureKind, signature: string, root = CORPUS): string {
  const h = createHash("sha256").update(c.model);
  for (const [k, v] of Object.entries(c.files)) h.update(k).update(v);
  const dir = join(root, `${kind}-${c.mode}-${h.digest("hex").slice(0, 12)}`);
  if (existsSync(dir)) return dir;
  mkdirSync(join(dir, "files"), { recursive: true });
  writeFileSync(join(dir, "model.onnx"), c.model);
  for (const [name, bytes] of Object.entries(c.files)) {
    mkdirSync(dirname(join(dir, "files", name)), { recursive: true });
    writeFileSync(join(dir, "files", name), bytes);
  }
  writeFileSync(join(dir, "case.json"), `${JSON.stringify({ kind, mode: c.mode, seed: c.seed, signature, mutations: c.mutations }, null, 2)}\n`);
  return dir;
}

/** Every reproducer under `root`. */
export function loadReproducers(root = CORPUS): { name: string; kind: FailureKind; expect?: string; case: FuzzCase }[] {
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((d) => existsSync(join(root, d, "case.json")))
    .sort()
    .map((d) => {
      // `expect` (optional, added by hand once fixed): the outcome the case must now have, `ok` or an error code.
      const meta = JSON.parse(readFileSync(join(root, d, "case.json"), "utf8")) as { kind: FailureKind; mode: CaseMode; seed: string; mutations?: string[]; expect?: string };
      const files: Record<string, Uint8Array> = {};
      const walk = (p: string) => {
        for (const f of readdirSync(p)) {
          const full = join(p, f);
          if (statSync(full).isDirectory()) walk(full);
          else files[relative(join(root, d, "files"), full)] = readFileSync(full);
        }
      };
      if (existsSync(join(root, d, "files"))) walk(join(root, d, "files"));
      return { name: d, kind: meta.kind, expect: meta.expect, case: { seed: meta.seed, mode: meta.mode, model: readFileSync(join(root, d, "model.onnx")), files, mutations: meta.mutations ?? [] } };
    });
}
