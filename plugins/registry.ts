/**
 * The built-in plugins and presets by name, so config files can say `"percentile"` or
 * `["percentile", { percentile: 99.99 }]` and `extends: cnn`. Modules load lazily: a weight-only run never loads the
 * calibrators or onnxruntime. The CLI passes this registry in; library callers pass it (or their own) to
 * `resolveChain(specs, { registry })` and `loadQuantConfig({ registry })`.
 */
import type { PluginEntry, PluginRegistry, PluginSpec } from "../src/index.ts";

const plugins: Record<string, PluginEntry> = {
  normalize: { kind: "pass", summary: "Constant weights → initializers, Identity chains resolved", load: () => import("./passes/normalize.ts") },
  "fold-batchnorm": { kind: "pass", summary: "fold BatchNormalization into the preceding Conv/Gemm", load: () => import("./passes/fold-batchnorm.ts") },
  minmax: { kind: "calibrator", summary: "running min/max (reduced inside the graph)", load: () => import("./calibrators/minmax.ts") },
  percentile: { kind: "calibrator", summary: "histogram percentile (default 99.99)", load: () => import("./calibrators/percentile.ts") },
  entropy: { kind: "calibrator", summary: "KL-divergence threshold over all histogram candidates", load: () => import("./calibrators/entropy.ts") },
  mse: { kind: "calibrator", summary: "threshold minimizing quantization + clipping MSE", load: () => import("./calibrators/mse.ts") },
  "weight-only": { kind: "quantizer", summary: "weights → integer + DequantizeLinear (per-tensor/channel/block)", load: () => import("./quantizers/weight-only.ts") },
  "static-qdq": { kind: "quantizer", summary: "activations and weights with Q/DQ placed for ONNX Runtime's integer kernels", load: () => import("./quantizers/static-qdq/index.ts") },
  dynamic: { kind: "quantizer", summary: "MatMul/Gemm/Conv → DynamicQuantizeLinear + MatMulInteger/ConvInteger (no calibration)", load: () => import("./quantizers/dynamic.ts") },
  int8: { kind: "packer", summary: "8/16/32-bit storage (INT4 widened to 8 bits)", load: () => import("./packers/int8.ts") },
  int4: { kind: "packer", summary: "native opset-21 Int4/UInt4, two values per byte", load: () => import("./packers/int4.ts") },
  matmulnbits: { kind: "packer", summary: "block-quantized MatMul weights → com.microsoft MatMulNBits (4/8 bits)", load: () => import("./packers/matmulnbits.ts") },
  bnb4: { kind: "packer", summary: "float MatMul weights → com.microsoft MatMulBnb4 (NF4/FP4, absmax per block of 64)", load: () => import("./packers/bnb4.ts") },
  fp16: { kind: "packer", summary: "float32 → float16 weights and activations (float32 inputs/outputs kept, op block list)", load: () => import("./packers/fp16.ts") },
  onnx: { kind: "exporter", summary: "the quantized ONNX model (external data when asked or > 2 GiB)", load: () => import("./exporters/onnx.ts") },
  "stats-json": { kind: "exporter", summary: "scales, zero points and activation ranges as JSON", load: () => import("./exporters/stats-json.ts") },
  report: { kind: "exporter", summary: "the run's report (decisions, per-layer error) as JSON", load: () => import("./exporters/report.ts") },
  connectivity: { kind: "validator", summary: "every node input resolves; DQ/Q dtype, axis and block rules", load: () => import("./validators/connectivity.ts") },
  "ort-load": { kind: "validator", summary: "the output loads in onnxruntime-node", load: () => import("./validators/ort-load.ts") },
  fidelity: { kind: "validator", summary: "SQNR/cosine/top-1 of the outputs against the float model", load: () => import("./validators/fidelity.ts") },
};

/** The built-in presets (plugins/presets/<name>.ts), imported by literal path so they are inside the single-file binary too. */
const presets: Record<string, () => Promise<{ default: object }>> = {
  cnn: () => import("./presets/cnn.ts"),
  transformer: () => import("./presets/transformer.ts"),
  "transformers-js": () => import("./presets/transformers-js.ts"),
  "int4-weights": () => import("./presets/int4-weights.ts"),
};

/** The chains `quantize`, `quantize --mode dynamic` and `calibrate` run when the config names none. */
const chains: PluginRegistry["chains"] = {
  weights: (o) => ["normalize", "weight-only", ...packers(o), "onnx", "connectivity"],
  dynamic: () => ["normalize", "dynamic", "int8", "onnx", "connectivity"],
  static: (o) => {
    const method = o.method ?? "minmax";
    const cal: PluginSpec = method === "percentile" && o.percentile !== undefined ? ["percentile", { percentile: o.percentile }] : method;
    return ["normalize", "fold-batchnorm", cal, "static-qdq", ...packers(o), "onnx", "connectivity"];
  },
};
/** Native Int4 storage first when asked, INT8 for the rest. */
const packers = (o: { nativeInt4?: boolean }): PluginSpec[] => (o.nativeInt4 ? ["int4", "int8"] : ["int8"]);

/** The built-in registry: plugin name → kind, summary and lazy factory; preset name → lazy config; default chains per mode. */
export const builtinPlugins: PluginRegistry = { plugins, presets, chains };
