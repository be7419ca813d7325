/**
 * `matmulnbits` packer: block-quantized MatMul weights (DequantizeLinear with block_size along K → MatMul input B)
 * become ONNX Runtime's com.microsoft MatMulNBits (4 or 8 bits, symmetric or with packed zero points), the form
 * transformers.js's `model_q4.onnx` uses and web runtimes run natively. The weight's codes, scales and zero points
 * are the quantizer's, unchanged: the result dequantizes to exactly the same weight as the DequantizeLinear form.
 * Other pending tensors (and DQ pairs it cannot take) are left to the next packers.
 */
import {
  DataType, GraphIndex, MS_DOMAIN, definePacker, ensureOpsetImport, floatToHalf, isOnnxOp, makeAttribute, makeTensor,
  num, packMatMulNBits, tensorFloat32, existingSpill, spillTensor,
  type GraphProto, type Model, type NodeProto, type PendingTensor, type PluginContext, type TensorProto,
} from "../../src/index.ts";

/** Options of the `matmulnbits` packer. */
export interface MatMulNBitsOptions {
  /**
   * MatMulNBits `accuracy_level`: lowest compute precision ONNX Runtime may use for A (0 unset = fp32, 1 fp32,
   * 2 fp16, 3 bf16, 4 int8). Default 4, what ONNX Runtime itself gives the MatMulNBits it fuses from a
   * DequantizeLinear → MatMul pair: on a 6 × 2048² GEMV stack (1 thread) level 4 runs 3.6× fp32, level 0 1.85×, and on
   * digits_transformer both give the same logits SQNR within 0.03 dB. Level 0 computes exactly as the DequantizeLinear
   * form does in fp32.
   */
  accuracyLevel?: 0 | 1 | 2 | 3 | 4;
  /** Bit widths to convert (default 4 and 8). */
  bits?: (4 | 8)[];
}

const BITS: Record<string, 4 | 8> = { int4: 4, uint4: 4, int8: 8, uint8: 8 };

/** `matmulnbits` packer factory. */
export default function matmulnbits(opts: MatMulNBitsOptions = {}) {
  const accuracy = opts.accuracyLevel ?? 4;
  if (![0, 1, 2, 3, 4].includes(accuracy)) throw new Error(`matmulnbits: accuracyLevel must be 0..4 (got ${accuracy})`);
  const allowed = new Set(opts.bits ?? [4, 8]);
  return definePacker({
    name: "matmulnbits",
    options: { ...opts },
    packGraph(model: Model, pending: readonly PendingTensor[], ctx: PluginContext) {
      const byName = new Map<string, PendingTensor>();
      for (const t of pending) if (t.tensor.name) byName.set(t.tensor.name, t);
      const index = new GraphIndex(model);
      const packed: PendingTensor[] = [];
      const unique = (p: string) => index.uniqueName(p);
      let converted = 0;
      for (const scope of index.scopes) {
        const graph = scope.graph;
        const dropNodes = new Set<NodeProto>();
        const dropInits = new Set<string>();
        for (const dq of graph.node ?? []) {
          if (!isOnnxOp(dq, "DequantizeLinear")) continue;
          const [qName = "", sName = "", zName = ""] = dq.input ?? [];
          const out = dq.output?.[0] ?? "";
          const w = byName.get(qName);
          const z = zName ? byName.get(zName) : undefined;
          const bits = w ? BITS[w.type] : undefined;
          if (!w || w.role !== "weight" || !bits || !allowed.has(bits) || (zName && !z)) continue;
          const dims = (w.tensor.dims ?? []).map((d) => num(d));
          const attr = (k: string, d: number) => num(dq.attribute?.find((a) => a.name === k)?.i ?? d);
          const blockSize = attr("block_size", 0);
          const axis = attr("axis", 1);
          // MatMulNBits wants [K, N] blocks along K, a power-of-two block of at least 16.
          if (dims.length !== 2 || (axis !== 0 && axis !== -2) || blockSize < 16 || (blockSize & (blockSize - 1)) !== 0) continue;
          const scaleT = index.constantOf(sName, graph);
          if (!scaleT || (scaleT.data_type !== DataType.FLOAT && scaleT.data_type !== DataType.FLOAT16)) continue;
          const readers = index.readers(out, graph);
          if (!readers.length || index.isGraphOutput(out, graph)) continue;
          if (!readers.every((r) => isOnnxOp(r.node, "MatMul") && r.input === 1 && r.node.input?.[0] !== out && aRankOk(index, r.node, r.graph))) continue;
          ctx.at(out);
          const [K, N] = dims as [number, number];
          const scale = tensorFloat32(model, scaleT);
          const zp = z ? z.values : new Int8Array(scale.length);
          const nb = packMatMulNBits(w.values, zp, scale, K, N, bits, blockSize, w.type === "int4" || w.type === "int8");
          // B takes over the pending weight tensor (already an initializer of this graph).
          Object.assign(w.tensor, { dims: [N, nb.blocks, nb.blobSize], data_type: DataType.UINT8, raw_data: nb.b });
          clearTyped(w.tensor);
          const half = scaleT.data_type === DataType.FLOAT16;
          const scales = unique(`${out}_scales`);
          const scaleData = half ? Uint16Array.from(nb.scales, floatToHalf) : nb.scales;
          const inits = (graph.initializer ??= []);
          inits.push(makeTensor(scales, half ? DataType.FLOAT16 : DataType.FLOAT, [N * nb.blocks], scaleData));
          // A streaming run keeps the packed weight and its scales on disk, not in memory.
          if (existingSpill(model)) for (const t of [w.tensor, inits[inits.length - 1]!]) spillTensor(model, t, { minBytes: 256 << 10 });
          const inputs = ["", w.tensor.name!, scales];
          if (nb.zeroPoints) {
            const zpName = unique(`${out}_zero_points`);
            inits.push(makeTensor(zpName, DataType.UINT8, [nb.zeroPoints.length], nb.zeroPoints));
            inputs.push(zpName);
          }
          if (z) (dropInits.add(z.tensor.name!), packed.push(z));
          packed.push(w);
          if (index.readers(sName, graph).length === 1 && index.producer(sName, graph)?.kind === "initializer") dropInits.add(sName);
          dropNodes.add(dq);
          for (const r of readers) {
            const mm = r.node;
            Object.assign(mm, {
              op_type: "MatMulNBits",
              domain: MS_DOMAIN,
              input: [mm.input![0]!, ...inputs.slice(1)],
              attribute: [
                makeAttribute("K", K), makeAttribute("N", N), makeAttribute("bits", bits), makeAttribute("block_size", blockSize),
                makeAttribute("accuracy_level", accuracy),
              ],
            });
            converted++;
          }
          removeInfo(graph, out);
        }
        if (dropNodes.size) graph.node = graph.node!.filter((n) => !dropNodes.has(n));
        if (dropInits.size) graph.initializer = (graph.initializer ?? []).filter((t) => !dropInits.has(t.name ?? ""));
      }
      if (converted) {
        ensureOpsetImport(model.proto, MS_DOMAIN, 1);
        ctx.logger.info(`${converted} MatMul(s) → MatMulNBits`);
      }
      return { packed };
    },
    // Graph-level only: every tensor it takes is packed in packGraph.
    accepts: () => false,
    pack() {},
  });
}

/** MatMulNBits reads A [..., K]: a 1-D A (vector-matrix MatMul) would change the output rank. */
function aRankOk(index: GraphIndex, mm: NodeProto, graph: GraphProto): boolean {
  const shape = index.shapeOf(mm.input?.[0] ?? "", graph);
  return shape === undefined || shape.length >= 2;
}

/** Drop typed-field payloads after setting raw_data (a tensor carries its data in exactly one field). */
function clearTyped(t: TensorProto) {
  for (const k of ["int32_data", "int64_data", "float_data", "double_data", "uint64_data"] as const) delete t[k];
}

/** Remove the value_info of a value that no longer exists. */
function removeInfo(graph: GraphProto, name: string) {
  if (graph.value_info) graph.value_info = graph.value_info.filter((v) => v.name !== name);
}
