/** A process with an undelivered message exits promptly after close (measured-traps.md #2). */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { distDir } from "../helpers.js";

/** A tcp port that nothing listens on (the OS picked it free, and it was released again). */
async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  assert.ok(address && typeof address === "object");
  return address.port;
}

test("a PUSH with an undelivered message exits within 2 s of close", { timeout: 10_000 }, async () => {
  const endpoint = `tcp://127.0.0.1:${await unusedPort()}`;
  const started = performance.now();
  const child = spawn(process.execPath, [join(distDir, "test", "fixtures", "push-to-nobody.js"), endpoint], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const killer = setTimeout(() => child.kill("SIGKILL"), 2000);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.on("exit", (c, s) => resolve([c, s])),
  );
  clearTimeout(killer);
  const elapsed = performance.now() - started;
  assert.equal(signal, null, `killed after ${elapsed.toFixed(0)} ms: the process hung at exit\n${output}`);
  assert.equal(code, 0, output);
  assert.ok(elapsed < 2000, `took ${elapsed.toFixed(0)} ms`);
  assert.match(output, /sent and closed/);
});
