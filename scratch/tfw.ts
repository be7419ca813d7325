import { loadModel, findWeights } from "../src/index.ts";
for (const p of process.argv.slice(2)) {
  const m = loadModel(p);
  const t = performance.now();
  const ws = findWeights(m);
  console.log(p.split("/").pop(), ws.length, (performance.now() - t).toFixed(1), "ms");
}
