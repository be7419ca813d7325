/**
 * quant — post-training quantization for ONNX models. The public API: named re-exports only, grouped by topic.
 * Built-in plugins in plugins/ import only from here, exactly like a user's plugin would; every name is listed in
 * test/api/public-api.test.ts, so a change to the API shows in review.
 */

// ── Plugin contract: the define* helpers and the types a plugin's hooks see ──────────────────────────────────────
/** Identity helpers that type a plugin of each kind (`definePlugin` for any kind). */
export { defineCalibrator, defineExporter, definePacker, definePass, definePlugin, defineQuantizer, defineValidator } from "./kernel/types.ts";
/** Plugin objects, the context every hook receives, and what each kind takes and returns. */
export type {
  Artifact, CalibratorPlugin, CalibratorState, Diagnostic, ExporterPlugin, GraphPackResult, GranularityLabel, IntArray, IntType,
  Observation, PackerPlugin, PassPlugin, PendingTensor, Plugin, PluginContext, PluginKind, QuantizeResult, QuantizerPlugin,
  QuantizerRequirements, Range, RangeMap, ReportEntry, RunState, ValidatorPlugin,
} from "./kernel/types.ts";
/**
 * Every option of a run (CLI flags and config keys), with their defaults: the plugins' options (`ctx.options`) and
 * the data options the runner keeps (`data`, `samples`, `shapes`, `statsIn`, …).
 */
export { defaultOptions, type DataOptions, type QuantOptions, type RunOptions } from "./kernel/options.ts";
/** The run's data as plugins get it (`ctx.data`): opened on request and closed by the runner. */
export type { DataRequest, OpenedRunData, RunData, RunDataSource } from "./kernel/dataset.ts";
/** The one error class (a stable `code`, the plugin/phase/tensor it happened at), its guard and a cause's message. */
export { QuantError, isQuantError, reason, type ErrorCode, type ErrorSite } from "./errors/errors.ts";
/** Progress events of a run, phase by phase. */
export { PHASES, type EventSink, type Phase, type QuantEvent } from "./kernel/events.ts";

// ── Running a chain ──────────────────────────────────────────────────────────────────────────────────────────────
/** Run a chain of plugins on a model (path, bytes or `Model`). */
export { runPipeline, type RunInput, type RunResult } from "./pipeline/pipeline.ts";
/** Config files: `defineConfig` for typed configs, loading with presets and `extends`, names → plugins, chain edits. */
export { defineConfig, type BatchSection, type ModelEntry, type OptionKeys, type PluginSpec, type QuantConfig } from "./config/schema.ts";
export { loadQuantConfig, type LoadedConfig } from "./config/load.ts";
export { resolveChain, resolvePlugin, type ResolveOptions } from "./config/resolve.ts";
/** A plugin registry (names → lazy plugin factories, presets): `builtinPlugins` (`quant/plugins`) is one; pass it in. */
export { emptyRegistry, type PluginEntry, type PluginFactory, type PluginRegistry } from "./config/registry.ts";
/** Merge config layers (a registry lets `method` swap the calibrator) and edit chains. */
export { layerMerger, mergeChains } from "./config/merge.ts";

// ── ONNX: load, save, protobuf types ─────────────────────────────────────────────────────────────────────────────
/** Lossless load/save (external data, views into the file), bytes of a model, deep copies. */
export { cloneModel, loadModel, saveModel, serializeModel, type LoadOptions, type SaveOptions } from "./onnx/codec.ts";
export type { Model } from "./onnx/model.ts";
/** The raw protobuf codec, for models built or inspected in code. */
export { decodeModelProto, encodeModelProto } from "./onnx/proto.ts";
/** The decoded ONNX protobuf messages; `num` reads an int64 field (number or Long) as a number. */
export { AttributeType, num } from "./onnx/types.ts";
export type {
  AttributeProto, FunctionProto, GraphProto, Int64, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
} from "./onnx/types.ts";
/** ONNX data types: codes, names, sizes and float16/bfloat16 conversions. */
export {
  DataType, bf16ToFloat, bitsPerElement, byteLength, dataTypeName, floatToBf16, floatToHalf, halfToFloat, isFloatWeightType, type DataTypeCode,
  type DataTypeName,
} from "./tensor/dtypes.ts";

// ── ONNX: reading and editing graphs ─────────────────────────────────────────────────────────────────────────────
/** Producers and consumers across subgraphs, topological order, unique names, static shapes; opset and op tests. */
export { GraphIndex, constantTensor, isOnnxOp, opsetVersion, type Consumer, type Dim, type Producer, type Scope } from "./onnx/graph.ts";
/** Every graph and subgraph of a model (If/Loop/Scan bodies, functions), and a node's own subgraphs. */
export { allGraphs, nodeSubgraphs, type GraphSite } from "./onnx/walk.ts";
/** Values a subgraph reads from the scopes around it (what a rewrite must keep visible to an If/Loop/Scan body). */
export { outerScopeInputs } from "./onnx/check.ts";
/** Element type of every value of a graph, inferred forward from the declared types. */
export { elementTypes } from "./onnx/elem-types.ts";
/** Tensor data: typed views of stored tensors (external data too), building and rewriting tensors. */
export { bytesOf, makeTensor, setTensorRaw, tensorBytes, tensorDims, tensorFloat32, tensorInts, tensorSize } from "./onnx/tensor-data.ts";
export { isExternal } from "./onnx/external.ts";
/** Graph edits that keep every scope consistent (renames reach subgraphs; inserts keep topological order). */
export { insertBeforeFirstConsumer, insertNodes, removeInitializers, removeNodes, removeValueInfo, replaceUses, replaceUsesMany, type ReplaceOptions } from "./onnx/graph-edit.ts";
/** Build small models in code. */
export { GraphBuilder, makeAttribute, valueInfo, type AttrValue } from "./onnx/builder.ts";
/** Convert a model's default-domain opset (names every op that cannot be converted). */
export { convertOpset, type OpsetConversion } from "./onnx/opset/index.ts";
/** The com.microsoft domain: its name, the opset each contrib/standard op needs, and adding an opset import. */
export { MS_DOMAIN, OP_MIN_OPSET, ensureOpsetImport } from "./quant/contrib.ts";
/** What `quant info` reports about a model. */
export { modelInfo, type ModelInfo } from "./onnx/info.ts";
/** The one definition of "already quantized", a quantization-op test, and the error quantizers refuse such a model with. */
export { alreadyQuantizedError, describeQuantOps, isQuantOp, isQuantized, type QuantizationState, type QuantTally } from "./onnx/quantized.ts";
/** float32 → float16 conversion of a whole model (every scope, I/O types kept, op block list). */
export { convertToFloat16, type Float16Options, type Float16Result } from "./onnx/float16.ts";
/** Retype a float16/bfloat16 model to compute in float32 between Casts at its inputs and outputs (ORT fuses only float32-scale Q/DQ). */
export { computeInFloat32, type Float32ComputeReport } from "./quant/float32-compute.ts";

// ── Weights: where they are, how they are read ───────────────────────────────────────────────────────────────────
/** Every weight wherever exporters put it (initializers, Constant nodes, subgraphs, behind data-movement chains). */
export { findWeights, type Weight } from "./onnx/weights.ts";
/** A weight's role at its consumer (channel and block axes) and the axis every consumer agrees on. */
export { agreedAxis, readsShapeOnly, weightUse, type WeightRole, type WeightUse } from "./quant/axes.ts";
/** Data-movement ops between a weight and its consumer: the op set, explicit Transpose perms, evaluating one step. */
export { DATA_MOVEMENT_OPS, explicitPerms, type ChainContext, type ChainStep } from "./onnx/weight-chain.ts";
export { evaluateStep, type FloatValue } from "./onnx/weight-chain-eval.ts";
/** Name selection: `--exclude` globs and `--layer-bits` rules. */
export { layerBitsFor, matchesAny } from "./quant/select.ts";
/** Replace a float weight by integer data + DequantizeLinear (pending storage for the packers). */
export { replaceWithDequantize } from "./quant/rewrite.ts";
/** Output sensitivity of candidate weights, measured in one onnxruntime session. */
export { weightSensitivity, type SensitivityCandidate, type SensitivityOptions } from "./quant/sensitivity.ts";

// ── Quantization math ────────────────────────────────────────────────────────────────────────────────────────────
/** Quantize/dequantize a weight per tensor, channel or block; scales, zero points, rounding, error. */
export {
  computeScaleZeroPoint, dequantizeWeights, granularityLabel, qrange, quantizeWeights, roundHalfEven, sqnrDb, type Granularity, type QuantSpec, type QuantType,
  type QuantizedWeights,
} from "./tensor/quantize.ts";
/** Per-group clipping that minimizes reconstruction MSE. */
export { clipSearchParams, type ClipSearchOptions } from "./tensor/clip-search.ts";
/** 4-bit packing, two values per byte. */
export { packInt4, unpackInt4, unpackUint4 } from "./tensor/int4.ts";
/** MatMulNBits storage (com.microsoft): pack and read back. */
export { dequantizeMatMulNBits, packMatMulNBits, type NBitsWeight } from "./tensor/nbits.ts";
/** MatMulBnb4 storage (com.microsoft, NF4/FP4): quantize and read back. */
export { dequantizeBnb4, quantizeBnb4, type Bnb4Type, type Bnb4Weight } from "./tensor/bnb4.ts";
/** MatMulBnb4 storage with each block's scale searched by reconstruction MSE (the `bnb4` packer's default). */
export { quantizeBnb4Searched, type Bnb4SearchOptions } from "./tensor/bnb4-search.ts";
/** Transpose a row-major float32 matrix. */
export { transposeFloat32 } from "./tensor/layout.ts";
/** Order-independent, mergeable histograms, and the calibrator state built on them. */
export { HistogramObserver, checkBits, type HistogramSide } from "./tensor/histogram.ts";
export { histogramCalibrator } from "./quant/histogram-calibrator.ts";
/** Output error metrics (SQNR, cosine, top-1 agreement), accumulated batch by batch. */
export { ErrorAccumulator, cosine, top1Agreement, type ErrorMetrics, type FloatArray } from "./tensor/metrics.ts";

// ── Data ─────────────────────────────────────────────────────────────────────────────────────────────────────────
/** Calibration data: open a path, values per input or a dataset object of your own. */
export { openDataset, type DatasetSpec } from "./data/dataset.ts";
export type { Batch, CalibrationDataset, InputLayout, ModelInputInfo } from "./data/dataset-types.ts";
export { openData, type DataSource, type OpenedData } from "./data/open.ts";
export type { SampleAxisSpec } from "./data/layout.ts";
export type { InputArray, InputValue } from "./data/values.ts";
export type { ImageOptions } from "./data/images.ts";
/** .npy and safetensors files. */
export { readNpy, writeNpy } from "./data/npy.ts";
export { encodeSafetensors, openSafetensors, type SafetensorsFile, type SafetensorsInput } from "./data/safetensors.ts";

// ── Runtime (onnxruntime-node) ───────────────────────────────────────────────────────────────────────────────────
/** A session over a model, its inputs as datasets see them, batch sizing, and tensors in and out of ORT. */
export { RuntimeSession, batchPlan, modelInputs, ortTensor, tensorFloats, type RuntimeOptions, type TensorMap } from "./runtime/session.ts";

// ── Validation of an output model ────────────────────────────────────────────────────────────────────────────────
/** Structure and Q/DQ rules, loading in ONNX Runtime, numbers against the float model (the validator plugins and `quant validate` run these). */
export { checkConnectivity } from "./validate/connectivity.ts";
export { checkOrtLoad } from "./validate/ort-load.ts";
export { fidelityDiagnostics, measureFidelity, sqnrBar, type FidelityOptions, type FidelityReport, type LayerFidelity, type OutputFidelity } from "./validate/fidelity.ts";
/** What each output is (classifier, probability map, values) and the metrics that kind gets; labels; the default SQNR bar (20 dB on real data). */
export { DEFAULT_MIN_SQNR_DB, type LabelledAccuracy, type Labels, type ShapeMetrics } from "./validate/metrics-by-shape.ts";
export type { OutputKind } from "./validate/output-kind.ts";
/** The self-contained HTML report (`--report`, and the `report` exporter with an .html path). */
export { buildHtmlReport, type BuildReportOptions, type ReportData } from "./report/build.ts";

// ── Remedies (issue 13) ──────────────────────────────────────────────────────────────────────────────────────────
/** Remedies (issue 13): per-channel float statistics over data, Conv-affine folding, cross-layer equalization. */
export { probeChannels, type ChannelStats, type ChannelStat, type ProbeOptions, type ProbeTarget, type ProbeExtension } from "./quant/channel-probe.ts";
/** Float constants of Conv rewrites: read one (and a node's integer attribute), write new ones and drop the unread. */
export { floatConst, intAttr, ConstWriter, type FloatConst } from "./quant/conv-consts.ts";
/** Fold a constant per-channel Mul/Add/Sub/Div after a Conv into the Conv's weight and bias. */
export { foldConvAffine, type FoldedAffine } from "./quant/conv-affine.ts";
/** Cross-layer equalization of Conv pairs through scale-equivariant ops (Nagel et al. 2019). */
export { equalize, findEqualizePairs, spread, type EqualizePair, type EqualizeOptions, type ActivationStats } from "./quant/equalize.ts";
/** Open the run's calibration data from its options, as the calibrate phase does (for data-aware passes and quantizers). */
export { openRunData } from "./quant/remedy-data.ts";
/** Outlier weights: per-channel clip chosen by the layer's output error on measured input statistics. */
export { findOutlierTargets, clipOutliers, type OutlierTarget, type OutlierClipOptions } from "./quant/outlier-clip.ts";

// ── Large models ─────────────────────────────────────────────────────────────────────────────────────────────────
/** Weights quantized on every core (`threads`), one per worker, the output's bytes independent of the thread count. */
export { quantizeInParallel, defaultThreads, type ParallelOptions, type QuantizeTask } from "./quant/parallel.ts";
/** Streaming for quantizers: past `streamAbove`, each result goes to disk as it is made and is read back lazily. */
export { streamPlan, withoutValues, lazyPending, DEFAULT_STREAM_ABOVE, type StreamPlan } from "./quant/stream.ts";
/** The scratch store of a streaming run (a model's spill), and the collection of big dropped buffers. */
export { spillTensor, spillOf, existingSpill, releaseSpill, dropped } from "./onnx/spill.ts";

// ── Accuracy targets ─────────────────────────────────────────────────────────────────────────────────────────────
/** The `targetSqnr` / `targetAccuracy` options' search: its summary and decisions (`RunResult.accuracySearch`). */
export type { AccuracyTarget, AccuracySearchSummary, FallbackDecision, SearchBudget } from "./kernel/accuracy.ts";
/** Output SQNR with only one node quantized, for every quantized node (what `validate --detailed` shows). */
export { isolatedSensitivity, type NodeSensitivity, type IsolatedOptions } from "./accuracy/isolated.ts";
/** The output SQNR a bare `--bits 4` is held to. */
export { INT4_DEFAULT_TARGET_DB } from "./accuracy/defaults.ts";
