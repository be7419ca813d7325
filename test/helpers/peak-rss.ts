/**
 * Runs the quant CLI in this process (`bun test/helpers/peak-rss.ts quantize …`) and, at exit, writes the process's
 * peak resident set size in bytes to the file named by QUANT_PEAK_FILE: the memory tests' measure of a whole run.
 */
import { writeFileSync } from "node:fs";
import { run } from "../../src/cli/main.ts";

process.on("exit", () => {
  // Node's (and Bun's) maxRSS is in kilobytes.
  if (process.env.QUANT_PEAK_FILE) writeFileSync(process.env.QUANT_PEAK_FILE, String(process.resourceUsage().maxRSS * 1024));
});
await run(process.argv.slice(2));
