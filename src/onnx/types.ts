/**
 * TypeScript shapes of the decoded ONNX protobuf messages (see onnx.proto beside this file).
 * Fields are optional exactly as in proto2: an absent field stays absent after a round trip.
 * int64 fields are plain numbers when they fit in 2^53, else protobufjs `Long` objects (kept for losslessness).
 */
import type Long from "long";

/** An int64 as decoded: a number when safe, a Long otherwise. */
export type Int64 = number | Long;

export interface StringStringEntryProto { key?: string; value?: string }
/** An opset import: a domain ("" = ai.onnx) and its version. */
export interface OperatorSetIdProto { domain?: string; version?: Int64 }

export interface TensorSegment { begin?: Int64; end?: Int64 }
/** A stored tensor (initializer or Constant value): dims, data type, data inline or external. */
export interface TensorProto {
  dims?: Int64[];
  data_type?: number;
  segment?: TensorSegment;
  float_data?: number[];
  int32_data?: number[];
  string_data?: Uint8Array[];
  int64_data?: Int64[];
  name?: string;
  doc_string?: string;
  raw_data?: Uint8Array;
  external_data?: StringStringEntryProto[];
  data_location?: number;
  double_data?: number[];
  uint64_data?: Int64[];
  metadata_props?: StringStringEntryProto[];
}
export interface SparseTensorProto { values?: TensorProto; indices?: TensorProto; dims?: Int64[] }

export interface TensorShapeDimension { dim_value?: Int64; dim_param?: string; denotation?: string; value?: "dim_value" | "dim_param" }
/** A declared shape: one entry per dim, a number or a symbolic name. */
export interface TensorShapeProto { dim?: TensorShapeDimension[] }
/** A value's declared type (tensor, sequence, map, optional). */
export interface TypeProto {
  tensor_type?: { elem_type?: number; shape?: TensorShapeProto };
  sequence_type?: { elem_type?: TypeProto };
  map_type?: { key_type?: number; value_type?: TypeProto };
  optional_type?: { elem_type?: TypeProto };
  sparse_tensor_type?: { elem_type?: number; shape?: TensorShapeProto };
  opaque_type?: { domain?: string; name?: string };
  denotation?: string;
  value?: string;
}
/** A named, typed value: a graph input/output or a value_info entry. */
export interface ValueInfoProto { name?: string; type?: TypeProto; doc_string?: string; metadata_props?: StringStringEntryProto[] }

/** AttributeProto.AttributeType values. */
export const AttributeType = {
  UNDEFINED: 0, FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8,
  TENSORS: 9, GRAPHS: 10, SPARSE_TENSOR: 11, SPARSE_TENSORS: 12, TYPE_PROTO: 13, TYPE_PROTOS: 14,
} as const;

/** A node attribute (typed by `type`: int, float, string, tensor, graph, lists of them). */
export interface AttributeProto {
  name?: string;
  ref_attr_name?: string;
  doc_string?: string;
  type?: number;
  f?: number;
  i?: Int64;
  s?: Uint8Array;
  t?: TensorProto;
  g?: GraphProto;
  sparse_tensor?: SparseTensorProto;
  tp?: TypeProto;
  floats?: number[];
  ints?: Int64[];
  strings?: Uint8Array[];
  tensors?: TensorProto[];
  graphs?: GraphProto[];
  sparse_tensors?: SparseTensorProto[];
  type_protos?: TypeProto[];
}

/** One node: op type and domain, input/output value names, attributes. */
export interface NodeProto {
  input?: string[];
  output?: string[];
  name?: string;
  op_type?: string;
  domain?: string;
  overload?: string;
  attribute?: AttributeProto[];
  doc_string?: string;
  metadata_props?: StringStringEntryProto[];
  device_configurations?: unknown[];
}

export interface TensorAnnotation { tensor_name?: string; quant_parameter_tensor_names?: StringStringEntryProto[] }

/** A graph: nodes in order, initializers, inputs, outputs, value_info (If/Loop/Scan bodies are graphs too). */
export interface GraphProto {
  node?: NodeProto[];
  name?: string;
  initializer?: TensorProto[];
  sparse_initializer?: SparseTensorProto[];
  doc_string?: string;
  input?: ValueInfoProto[];
  output?: ValueInfoProto[];
  value_info?: ValueInfoProto[];
  quantization_annotation?: TensorAnnotation[];
  metadata_props?: StringStringEntryProto[];
}

export interface TrainingInfoProto {
  initialization?: GraphProto;
  algorithm?: GraphProto;
  initialization_binding?: StringStringEntryProto[];
  update_binding?: StringStringEntryProto[];
}

/** A model-local function (its nodes are a graph body without initializers). */
export interface FunctionProto {
  name?: string;
  input?: string[];
  output?: string[];
  attribute?: string[];
  attribute_proto?: AttributeProto[];
  node?: NodeProto[];
  doc_string?: string;
  opset_import?: OperatorSetIdProto[];
  domain?: string;
  overload?: string;
  value_info?: ValueInfoProto[];
  metadata_props?: StringStringEntryProto[];
}

/** A whole model: IR version, opset imports, the main graph, functions, metadata. */
export interface ModelProto {
  ir_version?: Int64;
  opset_import?: OperatorSetIdProto[];
  producer_name?: string;
  producer_version?: string;
  domain?: string;
  model_version?: Int64;
  doc_string?: string;
  graph?: GraphProto;
  metadata_props?: StringStringEntryProto[];
  training_info?: TrainingInfoProto[];
  functions?: FunctionProto[];
  configuration?: unknown[];
}

/** Number value of an int64 field (throws on values beyond 2^53, which no shape or attribute we use can hold). */
export function num(v: Int64 | undefined | null, fallback = 0): number {
  if (v === undefined || v === null) return fallback;
  if (typeof v === "number") return v;
  return v.toNumber();
}
