/**
 * Runs every benchmark in turn and prints their figures (nothing here passes or fails on time).
 *   bun bench/run.ts [--quick]      --quick skips the >2 GiB external-data cases and uses fewer runs
 */
const quick = process.argv.includes("--quick");
const benches: [string, string[]][] = [
  ["cli-speed.ts", quick ? ["--runs", "3"] : []],
  ["quantize-throughput.ts", quick ? ["--rounds", "3"] : []],
  ["io.ts", quick ? ["--small"] : []],
  ["calibrators.ts", []],
  ["static-speed.ts", quick ? ["--runs", "30"] : []],
  ["calibrate-cost.ts", quick ? ["--rounds", "1"] : []],
  ["fp16-qdq.ts", quick ? ["--runs", "10"] : []],
  // A 3.24 GB model through every mode (~7 GB of disk, minutes); --quick: one 0.8 GB layer, INT8 at 1 and 2 threads.
  ["large.ts", quick ? ["--layers", "1", "--modes", "int8", "--threads", "1,2"] : []],
];
for (const [file, args] of benches) {
  console.log(`\n## bench/${file} ${args.join(" ")}\n`);
  const p = Bun.spawnSync([process.execPath, `${import.meta.dir}/${file}`, ...args], { stdout: "inherit", stderr: "inherit" });
  if (p.exitCode !== 0) console.log(`(bench/${file} exited with ${p.exitCode})`);
}
