#!/usr/bin/env node
// The `quant` bin. quant runs on Bun (it uses Bun's APIs and runs TypeScript directly); under Node this re-runs the
// command with `bun` when it is installed, and otherwise says plainly what to install.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const main = fileURLToPath(new URL("./main.ts", import.meta.url));
if (typeof Bun !== "undefined") {
  const { run } = await import("./main.ts");
  await run(process.argv.slice(2));
} else {
  const r = spawnSync("bun", [main, ...process.argv.slice(2)], { stdio: "inherit" });
  if (r.error) {
    process.stderr.write(`quant needs Bun ≥ 1.4.5 (it is not on PATH): npm i -g bun   — then run quant again (or: bun x quant …)\n`);
    process.exit(1);
  }
  process.exit(r.status ?? 1);
}
