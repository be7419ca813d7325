/**
 * Load-time tensor checks: every storage form ONNX allows loads when dims × type and the data agree (raw_data, each
 * typed field, packed 4-bit, strings, external data with and without `length`), and each disagreement is
 * E_LOAD_TENSOR naming the tensor — initializers, Constant attributes and sparse parts alike.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Long from "long";
import { loadModel } from "../../src/onnx/codec.ts";
import { GraphBuilder } from "../../src/onnx/builder.ts";
import { encodeModelProto } from "../../src/onnx/proto.ts";
import type { ModelProto, TensorProto } from "../../src/onnx/types.ts";
import { isQuantError } from "../../src/errors/errors.ts";
import { DataType } from "../../src/tensor/dtypes.ts";

/** A model y = x + T where T is the given tensor (named "T" unless it says otherwise). */
function withTensor(t: TensorProto, where: "initializer" | "constant" = "initializer"): ModelProto {
  const b = new GraphBuilder("g");
  b.input("x", DataType.FLOAT, [2]);
  if (where === "initializer") b.graph.initializer!.push({ name: "T", ...t });
  else b.node("Constant", [], { value: { name: "", ...t } }, ["T"], { name: "const_node" });
  b.node("Add", ["x", "T"], {}, ["y"], { name: "add" });
  b.output("y", DataType.FLOAT, [2]);
  return b.model({ opset: 13 });
}

function loadError(m: ModelProto, dir?: string): string | undefined {
  try {
    if (dir) {
      writeFileSync(join(dir, "m.onnx"), encodeModelProto(m));
      loadModel(join(dir, "m.onnx"));
    } else loadModel(encodeModelProto(m));
    return undefined;
  } catch (e) {
    if (!isQuantError(e)) throw e;
    return `${e.code}: ${e.message}`;
  }
}

const F = DataType.FLOAT;

describe("stored tensors whose data matches dims × type load", () => {
  const ok: [string, TensorProto][] = [
    ["float raw_data", { data_type: F, dims: [2], raw_data: new Uint8Array(8) }],
    ["float_data", { data_type: F, dims: [2], float_data: [1, 2] }],
    ["fp16 in int32_data, one entry per element", { data_type: DataType.FLOAT16, dims: [3], int32_data: [0x3c00, 0, 1] }],
    ["int4 raw_data packed two per byte (3 elements → 2 bytes)", { data_type: DataType.INT4, dims: [3], raw_data: new Uint8Array(2) }],
    ["uint4 in int32_data, one entry per byte", { data_type: DataType.UINT4, dims: [3], int32_data: [0x21, 0x03] }],
    ["int64_data", { data_type: DataType.INT64, dims: [2], int64_data: [1, -1] }],
    ["uint32 in uint64_data", { data_type: DataType.UINT32, dims: [1], uint64_data: [7] }],
    ["double_data", { data_type: DataType.DOUBLE, dims: [1, 1], double_data: [0.5] }],
    ["strings", { data_type: DataType.STRING, dims: [2], string_data: [new Uint8Array([97]), new Uint8Array(0)] }],
    ["an empty tensor with no data", { data_type: F, dims: [0, 4] }],
    ["a scalar", { data_type: F, dims: [], float_data: [3] }],
  ];
  for (const [label, t] of ok) test(label, () => expect(loadError(withTensor(t))).toBeUndefined());

  test("the same in a Constant node's attribute", () => {
    expect(loadError(withTensor({ data_type: F, dims: [2], raw_data: new Uint8Array(8) }, "constant"))).toBeUndefined();
  });
});

describe("disagreements are E_LOAD_TENSOR naming the tensor", () => {
  const bad: [string, TensorProto, string][] = [
    ["raw_data longer than dims need", { data_type: F, dims: [2], raw_data: new Uint8Array(12) }, 'tensor "T" has 12 bytes of raw_data, dims [2] of FLOAT need 8'],
    ["raw_data shorter", { data_type: F, dims: [2, 2], raw_data: new Uint8Array(8) }, 'tensor "T" has 8 bytes of raw_data, dims [2, 2] of FLOAT need 16'],
    ["int4 stored one per byte", { data_type: DataType.INT4, dims: [4], raw_data: new Uint8Array(4) }, "has 4 bytes of raw_data, dims [4] of INT4 need 2"],
    ["float_data of the wrong count", { data_type: F, dims: [2], float_data: [1, 2, 3] }, "has 3 float_data entries, dims [2] of FLOAT need 2"],
    ["no data at all", { data_type: F, dims: [2] }, "holds no data, dims [2] of FLOAT need 2 float_data entries or raw_data"],
    ["negative dims", { data_type: F, dims: [-1, 32], raw_data: new Uint8Array(0) }, "has dims [-1, 32]: every dim must be a non-negative integer"],
    ["dims past 2^53 elements", { data_type: F, dims: [2 ** 30, 2 ** 30, 2 ** 30] }, "is not a countable size"],
    ["a 64-bit dim beyond 2^53", { data_type: F, dims: [Long.fromString("9223372036854775807")] as never }, "every dim must be a non-negative integer"],
    ["an unknown data type with data", { data_type: 99, dims: [2], raw_data: new Uint8Array(8) }, "has data type UNKNOWN(99), which has no defined storage"],
    ["UNDEFINED with elements", { data_type: 0, dims: [2] }, "has data type UNDEFINED"],
    ["a STRING tensor with raw_data", { data_type: DataType.STRING, dims: [1], raw_data: new Uint8Array(1) }, "is a STRING tensor with raw_data"],
    ["a segmented tensor", { data_type: F, dims: [2], raw_data: new Uint8Array(8), segment: { begin: 0, end: 1 } }, "is segmented"],
  ];
  for (const [label, t, msg] of bad) {
    test(label, () => {
      const e = loadError(withTensor(t));
      expect(e).toStartWith("E_LOAD_TENSOR: ");
      expect(e).toContain(msg);
    });
  }

  test("in a Constant node's attribute: names the node", () => {
    expect(loadError(withTensor({ data_type: F, dims: [2], raw_data: new Uint8Array(4) }, "constant"))).toBe(
      'E_LOAD_TENSOR: tensor "" (attribute of node "const_node") has 4 bytes of raw_data, dims [2] of FLOAT need 8',
    );
  });

  test("in a sparse initializer's values", () => {
    const m = withTensor({ data_type: F, dims: [2], float_data: [1, 2] });
    m.graph!.sparse_initializer = [{ values: { name: "S", data_type: F, dims: [3], float_data: [1] }, indices: { name: "S_i", data_type: DataType.INT64, dims: [3], int64_data: [0, 1, 2] }, dims: [4] }];
    expect(loadError(m)).toContain('E_LOAD_TENSOR: tensor "S" (sparse values) has 1 float_data entries, dims [3] of FLOAT need 3');
  });
});

describe("external data: an explicit length must be what dims × type need", () => {
  const dir = mkdtempSync(join(tmpdir(), "quant-check-tensors-"));
  writeFileSync(join(dir, "w.bin"), new Uint8Array(64));
  const ext = (length?: string, type = F): TensorProto => ({
    data_type: type,
    dims: [2],
    data_location: 1,
    external_data: [{ key: "location", value: "w.bin" }, { key: "offset", value: "16" }, ...(length === undefined ? [] : [{ key: "length", value: length }])],
  });

  test("length 8 or no length (taken from dims): loads", () => {
    expect(loadError(withTensor(ext("8")), dir)).toBeUndefined();
    expect(loadError(withTensor(ext()), dir)).toBeUndefined();
  });
  test("length 12 for [2] FLOAT: E_LOAD_TENSOR", () => {
    expect(loadError(withTensor(ext("12")), dir)).toBe('E_LOAD_TENSOR: tensor "T" has external data of 12 bytes, dims [2] of FLOAT need 8');
  });
  test("external data plus inline raw_data: E_LOAD_TENSOR", () => {
    expect(loadError(withTensor({ ...ext("8"), raw_data: new Uint8Array(8) }), dir)).toContain("has external data and inline data at once");
  });
});

describe("sparse initializers: a few values may not declare a huge dense shape", () => {
  const sparse = (dims: number[], nnz: number, indexDims = [nnz]) => {
    const m = withTensor({ data_type: F, dims: [2], float_data: [1, 2] });
    m.graph!.sparse_initializer = [
      { values: { name: "S", data_type: F, dims: [nnz], float_data: Array.from({ length: nnz }, () => 1) }, indices: { name: "S_i", data_type: DataType.INT64, dims: indexDims, int64_data: Array.from({ length: indexDims.reduce((a, b) => a * b, 1) }, (_, i) => i) }, dims },
    ];
    return loadError(m);
  };
  test("3 values in [4, 3], 3 values in 30,000 dense elements, a 2-D index list: load", () => {
    expect(sparse([4, 3], 3)).toBeUndefined();
    expect(sparse([100, 300], 3)).toBeUndefined();
    expect(sparse([4, 3], 2, [2, 2])).toBeUndefined();
  });
  test("3 values over dims [3, 32, 32, 32, 2, 32, 3, 3, 4] (226M dense floats, 900 MB in ONNX Runtime): E_LOAD_TENSOR", () => {
    expect(sparse([3, 32, 32, 32, 2, 32, 3, 3, 4], 3)).toBe(
      'E_LOAD_TENSOR: sparse initializer "S" declares 226492416 dense elements (dims [3, 32, 32, 32, 2, 32, 3, 3, 4]) for 3 values: over 1 in 10000 sparse, refused (ONNX Runtime would densify it)',
    );
  });
  test("negative dims, indices of the wrong shape: E_LOAD_TENSOR", () => {
    expect(sparse([-1, 3], 3)).toContain("has dims [-1, 3]: every dim must be a non-negative integer");
    expect(sparse([4, 3], 3, [2])).toContain("has indices of shape [2] for 3 values of rank 2 (want [3] or [3, 2])");
  });
});

describe("one value field at most (as ONNX's checker)", () => {
  test("raw_data plus string_data on a FLOAT tensor, float_data plus int32_data: E_LOAD_TENSOR", () => {
    expect(loadError(withTensor({ data_type: F, dims: [2], raw_data: new Uint8Array(8), string_data: [new Uint8Array([120])] }))).toContain(
      'tensor "T" stores data in both raw_data and string_data (ONNX allows one value field)',
    );
    expect(loadError(withTensor({ data_type: F, dims: [2], float_data: [1, 2], int32_data: [1, 2] }))).toContain("stores data in both float_data and int32_data");
  });
  test("an empty raw_data beside the typed field is not a second field", () => {
    expect(loadError(withTensor({ data_type: F, dims: [2], raw_data: new Uint8Array(0), float_data: [1, 2] }))).toBeUndefined();
  });
});
