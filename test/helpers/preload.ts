/**
 * Test preload: onnxruntime's own warnings (e.g. "Serializing optimized model with Graph Optimization level greater
 * than ORT_ENABLE_EXTENDED…" when a test saves the optimized graph) are not test output. quant's own sessions already
 * log errors only (src/runtime/session.ts); this covers sessions tests open directly.
 */
import * as ort from "onnxruntime-node";

ort.env.logLevel = "error";
