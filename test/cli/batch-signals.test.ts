/**
 * Bounded work in `batch` (issue 9 item 5/6): a per-job timeout, SIGTERM to batch stops its children and leaves no
 * temp files, children stop by themselves when batch is killed with SIGKILL, and SIGINT to a single run cleans up.
 * A validator plugin that sleeps holds each child at the point where its outputs are staged (temp files exist).
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../helpers/corpus.ts";
import { childPids, running, savedChain, temps, tmp, until } from "../pipeline/safety-helpers.ts";

const MAIN = join(ROOT, "src/cli/main.ts");

/** Two models and a config whose chain ends with a validator that sleeps for a minute. */
function setup() {
  const dir = tmp();
  const a = savedChain(join(dir, "in"), "a.onnx").model;
  const b = savedChain(join(dir, "in"), "b.onnx").model;
  writeFileSync(
    join(dir, "sleepy.ts"),
    `import { defineValidator } from ${JSON.stringify(join(ROOT, "src/index.ts"))};\nexport default () => defineValidator({ name: "sleepy", async validate() { await Bun.sleep(60_000); return []; } });\n`,
  );
  writeFileSync(join(dir, "slow.json"), JSON.stringify({ plugins: ["normalize", "weight-only", "int8", "onnx", "./sleepy.ts"] }));
  return { dir, a, b, out: join(dir, "out"), config: join(dir, "slow.json") };
}

const spawn = (args: string[], cwd: string) => Bun.spawn([process.execPath, MAIN, ...args], { cwd, stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });

describe("batch stops its children", () => {
  test("SIGTERM to batch: exit 143, every child gone, no temp file and no output left", async () => {
    const s = setup();
    const p = spawn(["batch", s.a, s.b, "-o", s.out, "--jobs", "2", "--config", s.config], s.dir);
    await until(() => temps(s.out).length >= 2, 30_000, "both children to stage their outputs");
    const kids = childPids(p.pid);
    expect(kids.length).toBe(2);
    p.kill("SIGTERM");
    expect(await p.exited).toBe(143);
    await until(() => kids.every((k) => !running(k)), 5000, "children to exit");
    expect(temps(s.out)).toEqual([]);
    expect(readdirSync(s.out)).toEqual([]);
  }, 60_000);

  test("kill -9 of batch: the children notice, exit and remove their temps", async () => {
    const s = setup();
    const p = spawn(["batch", s.a, s.b, "-o", s.out, "--jobs", "2", "--config", s.config], s.dir);
    await until(() => temps(s.out).length >= 2, 30_000, "both children to stage their outputs");
    const kids = childPids(p.pid);
    expect(kids.length).toBe(2);
    p.kill("SIGKILL");
    await p.exited;
    await until(() => kids.every((k) => !running(k)), 5000, "orphaned children to exit");
    expect(temps(s.out)).toEqual([]);
    expect(readdirSync(s.out)).toEqual([]);
  }, 60_000);

  test("--timeout: a job over its limit is stopped with E_TIMEOUT, the batch goes on and leaves no temps", async () => {
    const s = setup();
    const t0 = performance.now();
    const p = spawn(["batch", s.a, s.b, "-o", s.out, "--config", s.config, "--timeout", "2", "--continue-on-error", "--format", "json"], s.dir);
    const [out, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
    const seconds = (performance.now() - t0) / 1000;
    expect(code).toBe(1);
    const summary = JSON.parse(out) as { models: { status: string; error?: string }[] };
    expect(summary.models.map((m) => m.status)).toEqual(["failed", "failed"]);
    for (const m of summary.models) expect(m.error).toStartWith("E_TIMEOUT");
    expect(seconds).toBeLessThan(30); // 2 × (2 s + shutdown), far below the 60 s the validator sleeps
    expect(temps(s.out)).toEqual([]);
    expect(existsSync(join(s.out, "a.onnx"))).toBe(false);
  }, 60_000);

  test("--timeout must be a number of seconds", () => {
    const s = setup();
    const r = Bun.spawnSync([process.execPath, MAIN, "batch", s.a, "-o", s.out, "--timeout", "soon"], { cwd: s.dir, stderr: "pipe" });
    expect(r.exitCode).toBe(2);
    expect(r.stderr.toString()).toContain("E_USAGE");
  });
});

describe("a single run interrupted", () => {
  test("SIGINT while outputs are staged: exit 130, no temp file, no output", async () => {
    const s = setup();
    const out = join(s.dir, "q.onnx");
    const p = spawn(["quantize", s.a, "-o", out, "--config", s.config, "--external-data"], s.dir);
    await until(() => temps(s.dir).length >= 1, 30_000, "the output to be staged");
    p.kill("SIGINT");
    expect(await p.exited).toBe(130);
    expect(temps(s.dir)).toEqual([]);
    expect(readdirSync(s.dir).filter((n) => n.startsWith("q.onnx"))).toEqual([]);
  }, 60_000);
});
