/**
 * quant — post-training quantization for ONNX models. Public API (re-exports only).
 * Built-in plugins in plugins/ import only from here, exactly like a user's plugin would.
 */
export { QuantError, isQuantError, type ErrorCode, type ErrorSite } from "./kernel/errors.ts";
export * from "./kernel/types.ts";
export { defaultOptions, type QuantOptions } from "./kernel/options.ts";
export { PHASES, type Phase, type QuantEvent, type EventSink } from "./kernel/events.ts";
export { runPipeline, defaultOpset, type RunInput, type RunResult } from "./kernel/pipeline.ts";
export { writeFileAtomic, writeFilesAtomic, openPending, type PendingFile } from "./kernel/atomic.ts";
/** File-safety helpers: the structural operator/opset check run on every output, and the signal cleanup the CLI installs. */
export { checkOps, type OpProblem } from "./onnx/check-ops.ts";
export { installSignalCleanup } from "./kernel/cleanup.ts";

export { loadModel, saveModel, serializeModel, type LoadOptions, type SaveOptions } from "./onnx/codec.ts";
export type { Model } from "./onnx/model.ts";
export type * from "./onnx/types.ts";
export { num, AttributeType } from "./onnx/types.ts";
export { GraphBuilder, makeAttribute, tensorType, valueInfo, type AttrValue } from "./onnx/builder.ts";
export { allGraphs, allTensors, nodeSubgraphs, type GraphSite, type TensorSite } from "./onnx/walk.ts";
export { tensorBytes, tensorFloat32, tensorInts, tensorDims, tensorSize, setTensorRaw, makeTensor, bytesOf } from "./onnx/tensor-data.ts";
export { encodeModelProto, decodeModelProto } from "./onnx/proto.ts";

export * from "./tensor/dtypes.ts";

export { defineConfig, checkConfigKeys, configKeys, type OptionKeys, type QuantConfig, type PluginSpec, type ModelEntry, type BatchSection } from "./config/schema.ts";
export { loadQuantConfig, type LoadedConfig } from "./config/load.ts";
export { resolveChain, resolvePlugin } from "./config/resolve.ts";
export { mergeLayers, mergeChains } from "./config/merge.ts";

export * from "./tensor/quantize.ts";
export { packInt4, unpackInt4, unpackUint4, int4ByteLength } from "./tensor/int4.ts";
export { clipSearchParams, type ClipSearchOptions } from "./tensor/clip-search.ts";

export { GraphIndex, opsetVersion, isOnnxOp, constantTensor, type Consumer, type Producer, type Scope, type Dim } from "./onnx/graph.ts";
export * from "./onnx/graph-edit.ts";
export { findWeights, quantizableWeights, storedByteLength, type Weight, type WeightConsumer, type WeightLocation } from "./onnx/weights.ts";
export { weightRole, agreedAxis, weightUse, readsShapeOnly, type WeightRole, type WeightUse } from "./quant/axes.ts";
export { DATA_MOVEMENT_OPS, explicitPerms, movesData, stepOutputShape, mapAxisBack, reshapeAxisBack, traceAxisBack, type ChainStep, type ChainContext } from "./onnx/weight-chain.ts";
export { globToRegExp, matchesAny, layerBitsFor, modelNames, unmatchedPatterns, type ModelNames } from "./quant/select.ts";
export { replaceWithDequantize, scaleTensor, type WeightSite } from "./quant/rewrite.ts";

export { openSafetensors, encodeSafetensors, type SafetensorsInput, type SafetensorsFile } from "./data/safetensors.ts";
export { readNpy, writeNpy, openNpy } from "./data/npy.ts";

export { convertOpset, MAX_OPSET, irVersionFor, type OpsetConversion } from "./onnx/opset/index.ts";
export { writeSafetensors } from "./data/safetensors.ts";
export { openDataset, openDatasetAsync, layoutOf, type CalibrationDataset, type Batch, type ModelInputInfo, type DatasetSpec } from "./data/dataset.ts";
export { openData, isDataset, type DataSource, type OpenedData } from "./data/open.ts";
export { inferBatchAxis, type InputLayout, type SampleAxisSpec } from "./data/layout.ts";
export { valueArray, parseInputFlags, type InputArray, type InputValue } from "./data/values.ts";
export { IMAGE_PRESETS, type ImageOptions } from "./data/images.ts";
export { modelInfo, formatInfo, type ModelInfo } from "./onnx/info.ts";
export { isQuantized, isQuantOp, describeQuantOps, alreadyQuantizedError, type QuantizationState, type QuantTally } from "./onnx/quantized.ts";
export { sortNodes, initializerInputs, dropInitializerInputs } from "./onnx/load-normalize.ts";
export { decideOpset, describeNeeds, type OpsetDecision, type OpsetNeed } from "./kernel/opset.ts";
export { cloneModel } from "./onnx/codec.ts";
export { HistogramObserver, HistogramSet, DEFAULT_BINS, checkBins, checkBits, histogramCalibrator, type HistogramSide, type HistogramJSON } from "./tensor/histogram.ts";
export { weightSensitivity, type SensitivityCandidate, type SensitivityOptions } from "./quant/sensitivity.ts";

export { RuntimeSession, SINGLE_THREAD, modelInputs, fixedBatch, batchPlan, type BatchPlan, loadOrt, ortSessionOptions, ortTensor, tensorFloats, type RuntimeOptions, type TensorMap } from "./runtime/session.ts";
export { calibrate, finalizeChain, GarbageBudget, type CalibratorEntry, type CalibrateOptions, type CalibrationResult } from "./runtime/calibrate.ts";
export { loadStats, saveStats, mergeStats, readStats, writeStats, type StatsFile } from "./runtime/stats.ts";
export { observationModel } from "./runtime/observe.ts";
export { ErrorAccumulator, cosine, maxAbs, top1Agreement, type ErrorMetrics, type FloatArray } from "./tensor/metrics.ts";
export { isExternal, externalRef, resolveLocation } from "./onnx/external.ts";
export { reason } from "./kernel/errors.ts";
export { transposeFloat32 } from "./tensor/layout.ts";
export { MS_DOMAIN, OP_MIN_OPSET, ensureOpsetImport } from "./quant/contrib.ts";
export { packMatMulNBits, dequantizeMatMulNBits, type NBitsWeight } from "./tensor/nbits.ts";
export { convertToFloat16, FP16_DEFAULT_BLOCK_LIST, type Float16Options, type Float16Result } from "./onnx/float16.ts";
export { quantizeBnb4, dequantizeBnb4, nf4Code, fp4Code, BNB4_CODEBOOK, type Bnb4Type, type Bnb4Weight } from "./tensor/bnb4.ts";
export { makeVariants, variantSpecs, formatVariants, VARIANTS, type VariantSpec, type VariantRow, type VariantsOptions } from "./quant/variants.ts";
/** Retype a float16/bfloat16 model to compute in float32 between Casts at its inputs and outputs (ORT fuses only float32-scale Q/DQ). */
export { computeInFloat32, hasHalfCompute, type Float32ComputeReport } from "./quant/float32-compute.ts";
/** Weights no integer kernel reads directly (behind data-movement chains, LSTM/GRU/RNN W/R, Gather tables): a DequantizeLinear at the weight. */
export { quantizeChainWeights, WEIGHT_ONLY_OPS, type ChainWeightOptions, type ChainWeightResult } from "./quant/placement-weights.ts";
