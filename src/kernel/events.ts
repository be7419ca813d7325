/** Events the kernel emits while it runs: timings, progress bars and JSON reports are built from them. */
import type { PluginKind } from "./types.ts";

/** Pipeline phases in order. */
export const PHASES = ["load", "prepare", "calibrate", "quantize", "pack", "export", "validate"] as const;
/** One phase of a run, in order. */
export type Phase = (typeof PHASES)[number];

/** A kernel event. `ms` is set on `*:end` events. */
export type QuantEvent =
  | { type: "phase:start"; phase: Phase }
  | { type: "phase:end"; phase: Phase; ms: number }
  | { type: "plugin:start"; phase: Phase; plugin: string; kind: PluginKind }
  | { type: "plugin:end"; phase: Phase; plugin: string; kind: PluginKind; ms: number }
  | { type: "progress"; phase: Phase; plugin?: string; done: number; total: number; label?: string };

/** Receives events. */
export type EventSink = (e: QuantEvent) => void;
