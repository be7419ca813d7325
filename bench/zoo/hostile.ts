/**
 * A hostile variant of the zoo's face detector that reproduces the failure issue 13 describes on a held-out detector:
 * a learnable per-channel affine (Mul γ, Add β, shape [1,C,1,1]) after the first depthwise Conv, with γ spread 50×
 * across channels, so that depthwise output's channel ranges end up ~50× apart. The pointwise Conv after the Relu
 * divides its input columns by γ, so the model still computes (nearly) the detector's function; β is small. The float
 * reference of every comparison is this model itself.
 */
import { DataType, GraphIndex, findEqualizePairs, floatConst, intAttr, loadModel, makeTensor, type Model } from "../../src/index.ts";
import { rng } from "../../test/helpers/random.ts";

/**
 * fr_detect (at `path`) with a 50×-spread per-channel affine after its first depthwise → Relu → pointwise pair.
 * `inside`: the spread sits in the depthwise Conv's own weights (rows × γ) and the Mul undoes it (÷ γ), as when an
 * exporter leaves a normalization unfolded: the depthwise output is the tensor with far-apart channel ranges, and its
 * only reader is the float Mul.
 */
export function hostileDetector(path: string, spread = 50, seed = 7, inside = false): Model {
  const model = loadModel(path);
  const pair = findEqualizePairs(model).find((p) => intAttr(p.producer, "group", 1) > 1 && p.between.length === 1 && p.between[0]!.op_type === "Relu" && p.readers.length === 1 && intAttr(p.readers[0]!, "group", 1) === 1);
  if (!pair) throw new Error(`${path}: no depthwise → Relu → Conv pair`);
  const index = new GraphIndex(model);
  const g = model.proto.graph!;
  const c = pair.channels;
  const r = rng(seed);
  const gamma = new Float32Array(c);
  const beta = new Float32Array(c);
  for (let i = 0; i < c; i++) {
    // Log-uniform over [1/√spread, √spread], with the two ends present: max / min = spread.
    const u = i === 0 ? 0 : i === 1 ? 1 : r();
    gamma[i] = Math.exp((u - 0.5) * Math.log(spread));
    beta[i] = 0.02 * gamma[i]! * (r() - 0.5);
  }
  const conv = pair.producer;
  const y = conv.output![0]!;
  const mulOut = index.uniqueName(`${y}_affine_mul`);
  const addOut = index.uniqueName(`${y}_affine_add`);
  const gName = index.uniqueName("affine_gamma");
  const bName = index.uniqueName("affine_beta");
  if (inside) {
    const w = floatConst(model, index, conv.input![1]!)!;
    const per = w.data.length / c;
    for (let i = 0; i < c; i++) for (let t = i * per; t < (i + 1) * per; t++) w.data[t] = w.data[t]! * gamma[i]!;
    const wName = index.uniqueName(`${conv.input![1]}_hostile`);
    g.initializer!.push(makeTensor(wName, DataType.FLOAT, w.dims, w.data));
    const inputs = [conv.input![0]!, wName];
    const b = conv.input?.[2] ? floatConst(model, index, conv.input[2])! : undefined;
    if (b) {
      const bName2 = index.uniqueName(`${conv.input![2]}_hostile`);
      g.initializer!.push(makeTensor(bName2, DataType.FLOAT, b.dims, b.data.map((v, i) => v * gamma[i]!)));
      inputs.push(bName2);
    }
    conv.input = inputs;
    const inv = gamma.map((v) => 1 / v);
    g.initializer!.push(makeTensor(gName, DataType.FLOAT, [1, c, 1, 1], inv), makeTensor(bName, DataType.FLOAT, [1, c, 1, 1], beta.map((v, i) => v / gamma[i]!)));
  } else g.initializer!.push(makeTensor(gName, DataType.FLOAT, [1, c, 1, 1], gamma), makeTensor(bName, DataType.FLOAT, [1, c, 1, 1], beta));
  const relu = pair.between[0]!;
  relu.input = [addOut];
  const at = g.node!.indexOf(relu);
  g.node!.splice(at, 0, { op_type: "Mul", name: index.uniqueName("affine_mul"), input: [y, gName], output: [mulOut] }, { op_type: "Add", name: index.uniqueName("affine_add"), input: [mulOut, bName], output: [addOut] });
  if (inside) return model;
  const reader = pair.readers[0]!;
  const w = floatConst(model, index, reader.input![1]!)!;
  const [cout, cin] = w.dims as [number, number];
  const k = w.data.length / (cout * cin);
  for (let o = 0; o < cout; o++) for (let i = 0; i < cin; i++) for (let t = 0; t < k; t++) w.data[(o * cin + i) * k + t] = w.data[(o * cin + i) * k + t]! / gamma[i]!;
  const wName = index.uniqueName(`${reader.input![1]}_hostile`);
  g.initializer!.push(makeTensor(wName, DataType.FLOAT, w.dims, w.data));
  reader.input = [reader.input![0]!, wName, ...reader.input!.slice(2)];
  return model;
}
