/**
 * The one place src/ meets plugins/: the CLI resolves plugin and preset names against the built-in registry and
 * passes it down (config loading, planning, chain resolution). Everything else in src/ takes a registry as an argument.
 */
export { builtinPlugins } from "../../plugins/registry.ts";
