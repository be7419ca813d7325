/**
 * Turn a config's plugin chain into plugin objects: registry names, `[name, options]`, file paths and
 * objects. Unknown names fail with the list of known ones.
 */
import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { QuantError, reason } from "../errors/errors.ts";
import type { Plugin } from "../kernel/types.ts";
import type { PluginRegistry } from "./registry.ts";
import { importUserModule } from "./self.ts";
import { unknownKey, type PluginSpec } from "./schema.ts";

const KINDS = new Set(["pass", "calibrator", "quantizer", "packer", "exporter", "validator"]);

function isPlugin(x: unknown): x is Plugin {
  return !!x && typeof x === "object" && typeof (x as Plugin).name === "string" && KINDS.has((x as Plugin).kind);
}

const looksLikePath = (s: string) => /^(\.{1,2}[\\/]|[\\/])|\.(m?[jt]s)$/.test(s) || isAbsolute(s);

/** Refuse option keys a plugin does not declare (when its module exports `optionKeys`; user plugins may omit it). */
function checkPluginOptions(id: string, opts: unknown, declared: unknown, file?: string): void {
  if (!declared || typeof declared !== "object" || !opts || typeof opts !== "object") return;
  const known = Object.keys(declared);
  for (const k of Object.keys(opts)) {
    if (known.includes(k)) continue;
    if (!known.length) throw new QuantError("E_CONFIG", `plugin "${id}" takes no options (got "${k}")`, { file });
    throw unknownKey(k, `the options of plugin "${id}"`, known, file);
  }
}

/** Where names and relative paths of a chain resolve. */
export interface ResolveOptions {
  /** Folder relative plugin file paths are anchored at (the config file's folder; default: the current folder). */
  cwd?: string;
  /** Names → plugins (the CLI passes `builtinPlugins`); without one only plugin objects and files resolve. */
  registry?: PluginRegistry;
}

/** Resolve one chain entry: a plugin object, a plugin file path, or a name (with options) of `registry`. */
export async function resolvePlugin(spec: PluginSpec, { cwd = process.cwd(), registry }: ResolveOptions = {}): Promise<Plugin> {
  if (isPlugin(spec)) return spec;
  const [id, opts] = Array.isArray(spec) ? [spec[0], spec[1] ?? {}] : [spec as string, {}];
  if (typeof id !== "string") throw new QuantError("E_CONFIG", `invalid plugin entry ${JSON.stringify(spec)}: expected a name, [name, options] or a plugin object`);
  if (looksLikePath(id)) {
    const file = resolve(cwd, id);
    let mod: Record<string, unknown>;
    try {
      mod = await importUserModule(file);
    } catch (e) {
      throw new QuantError("E_PLUGIN_UNKNOWN", `cannot load plugin file "${id}" (${reason(e)})`, { file });
    }
    checkPluginOptions(id, opts, mod.optionKeys, file);
    const exp = mod.default ?? mod.plugin;
    const made = typeof exp === "function" ? await (exp as (o: unknown) => unknown)(opts) : exp;
    if (!isPlugin(made)) throw new QuantError("E_PLUGIN_UNKNOWN", `plugin file "${id}" must export a plugin (define* helper) or a factory returning one as default`, { file });
    return made;
  }
  const entry = registry && Object.hasOwn(registry.plugins, id) ? registry.plugins[id] : undefined;
  if (!entry) {
    const known = Object.keys(registry?.plugins ?? {}).join(", ");
    if (!known) throw new QuantError("E_PLUGIN_UNKNOWN", `unknown plugin "${id}": no plugin registry given (resolveChain(specs, { registry: builtinPlugins }) resolves the built-in names), or give a file path like ./my-plugin.ts`);
    throw new QuantError("E_PLUGIN_UNKNOWN", `unknown plugin "${id}"; known plugins: ${known} (or give a file path like ./my-plugin.ts)`);
  }
  const mod = await entry.load();
  checkPluginOptions(id, opts, mod.optionKeys);
  return mod.default(opts as Record<string, unknown>);
}

/** Resolve a whole chain, dropping merge markers (`!name`, `$reset`). */
export async function resolveChain(specs: readonly PluginSpec[], options: ResolveOptions = {}): Promise<Plugin[]> {
  const out: Plugin[] = [];
  for (const s of specs) {
    if (typeof s === "string" && (s.startsWith("!") || s === "$reset")) continue;
    out.push(await resolvePlugin(s, options));
  }
  return out;
}
