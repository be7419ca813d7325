/**
 * `connectivity` validator: every node input resolves, the interface matches the original model, and the
 * QuantizeLinear/DequantizeLinear rules hold (the checks are `checkConnectivity` of the public API).
 */
import { checkConnectivity, defineValidator } from "../../src/index.ts";

/** This plugin takes no options: a config giving any is refused (E_CONFIG). */
export const optionKeys = {};

/** The `connectivity` validator plugin. */
export default function connectivity() {
  return defineValidator({
    name: "connectivity",
    validate(state) {
      return checkConnectivity(state.model, state.original);
    },
  });
}
