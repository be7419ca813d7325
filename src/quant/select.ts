/** Name matching for --exclude and --layer-bits: exact names or globs (`*`, `?`, `[…]`). */

const cache = new Map<string, RegExp>();

/** A glob as a whole-string RegExp. */
export function globToRegExp(glob: string): RegExp {
  let re = cache.get(glob);
  if (!re) {
    const body = glob.replace(/[.+^${}()|\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
    re = new RegExp(`^${body}$`);
    cache.set(glob, re);
  }
  return re;
}

/** True when any of `names` matches any pattern (exact or glob). */
export function matchesAny(patterns: readonly string[], names: readonly (string | undefined)[]): string | undefined {
  for (const p of patterns) {
    const glob = /[*?[]/.test(p);
    for (const n of names) {
      if (!n) continue;
      if (glob ? globToRegExp(p).test(n) : p === n) return p;
    }
  }
  return undefined;
}

/** Bits for a layer from `--layer-bits` (first matching pattern in insertion order), or undefined. */
export function layerBitsFor(layerBits: Readonly<Record<string, number>>, names: readonly (string | undefined)[]): number | undefined {
  for (const [p, bits] of Object.entries(layerBits)) if (matchesAny([p], names)) return Number(bits);
  return undefined;
}
