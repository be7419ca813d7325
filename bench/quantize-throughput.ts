/**
 * Throughput of the weight-quantization kernels in MB/s of fp32 input, next to a plain copy of the same bytes
 * (`Float32Array.prototype.set` into a preallocated buffer, and `slice`) measured in the same run, interleaved round by
 * round so machine noise hits every row alike. Medians of wall time, and of process CPU time (less sensitive to other
 * processes taking the core; GC threads count too). Never fails on time.
 *
 * Each quantize case runs on the WASM SIMD kernels and on the JS ones (`--kernels wasm|js|both`, default both).
 *
 *   bun bench/quantize-throughput.ts [--rounds N] [--kernels wasm|js|both]
 */
import { quantizeWeights, type QuantSpec } from "../src/tensor/quantize.ts";
import { setKernelBackend } from "../src/tensor/wasm-kernels.ts";

interface Case {
  label: string;
  run: () => void;
  /** Clip search is ~10× slower; it gets fewer rounds. */
  slow?: boolean;
}

const argRounds = process.argv.indexOf("--rounds");
const ROUNDS = argRounds > 0 ? Number(process.argv[argRounds + 1]) : 9;
const argKernels = process.argv.indexOf("--kernels");
const KERNELS = argKernels > 0 ? process.argv[argKernels + 1]! : "both";
const BACKENDS = (KERNELS === "both" ? ["wasm", "js"] : [KERNELS]) as ("wasm" | "js")[];

/** Deterministic weights with a realistic shape: Gaussian body, per-channel spread, a few outliers. */
function makeWeights(dims: number[]): Float32Array {
  const n = dims.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  let seed = 0x2545f491;
  const uniform = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0), (seed + 0.5) / 4294967296);
  const rows = dims[0]!;
  const perRow = n / rows;
  for (let r = 0; r < rows; r++) {
    const spread = 0.02 * (0.5 + uniform());
    for (let j = r * perRow; j < (r + 1) * perRow; j++) {
      const g = Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
      out[j] = spread * g * (uniform() < 0.001 ? 6 : 1);
    }
  }
  return out;
}

function casesFor(name: string, dims: number[], data: Float32Array, channelAxis: number, blockAxis: number): Case[] {
  const copyBuf = new Float32Array(data.length);
  const q1 = (label: string, spec: QuantSpec, slow: boolean, b: "wasm" | "js"): Case => ({
    label: `${name} ${label}${BACKENDS.length > 1 ? ` [${b}]` : ""}`,
    run: () => { setKernelBackend(b); quantizeWeights(data, dims, spec); },
    slow,
  });
  const q = (label: string, spec: QuantSpec, slow = false): Case[] => BACKENDS.map((b) => q1(label, spec, slow, b));
  const tensor = { kind: "tensor" } as const;
  const channel = { kind: "channel", axis: channelAxis } as const;
  const block = { kind: "block", axis: blockAxis, blockSize: 32 } as const;
  const list: (Case | Case[])[] = [
    { label: `${name} copy: Float32Array.set`, run: () => copyBuf.set(data) },
    { label: `${name} copy: slice`, run: () => void data.slice() },
    q("int8  sym  per-tensor", { type: "int8", symmetric: true, granularity: tensor }),
    q("uint8 asym per-tensor", { type: "uint8", symmetric: false, granularity: tensor }),
    q(`int8  sym  per-channel (axis ${channelAxis})`, { type: "int8", symmetric: true, granularity: channel }),
    q(`uint8 asym per-channel (axis ${channelAxis})`, { type: "uint8", symmetric: false, granularity: channel }),
    q(`int8  sym  block 32 (axis ${blockAxis})`, { type: "int8", symmetric: true, granularity: block }),
    q(`int4  sym  per-channel (axis ${channelAxis})`, { type: "int4", symmetric: true, granularity: channel }),
    q(`int4  sym  block 32 (axis ${blockAxis})`, { type: "int4", symmetric: true, granularity: block }),
    q(`uint4 asym block 32 (axis ${blockAxis})`, { type: "uint4", symmetric: false, granularity: block }),
    q(`int4  sym  per-channel + clip search`, { type: "int4", symmetric: true, granularity: channel, clipSearch: true }, true),
    q(`int4  sym  block 32 + clip search`, { type: "int4", symmetric: true, granularity: block, clipSearch: true }, true),
    q(`uint4 asym block 32 + clip search`, { type: "uint4", symmetric: false, granularity: block, clipSearch: true }, true),
  ];
  return list.flat();
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const tensors: [string, number[], number, number][] = [
  // Conv weight [O, I, kh, kw]: per-channel on O, blocks along the reduction axis I (inner stride 9).
  ["conv 512x512x3x3", [512, 512, 3, 3], 0, 1],
  // MatMul weight [K, N]: per-channel on N (last axis), blocks along K (stride N).
  ["matmul 4096x1024", [4096, 1024], 1, 0],
];

for (const [name, dims, chAxis, blAxis] of tensors) {
  const data = makeWeights(dims);
  const mb = data.byteLength / 1e6;
  const cases = casesFor(name, dims, data, chAxis, blAxis);
  const times = new Map<Case, number[]>(cases.map((c) => [c, []]));
  const cpu = new Map<Case, number[]>(cases.map((c) => [c, []]));
  for (const c of cases) c.run(); // warm-up: JIT tiers, page faults
  for (let r = 0; r < ROUNDS; r++) {
    for (const c of cases) {
      if (c.slow && r % 3 !== 0) continue;
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      c.run();
      times.get(c)!.push(performance.now() - t0);
      const dc = process.cpuUsage(c0);
      cpu.get(c)!.push((dc.user + dc.system) / 1000);
    }
  }
  const copyMs = median(times.get(cases[0]!)!);
  console.log(`\n${name}  (${mb.toFixed(1)} MB fp32, ${ROUNDS} interleaved rounds, medians)`);
  console.log(`${"case".padEnd(60)} ${"wall ms".padStart(9)} ${"MB/s".padStart(7)} ${"× copy".padStart(8)} ${"cpu ms".padStart(9)} ${"MB/s".padStart(7)}`);
  for (const c of cases) {
    const ms = median(times.get(c)!);
    const cms = median(cpu.get(c)!);
    const rate = (t: number) => (t > 0 ? (mb / (t / 1000)).toFixed(0) : "—").padStart(7);
    console.log(`${c.label.padEnd(60)} ${ms.toFixed(2).padStart(9)} ${rate(ms)} ${(ms / copyMs).toFixed(1).padStart(8)} ${cms.toFixed(2).padStart(9)} ${rate(cms)}`);
  }
}
