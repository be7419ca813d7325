/**
 * `import … from "quant"` in a user's plugin file or `.ts` config resolves to the running quant when the user's
 * project does not have quant installed (a clone, a global install): configs load through c12's jiti with an alias,
 * and plugin files outside any project that installs quant load the same way. With quant installed in the project,
 * plugin files are imported natively and use that install.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** The public API's entry file of this quant. */
export const SELF_ENTRY = fileURLToPath(new URL("../index.ts", import.meta.url));

/** True when `quant` is installed in a node_modules folder above `dir`. */
function installedAbove(dir: string): boolean {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, "node_modules", "quant", "package.json"))) return true;
    if (dirname(d) === d) return false;
  }
}

/** Import a user's plugin file; `quant` resolves to the installed package, else to this quant. */
export async function importUserModule(file: string): Promise<Record<string, unknown>> {
  if (installedAbove(dirname(file))) return import(pathToFileURL(file).href);
  const { createJiti } = await import("jiti");
  const jiti = createJiti(pathToFileURL(file).href, { alias: { quant: SELF_ENTRY }, moduleCache: true });
  return (await jiti.import(file)) as Record<string, unknown>;
}
