/**
 * The files of a saved model: content-addressed external data names (`<model>.<hash>.data`), their generations and
 * orphans, and the set of files a model reads (which a save must never replace). See README "Safety guarantees".
 */
import { readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { Protected } from "../io/atomic.ts";
import { pidAlive } from "../io/cleanup.ts";
import { decodeModelProto } from "./proto.ts";
import { externalRef, isExternal } from "./external.ts";
import { allTensors } from "./walk.ts";
import type { Model } from "./model.ts";

/** Content-addressed data file name of a model file: `<model file>.<16 hex of the data's SHA-256>.data`. */
export function dataFileName(modelFile: string, digest: string): string {
  return `${basename(modelFile)}.${digest.slice(0, 16)}.data`;
}

/** Generations of the data file of `modelFile` other than `keep` (our content-addressed names only). */
export function oldGenerations(dir: string, modelFile: string, keep: string): string[] {
  const esc = basename(modelFile).replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const re = new RegExp(`^${esc}\\.[0-9a-f]{16}\\.data$`);
  try {
    return readdirSync(dir).filter((n) => re.test(n) && n !== keep).map((n) => resolve(dir, n));
  } catch {
    return [];
  }
}

/** The model's own files (its .onnx and every external data file it reads): a save may never replace them. */
export function inputsOf(model: Model): Protected {
  const p = new Protected();
  if (model.path) p.add(model.path, `model ${basename(model.path)}`);
  if (model.external) {
    for (const site of allTensors(model.proto)) if (isExternal(site.tensor)) {
      try {
        model.external.open(externalRef(site.tensor).location);
      } catch {
        // unreadable data is reported by the read itself
      }
    }
    p.addIds(model.external.ids(), "external data of the model");
  }
  return p;
}

/**
 * Remove content-addressed data files of `modelFile` (`<name>.<hash>.data`) that the model now at that path does not
 * reference: older generations, and data a killed writer put in place before it could publish its model. Nothing is
 * removed while another live process is writing that output (its temp `.<name>.tmp-<pid>-…` exists): the data it
 * placed is about to be referenced. Returns the files removed.
 */
export function removeOrphanData(modelFile: string, opts: { keep?: string; protect?: Protected; except?: number } = {}): string[] {
  const file = resolve(modelFile);
  const dir = dirname(file);
  const tempOf = new RegExp(`^\\.${basename(file).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\.tmp-(\\d+)-`);
  try {
    for (const n of readdirSync(dir)) {
      const pid = Number(tempOf.exec(n)?.[1]);
      if (pid && pid !== opts.except && pidAlive(pid)) return [];
    }
  } catch {
    return [];
  }
  const keep = new Set([opts.keep ?? ""]);
  try {
    // Re-read: another writer may have published after us; its data must stay.
    const proto = decodeModelProto(readFileSync(file));
    for (const s of allTensors(proto)) if (isExternal(s.tensor)) keep.add(basename(externalRef(s.tensor).location));
  } catch {
    // no model there (or unreadable): every generation is an orphan
  }
  const gone = oldGenerations(dir, file, "").filter((f) => !keep.has(basename(f)) && !(opts.protect && protectedPath(opts.protect, f)));
  for (const f of gone) rmSync(f, { force: true });
  return gone;
}

/** Size of a regular file, else undefined. */
export function sizeOf(path: string): number | undefined {
  try {
    const st = statSync(path);
    return st.isFile() ? st.size : undefined;
  } catch {
    return undefined;
  }
}

function protectedPath(p: Protected, path: string): boolean {
  try {
    p.check(path);
    return false;
  } catch {
    return true;
  }
}

