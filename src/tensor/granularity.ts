/**
 * What a quantized tensor is stored as and which of its elements share a scale: the types the quantizer
 * (quantize.ts), its kernels (kernels.ts) and the report all speak, in a file none of them has to import the others for.
 */

/** Integer storage types a weight can be quantized to. */
export type QuantType = "int8" | "uint8" | "int4" | "uint4" | "int16" | "uint16";

/** Which elements share one scale/zero point. Block semantics are DequantizeLinear opset 21 (`axis` + `block_size`). */
export type Granularity =
  | { kind: "tensor" }
  | { kind: "channel"; axis: number }
  | { kind: "block"; axis: number; blockSize: number };

/** The report's label of a granularity (`ReportEntry.granularity`): `per-tensor`, `per-channel axis N`, `block B axis N`. */
export function granularityLabel(g: Granularity): GranularityLabel {
  return g.kind === "tensor" ? "per-tensor" : g.kind === "channel" ? `per-channel axis ${g.axis}` : `block ${g.blockSize} axis ${g.axis}`;
}

/**
 * Which elements of a quantized tensor share one scale, as the report and `--format json` write it (one form for
 * every quantizer and packer; made by `granularityLabel`): `"per-tensor"`, `"per-channel axis N"`, `"block B axis N"`
 * (B elements along axis N share a scale, DequantizeLinear's `block_size`).
 */
export type GranularityLabel = "per-tensor" | `per-channel axis ${number}` | `block ${number} axis ${number}`;
