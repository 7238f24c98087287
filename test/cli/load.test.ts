/**
 * tsx is an optional peer dependency: only serving a TypeScript file imports it, and without it
 * the CLI says in one line how to get it. ZEROKIT_TSX_API names a module that does not exist to
 * stand for an install without tsx (the real import, failing as it would; no mock).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { anchorJs, anchorTs, rpc, runCli, startServer, workerMjs } from "./helpers.js";

const withoutTsx = { ZEROKIT_TSX_API: "zerokit-test-no-such-tsx/esm/api" };

describe("zerokit rpc --server without tsx", () => {
  test("a .ts file: one line saying how to get tsx, exit 2", { timeout: 20_000 }, async () => {
    const run = await runCli(
      ["rpc", "--server", "--bind", "tcp://127.0.0.1:*", anchorTs],
      "zerokit",
      15_000,
      withoutTsx,
    );
    assert.equal(run.code, 2, run.stderr);
    assert.equal(run.stdout, "");
    assert.equal(
      run.stderr,
      "zerokit rpc: cannot load anchor.ts: serving TypeScript needs tsx, which is not installed (npm install --save-dev tsx), or serve the compiled .js\n",
    );
  });

  for (const spec of [anchorJs, workerMjs, "commander", "node:path:posix"]) {
    test(`${spec} is served without tsx`, { timeout: 20_000 }, async () => {
      const server = await startServer(["--bind", "tcp://127.0.0.1:*", spec], "zerokit", withoutTsx);
      try {
        const listing = await rpc([server.address]);
        assert.equal(listing.code, 0, listing.stderr);
        assert.match(listing.stdout, /^\[\w+\]\n\w+/);
      } finally {
        await server.cli.stop();
      }
    });
  }

  test("with tsx the same .ts file is served", { timeout: 20_000 }, async () => {
    const server = await startServer(["--bind", "tcp://127.0.0.1:*", anchorTs]);
    try {
      assert.equal(server.name, "anchor");
    } finally {
      await server.cli.stop();
    }
  });
});
