/**
 * Runs the quant CLI in this process (`bun test/helpers/peak-rss.ts quantize …`) and, at exit, writes the process's
 * peak resident set size in bytes, then its user and system CPU time in ms (all threads), to the file named by
 * QUANT_PEAK_FILE: the memory tests' and bench/large.ts's measure of a whole run.
 */
import { writeFileSync } from "node:fs";
import { run } from "../../src/cli/main.ts";

process.on("exit", () => {
  // Node's (and Bun's) maxRSS is in kilobytes.
  const u = process.resourceUsage();
  if (process.env.QUANT_PEAK_FILE) writeFileSync(process.env.QUANT_PEAK_FILE, `${u.maxRSS * 1024} ${u.userCPUTime / 1000} ${u.systemCPUTime / 1000}`);
});
await run(process.argv.slice(2));
