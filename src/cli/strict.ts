/**
 * Strict flags: every command accepts only the flags it declares in its citty `args` (plus `--no-<flag>` for booleans
 * and the declared aliases). Anything else is a usage error naming the flag and the closest declared one. The check is
 * derived from the declarations, so a flag added to a command (or to the shared args) is accepted with no edit here.
 */
import type { ArgsDef } from "citty";
import { closestKey as closest } from "../config/schema.ts";
import { QuantError } from "../errors/errors.ts";

/** The declared name closest to a typo (edit distance, case and `-`/`_` ignored), shared with config keys. */
export { closestKey as closest } from "../config/schema.ts";
interface FlagDef {
  name: string;
  type: string;
}

/** The long and short flags a command declares. */
export function declaredFlags(args: ArgsDef): { long: Map<string, FlagDef>; short: Map<string, FlagDef> } {
  const long = new Map<string, FlagDef>();
  const short = new Map<string, FlagDef>();
  for (const [name, d] of Object.entries(args)) {
    const def = d as { type?: string; alias?: string | string[] };
    if (def.type === "positional") continue;
    const f = { name, type: def.type ?? "boolean" };
    long.set(name, f);
    for (const a of def.alias === undefined ? [] : Array.isArray(def.alias) ? def.alias : [def.alias]) (a.length === 1 ? short : long).set(a, f);
  }
  // Every command prints its help; citty handles these before running.
  long.set("help", { name: "help", type: "boolean" });
  short.set("h", { name: "help", type: "boolean" });
  return { long, short };
}

/**
 * Throw E_USAGE for the first flag `raw` uses that `args` does not declare, or a string flag without a value.
 * `command` names the command in the message.
 */
export function checkFlags(command: string, args: ArgsDef, raw: readonly string[]): void {
  const { long, short } = declaredFlags(args);
  const known = [...long.keys()].filter((k) => k !== "help");
  for (let i = 0; i < raw.length; i++) {
    const a = raw[i]!;
    if (a === "--") break; // everything after is positional
    if (!a.startsWith("-") || a === "-" || /^-\d/.test(a)) continue;
    const eq = a.indexOf("=");
    const flag = eq > 0 ? a.slice(0, eq) : a;
    const inline = eq > 0;
    let def: FlagDef | undefined;
    if (flag.startsWith("--")) {
      const name = flag.slice(2);
      def = long.get(name);
      // --no-<boolean>
      if (!def && name.startsWith("no-")) {
        const neg = long.get(name.slice(3));
        if (neg?.type === "boolean") continue;
      }
      if (!def) {
        const hint = closest(name, known);
        throw new QuantError("E_USAGE", `unknown flag ${flag} for "quant ${command}"${hint ? ` (did you mean --${hint}?)` : ""}; see quant ${command} --help`);
      }
    } else {
      // -x, -xVALUE (citty/mri read a short flag's tail as its value), or bundled booleans -qd
      const letters = flag.slice(1);
      def = short.get(letters[0]!);
      if (!def) {
        const hint = closest(letters, [...short.keys()]);
        throw new QuantError("E_USAGE", `unknown flag -${letters[0]} for "quant ${command}"${hint ? ` (did you mean -${hint}?)` : ""}; see quant ${command} --help`);
      }
      if (def.type === "boolean") {
        for (const l of letters.slice(1)) {
          const d = short.get(l);
          if (!d) throw new QuantError("E_USAGE", `unknown flag -${l} for "quant ${command}"; see quant ${command} --help`);
        }
        continue;
      }
      if (letters.length > 1) continue; // -n16
    }
    if (def.type === "string" && !inline) {
      const next = raw[i + 1];
      if (next === undefined || (next.startsWith("--") && next.length > 2)) throw new QuantError("E_USAGE", `${flag} needs a value; see quant ${command} --help`);
      i++;
    }
  }
}
