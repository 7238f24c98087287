/**
 * tsx is an optional peer dependency: only serving a TypeScript file imports it, and without it
 * the CLI says in one line how to get it. ZEROKIT_TSX_API names a module that does not exist to
 * stand for an install without tsx (the real import, failing as it would; no mock).
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { LoadError, loadService } from "../../src/cli/load.js";
import { anchorJs, anchorTs, rpc, runCli, startServer, workerMjs } from "../helpers.js";

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

describe("packages resolve from the current directory as an import there would, without tsx", () => {
  let dir: string;
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "zk-load-"));
    write(
      "node_modules/zk-conditions/package.json",
      JSON.stringify({
        type: "module",
        exports: {
          ".": { types: "./index.d.ts", require: "./c.cjs", import: "./m.js" },
          "./sub/*": "./lib/*.js",
          "./private/*": null,
        },
      }),
    );
    write("node_modules/zk-conditions/m.js", 'export const which = () => "import";\n');
    write("node_modules/zk-conditions/c.cjs", 'exports.which = () => "require";\n');
    write("node_modules/zk-conditions/lib/extra.js", 'export const sub = () => "sub";\n');
    write("node_modules/@zk/main-only/package.json", JSON.stringify({ main: "lib/entry" }));
    write("node_modules/@zk/main-only/lib/entry.js", "exports.hello = () => 'main';\n");
    mkdirSync(join(dir, "deep", "er"), { recursive: true });
  });

  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const call = async (spec: string, cwd: string, method: string) => {
    const { target } = await loadService(spec, cwd);
    return (target as Record<string, () => unknown>)[method]?.();
  };

  test("the import condition of exports, from a directory below", { timeout: 5000 }, async () => {
    assert.equal(await call("zk-conditions", join(dir, "deep", "er"), "which"), "import");
  });

  test("subpath patterns, and subpaths the package keeps private", { timeout: 5000 }, async () => {
    assert.equal(await call("zk-conditions/sub/extra", dir, "sub"), "sub");
    await assert.rejects(loadService("zk-conditions/private/x", dir), LoadError);
  });

  test("a scoped package with only main (no extension)", { timeout: 5000 }, async () => {
    assert.equal(await call("@zk/main-only", dir, "hello"), "main");
  });
});
