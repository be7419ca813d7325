/**
 * The public API, name by name (values and types, sorted). A change to src/index.ts changes this list, so it is seen
 * in review: adding a name is a decision (TSDoc, a user who needs it), removing one breaks users' plugins.
 */
import { describe, expect, test } from "bun:test";
import * as ts from "typescript";
import { fileURLToPath } from "node:url";

const PUBLIC_API = [
    "AccuracySearchSummary", "AccuracyTarget", "ActivationStats", "Artifact", "AttrValue", "AttributeProto",
    "AttributeType", "Batch", "BatchSection", "Bnb4SearchOptions", "Bnb4Type", "Bnb4Weight", "BuildReportOptions",
    "CalibrationDataset", "CalibratorPlugin", "CalibratorState", "ChainContext", "ChainStep", "ChannelStat",
    "ChannelStats", "ClipSearchOptions", "ConstWriter", "Consumer", "DATA_MOVEMENT_OPS", "DEFAULT_MIN_SQNR_DB",
    "DEFAULT_STREAM_ABOVE", "DataOptions", "DataRequest", "DataSource", "DataType", "DataTypeCode", "DataTypeName",
    "DatasetSpec", "Diagnostic", "Dim", "EqualizeOptions", "EqualizePair", "ErrorAccumulator", "ErrorCode",
    "ErrorMetrics", "ErrorSite", "EventSink", "ExporterPlugin", "FallbackDecision", "FidelityOptions",
    "FidelityReport", "Float16Options", "Float16Result", "Float32ComputeReport", "FloatArray", "FloatConst",
    "FloatValue", "FoldedAffine", "FunctionProto", "Granularity", "GranularityLabel", "GraphBuilder", "GraphIndex",
    "GraphPackResult", "GraphProto", "GraphSite", "HistogramObserver", "HistogramSide", "INT4_DEFAULT_TARGET_DB",
    "ImageOptions", "InputArray", "InputLayout", "InputValue", "Int64", "IntArray", "IntType", "IsolatedOptions",
    "LabelledAccuracy", "Labels", "LayerFidelity", "LoadOptions", "LoadedConfig", "MS_DOMAIN", "Model", "ModelEntry",
    "ModelInfo", "ModelInputInfo", "ModelProto", "NBitsWeight", "NodeProto", "NodeSensitivity", "OP_MIN_OPSET",
    "Observation", "OpenedData", "OpenedRunData", "OperatorSetIdProto", "OpsetConversion", "OptionKeys",
    "OutlierClipOptions", "OutlierTarget", "OutputFidelity", "OutputKind", "PHASES", "PackerPlugin",
    "ParallelOptions", "PassPlugin", "PendingTensor", "Phase", "Plugin", "PluginContext", "PluginEntry",
    "PluginFactory", "PluginKind", "PluginRegistry", "PluginSpec", "ProbeExtension", "ProbeOptions", "ProbeTarget",
    "Producer", "QuantConfig", "QuantError", "QuantEvent", "QuantOptions", "QuantSpec", "QuantTally", "QuantType",
    "QuantizationState", "QuantizeResult", "QuantizeTask", "QuantizedWeights", "QuantizerPlugin",
    "QuantizerRequirements", "Range", "RangeMap", "ReplaceOptions", "ReportData", "ReportEntry", "ResolveOptions",
    "RunData", "RunDataSource", "RunInput", "RunOptions", "RunResult", "RunState", "RuntimeOptions", "RuntimeSession",
    "SafetensorsFile", "SafetensorsInput", "SampleAxisSpec", "SaveOptions", "Scope", "SearchBudget",
    "SensitivityCandidate", "SensitivityOptions", "ShapeMetrics", "StreamPlan", "TensorMap", "TensorProto",
    "TensorShapeProto", "TypeProto", "ValidatorPlugin", "ValueInfoProto", "Weight", "WeightRole", "WeightUse",
    "agreedAxis", "allGraphs", "alreadyQuantizedError", "batchPlan", "bf16ToFloat", "bitsPerElement",
    "buildHtmlReport", "byteLength", "bytesOf", "checkBits", "checkConnectivity", "checkOrtLoad", "clipOutliers",
    "clipSearchParams", "cloneModel", "computeInFloat32", "computeScaleZeroPoint", "constantTensor", "convertOpset",
    "convertToFloat16", "cosine", "dataTypeName", "decodeModelProto", "defaultOptions", "defaultThreads",
    "defineCalibrator", "defineConfig", "defineExporter", "definePacker", "definePass", "definePlugin",
    "defineQuantizer", "defineValidator", "dequantizeBnb4", "dequantizeMatMulNBits", "dequantizeWeights",
    "describeQuantOps", "dropped", "elementTypes", "emptyRegistry", "encodeModelProto", "encodeSafetensors",
    "ensureOpsetImport", "equalize", "evaluateStep", "existingSpill", "explicitPerms", "fidelityDiagnostics",
    "findEqualizePairs", "findOutlierTargets", "findWeights", "floatConst", "floatToBf16", "floatToHalf",
    "foldConvAffine", "granularityLabel", "halfToFloat", "histogramCalibrator", "insertBeforeFirstConsumer",
    "insertNodes", "intAttr", "isExternal", "isFloatWeightType", "isOnnxOp", "isQuantError", "isQuantOp",
    "isQuantized", "isolatedSensitivity", "layerBitsFor", "layerMerger", "lazyPending", "loadModel",
    "loadQuantConfig", "makeAttribute", "makeTensor", "matchesAny", "measureFidelity", "mergeChains", "modelInfo",
    "modelInputs", "nodeSubgraphs", "num", "openData", "openDataset", "openRunData", "openSafetensors",
    "opsetVersion", "ortTensor", "outerScopeInputs", "packInt4", "packMatMulNBits", "probeChannels", "qrange",
    "quantizeBnb4", "quantizeBnb4Searched", "quantizeInParallel", "quantizeWeights", "readNpy", "readsShapeOnly",
    "reason", "releaseSpill", "removeInitializers", "removeNodes", "removeValueInfo", "replaceUses",
    "replaceUsesMany", "replaceWithDequantize", "resolveChain", "resolvePlugin", "roundHalfEven", "runPipeline",
    "saveModel", "serializeModel", "setTensorRaw", "spillOf", "spillTensor", "spread", "sqnrBar", "sqnrDb",
    "streamPlan", "tensorBytes", "tensorDims", "tensorFloat32", "tensorFloats", "tensorInts", "tensorSize",
    "top1Agreement", "transposeFloat32", "unpackInt4", "unpackUint4", "valueInfo", "weightSensitivity", "weightUse",
    "withoutValues", "writeNpy",
];

const entry = fileURLToPath(new URL("../../src/index.ts", import.meta.url));

describe("public API (src/index.ts)", () => {
  test("exports exactly the listed names", () => {
    const program = ts.createProgram([entry], {
      allowImportingTsExtensions: true, noEmit: true, target: ts.ScriptTarget.ESNext, module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler, skipLibCheck: true, types: [],
    });
    const checker = program.getTypeChecker();
    const names = checker.getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(entry)!)!).map((s) => s.getName()).sort();
    expect(names).toEqual(PUBLIC_API);
  }, 60_000); // type-checking the API's modules takes a few seconds

  test("the runtime values are the listed names that are not types only", async () => {
    const values = Object.keys(await import(entry)).sort();
    expect(values.length).toBeGreaterThan(100);
    for (const v of values) expect(PUBLIC_API).toContain(v);
  });

  test("names only, no `export *`: every public name is chosen in src/index.ts", async () => {
    const text = await Bun.file(entry).text();
    expect(text).not.toMatch(/export\s+(type\s+)?\*/);
  });
});
