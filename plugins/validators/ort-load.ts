/** `ort-load` validator: the output model loads in onnxruntime-node (the check is `checkOrtLoad` of the public API). */
import { checkOrtLoad, defineValidator, type Diagnostic } from "../../src/index.ts";

/** This plugin takes no options: a config giving any is refused (E_CONFIG). */
export const optionKeys = {};

/** The `ort-load` validator plugin. */
export default function ortLoad() {
  return defineValidator({
    name: "ort-load",
    validate: (state) => {
      // The runner already loaded the staged output file in onnxruntime-node: no need to load it a second time.
      const done = (state as { diagnostics?: Diagnostic[] }).diagnostics?.find((d) => d.code === "ort-check" && d.level === "info");
      return done ? [{ ...done, code: "ort-load" }] : checkOrtLoad(state.model);
    },
  });
}
