/**
 * What a plugin registry is: plugin names → kind, one-line summary and lazy factory, and preset names → lazy config.
 * The built-in registry is `builtinPlugins` in plugins/registry.ts. Nothing in src/ imports it: whoever turns names
 * into plugins (the CLI, a library caller) passes a registry in, so the code that runs chains does not depend on the
 * plugins it runs, and a program can offer its own names (or none) the same way.
 */
import type { Plugin, PluginKind } from "../kernel/types.ts";
import type { RunOptions } from "../kernel/options.ts";
import type { PluginSpec } from "./schema.ts";

/** A plugin module's default export: options → plugin. */
export type PluginFactory = (options?: Record<string, unknown>) => Plugin;

/** One named plugin of a registry. */
export interface PluginEntry {
  kind: PluginKind;
  /** One line for listings. */
  summary: string;
  /** Load the module (lazily: a weight-only run never loads the calibrators). `optionKeys` lists the options it accepts. */
  load: () => Promise<{ default: PluginFactory; optionKeys?: unknown }>;
}

/** Named plugins and presets that configs, `--method` and `--preset` may refer to. */
export interface PluginRegistry {
  readonly plugins: Readonly<Record<string, PluginEntry>>;
  /** Preset name → its config (a preset is just a config). */
  readonly presets: Readonly<Record<string, () => Promise<{ default: object }>>>;
  /**
   * The chain a run uses when its config names none, per mode (`quantize`: weights, `quantize --mode dynamic`,
   * `calibrate`: static), given the run's options (`method`, `nativeInt4`, …). A mode it lacks cannot run without
   * a config chain.
   */
  readonly chains?: Readonly<Partial<Record<"weights" | "dynamic" | "static", (options: Partial<RunOptions>) => PluginSpec[]>>>;
}

/** A registry with no names: only plugin objects and plugin files resolve. */
export const emptyRegistry: PluginRegistry = { plugins: {}, presets: {} };

/** Names of a registry's plugins of one kind (e.g. the calibrators `method` may pick). */
export function namesOfKind(registry: PluginRegistry | undefined, kind: PluginKind): ReadonlySet<string> {
  return new Set(Object.entries(registry?.plugins ?? {}).filter(([, e]) => e.kind === kind).map(([n]) => n));
}

/** `a, b, c or d` for messages. */
export function listOr(names: Iterable<string>): string {
  const all = [...names];
  return all.length <= 1 ? (all[0] ?? "none") : `${all.slice(0, -1).join(", ")} or ${all.at(-1)}`;
}
