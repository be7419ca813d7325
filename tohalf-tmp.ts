// Crude float32 → float16 conversion of a corpus model, to exercise the float16 path on a real graph.
import { loadModel, saveModel, makeTensor, tensorFloat32, tensorDims, DataType, floatToHalf, constantTensor, allGraphs } from "./src/index.ts";
const m = loadModel(process.argv[2]!);
const F = DataType.FLOAT, H = DataType.FLOAT16;
const conv = (t: any) => makeTensor(t.name ?? "", H, tensorDims(t), Uint16Array.from(tensorFloat32(m, t), floatToHalf));
for (const { graph: g } of allGraphs(m.proto)) {
  g.initializer = (g.initializer ?? []).map((t) => (t.data_type === F ? conv(t) : t));
  for (const v of [...(g.input ?? []), ...(g.output ?? []), ...(g.value_info ?? [])]) if (v.type?.tensor_type?.elem_type === F) v.type.tensor_type.elem_type = H;
  for (const n of g.node ?? []) {
    for (const a of n.attribute ?? []) {
      if (n.op_type === "Cast" && a.name === "to" && Number(a.i) === F) a.i = H;
      if (a.t && a.t.data_type === F) a.t = conv(a.t);
    }
  }
}
saveModel(m, process.argv[3]!);
