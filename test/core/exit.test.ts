/** A process with an undelivered message exits promptly after close (measured-traps.md #2). */
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { distDir, runNode } from "../helpers.js";

/** A tcp port that nothing listens on (the OS picked it free, and it was released again). */
async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  assert.ok(address && typeof address === "object");
  return address.port;
}

// libzmq's default linger would hang this process forever; zerokit's 1 s linger lets it exit. The
// kill deadline is generous so a loaded machine cannot fail it: the hang it catches never ends.
test("a PUSH with an undelivered message exits after close instead of hanging", { timeout: 20_000 }, async () => {
  const endpoint = `tcp://127.0.0.1:${await unusedPort()}`;
  const fixture = join(distDir, "test", "fixtures", "push-to-nobody.js");
  const { code, killed, output, elapsedMs } = await runNode(fixture, [endpoint], 10_000);
  assert.equal(killed, false, `killed after ${elapsedMs.toFixed(0)} ms: the process hung at exit\n${output}`);
  assert.equal(code, 0, output);
  assert.match(output, /sent and closed/);
});
