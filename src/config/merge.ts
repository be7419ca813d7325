/**
 * How config layers merge (highest priority first, as c12 passes them):
 * - scalars and objects: the highest layer that sets a key wins (`layerBits` merges key by key);
 * - `exclude`: union of all layers;
 * - `plugins`: starts from the lowest layer's chain; each higher layer replaces an entry with the same name in place,
 *   appends new names, removes `"!name"`, and `"$reset"` first drops everything below it. Markers are kept in the
 *   merged chain so merging is associative (c12 merges in several steps); `resolveChain` drops them.
 */
import { namesOfKind, type PluginRegistry } from "./registry.ts";
import type { PluginSpec } from "./schema.ts";
import { normalizeKeys } from "./schema.ts";

/** Name a chain entry is matched by across layers. */
export function specName(s: PluginSpec): string {
  if (typeof s === "string") return s.replace(/^!/, "").replace(/^.*[\\/]/, "").replace(/\.(m?[jt]s)$/, "");
  if (Array.isArray(s)) return specName(s[0]);
  return s.name;
}

/** Merge a higher layer's chain over a lower one. */
export function mergeChains(lower: PluginSpec[] | undefined, higher: PluginSpec[] | undefined): PluginSpec[] | undefined {
  if (!higher) return lower;
  if (!lower) return higher;
  if (higher[0] === "$reset") return higher;
  const out = [...lower];
  for (const h of higher) {
    const name = specName(h);
    const idx = out.findIndex((l) => !(typeof l === "string" && (l.startsWith("!") || l === "$reset")) && specName(l) === name);
    if (typeof h === "string" && h.startsWith("!")) {
      if (idx >= 0) out.splice(idx, 1);
      out.push(h);
    } else if (idx >= 0) out[idx] = h;
    else out.push(h);
  }
  return out;
}

const isMarker = (s: PluginSpec) => typeof s === "string" && (s.startsWith("!") || s === "$reset");

/** The chain entry `method` (and `percentile`) stand for. */
export function calibratorSpec(method: string, percentile?: number): PluginSpec {
  return method === "percentile" && percentile !== undefined ? ["percentile", { percentile }] : method;
}

/**
 * Keys that stand for chain entries, applied to an inherited chain by a layer that sets them without its own
 * `plugins`: `method`/`percentile` swap the chain's calibrator (only a chain that calibrates), `nativeInt4` adds or
 * removes the `int4` packer. So `extends: cnn` + `method: entropy` calibrates with entropy, as written.
 */
export function applyChainKeys(
  chain: PluginSpec[],
  layer: { method?: unknown; percentile?: unknown; nativeInt4?: unknown },
  merged: { method?: unknown; percentile?: unknown },
  calibrators: ReadonlySet<string>,
): PluginSpec[] {
  let out = chain;
  if (layer.method !== undefined || layer.percentile !== undefined) {
    const idx = out.findIndex((s) => !isMarker(s) && calibrators.has(specName(s)));
    const method = typeof merged.method === "string" ? merged.method : idx >= 0 ? specName(out[idx]!) : undefined;
    if (idx >= 0 && method) {
      out = out.filter((s) => isMarker(s) || !calibrators.has(specName(s)));
      out.splice(idx, 0, calibratorSpec(method, typeof merged.percentile === "number" ? merged.percentile : undefined));
    }
  }
  if (layer.nativeInt4 !== undefined) {
    const has = out.some((s) => !isMarker(s) && specName(s) === "int4");
    if (layer.nativeInt4 && !has) {
      const idx = out.findIndex((s) => !isMarker(s) && specName(s) === "int8");
      if (idx >= 0) out = [...out.slice(0, idx), "int4", ...out.slice(idx)];
    } else if (!layer.nativeInt4 && has) out = out.filter((s) => isMarker(s) || specName(s) !== "int4");
  }
  return out;
}

const toList = (v: unknown): unknown[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/**
 * The c12 merger for a registry: sources in priority order (highest first). `method` swaps the chain entry that is
 * one of the registry's calibrators.
 */
export function layerMerger(registry?: PluginRegistry): (...sources: (Record<string, unknown> | null | undefined)[]) => Record<string, unknown> {
  const calibrators = namesOfKind(registry, "calibrator");
  return (...sources) => mergeWith(calibrators, sources);
}

/** Merge config layers given highest priority first, without a registry (`method` then names no chain entry). */
export function mergeLayers(...sources: (Record<string, unknown> | null | undefined)[]): Record<string, unknown> {
  return mergeWith(new Set(), sources);
}

function mergeWith(calibrators: ReadonlySet<string>, sources: (Record<string, unknown> | null | undefined)[]): Record<string, unknown> {
  const layers = sources.filter((s): s is Record<string, unknown> => !!s && typeof s === "object").map((s) => normalizeKeys(s));
  const out: Record<string, unknown> = {};
  for (const layer of [...layers].reverse()) {
    for (const [k, v] of Object.entries(layer)) {
      if (v === undefined) continue;
      if (k === "plugins") out.plugins = mergeChains(out.plugins as PluginSpec[] | undefined, v as PluginSpec[]);
      else if (k === "exclude") out.exclude = [...new Set([...((out.exclude as string[]) ?? []), ...(Array.isArray(v) ? v : [v])])];
      else if (k === "layerBits") out.layerBits = { ...((out.layerBits as object) ?? {}), ...(v as object) };
      // A higher layer's presets come first (c12 gives earlier extends layers higher priority).
      else if (k === "extends") out.extends = [...toList(v), ...toList(out.extends)];
      else out[k] = v;
    }
    // A layer's own chain edits (`"!fold-batchnorm"`, an added exporter) do not undo its keys; naming a calibrator
    // (or the int4 packer) in its plugins is the explicit choice that does.
    if (Array.isArray(out.plugins)) {
      const own = Array.isArray(layer.plugins) ? (layer.plugins as PluginSpec[]).filter((s) => !isMarker(s)).map(specName) : [];
      const keys = {
        method: own.some((n) => calibrators.has(n)) ? undefined : layer.method,
        percentile: own.some((n) => calibrators.has(n)) ? undefined : layer.percentile,
        nativeInt4: own.includes("int4") ? undefined : layer.nativeInt4,
      };
      out.plugins = applyChainKeys(out.plugins as PluginSpec[], keys, out, calibrators);
    }
  }
  return out;
}
