/**
 * Structural check of a model about to be written: every node's operator exists at the opset its domain is imported
 * at (default domain: the version tables in ./opset/versions.ts), every domain used is imported, and the IR version is
 * one ONNX Runtime reads. Cheap (no runtime), so it always runs before an output is published.
 */
import { DEPRECATED_SINCE, MAX_OPSET, OP_VERSIONS, irVersionFor, schemaVersion } from "./opset/versions.ts";
import { allGraphs } from "./walk.ts";
import { isDefaultDomain } from "./opset/scope.ts";
import type { ModelProto } from "./types.ts";
import { num } from "./types.ts";

/** A problem found by {@link checkOps}: `error` means ONNX Runtime would refuse the model. */
export interface OpProblem {
  level: "error" | "warning";
  message: string;
  /** Node name (or op type) the problem is about. */
  target?: string;
}

const isDefault = (d: string | undefined | null) => isDefaultDomain(d ?? undefined);
/** Domains ONNX Runtime implements besides the default one (their versions are ORT's business). */
const KNOWN_DOMAINS = new Set(["ai.onnx.ml", "com.microsoft", "com.microsoft.nchwc", "ai.onnx.training", "ai.onnx.preview.training", "com.ms.internal.nhwc"]);

/**
 * Check operators against opset imports. At most `limit` problems per kind are listed; the rest are counted.
 * @example const errors = checkOps(model.proto).filter((p) => p.level === "error");
 */
export function checkOps(model: ModelProto, limit = 5): OpProblem[] {
  const problems: OpProblem[] = [];
  const imports = new Map<string, number>();
  for (const o of model.opset_import ?? []) imports.set(isDefault(o.domain) ? "" : o.domain!, num(o.version));
  const functions = new Set((model.functions ?? []).map((f) => `${f.domain ?? ""}:${f.name}`));
  const ir = num(model.ir_version);
  const opset = imports.get("");
  if (!(ir >= 3)) problems.push({ level: "error", message: `IR version ${ir} is below 3; ONNX Runtime does not load it` });
  else if (opset !== undefined && ir < irVersionFor(opset))
    problems.push({ level: "warning", message: `IR version ${ir} is older than opset ${opset} needs (IR ${irVersionFor(opset)})` });

  const missing = new Map<string, string[]>(); // reason -> node labels
  const note = (why: string, label: string) => {
    const l = missing.get(why) ?? [];
    l.push(label);
    missing.set(why, l);
  };
  for (const site of allGraphs(model)) {
    for (const node of site.graph.node ?? []) {
      const op = node.op_type ?? "";
      const domain = isDefault(node.domain) ? "" : node.domain!;
      const label = `"${node.name || op}"`;
      if (functions.has(`${node.domain ?? ""}:${op}`)) continue; // a model-local function
      const version = imports.get(domain);
      if (version === undefined) {
        note(`${op} uses domain "${domain || "ai.onnx"}", which the model does not import`, label);
        continue;
      }
      if (domain !== "") continue;
      const known = OP_VERSIONS.get(op);
      if (!known) {
        // Past the table's last opset an unknown name may be a new operator: leave that to the runtime check.
        if (version <= MAX_OPSET) note(`${op} is not an ONNX operator`, label);
        continue;
      }
      if (schemaVersion(op, version) === undefined) note(`${op} does not exist at opset ${version} (since opset ${known[0]})`, label);
      else {
        const dep = DEPRECATED_SINCE.get(op);
        if (dep !== undefined && version >= dep) note(`${op} was removed at opset ${dep} (model imports ${version})`, label);
      }
    }
  }
  for (const [why, labels] of missing)
    problems.push({ level: "error", message: `${why}: ${labels.slice(0, limit).join(", ")}${labels.length > limit ? ` (+${labels.length - limit} more)` : ""}`, target: labels[0]!.slice(1, -1) });
  for (const domain of imports.keys())
    if (domain !== "" && !KNOWN_DOMAINS.has(domain) && !functions.size) problems.push({ level: "warning", message: `domain "${domain}" is not one ONNX Runtime implements; a custom-op library is needed to run it` });
  return problems;
}
