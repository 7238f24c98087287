/** `zerokit state` run as real child processes. */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Cli, ipcEndpoint, runCli } from "../helpers.js";

const T = { timeout: 30_000 };

async function serve(args: string[]): Promise<{ cli: Cli; address: string }> {
  const cli = new Cli(["state", "serve", ...args]);
  const match = await cli.waitFor("stdout", /^state server on (\S+)$/m);
  return { cli, address: match[1] as string };
}

for (const transport of ["tcp", "ipc"] as const) {
  describe(`zerokit state over ${transport}`, () => {
    test("serve, set, get, del, watch, ping", T, async () => {
      const { cli, address } = await serve([
        "--bind",
        transport === "tcp" ? "tcp://127.0.0.1:0" : ipcEndpoint("state"),
      ]);
      try {
        const c = ["-c", address];
        assert.equal((await runCli(["state", "set", "greeting", '"hello"', ...c])).code, 0);
        assert.equal((await runCli(["state", "set", "n", '{"a": [1, 2.5, null]}', ...c])).code, 0);
        const got = await runCli(["state", "get", "n", ...c]);
        assert.equal(got.code, 0, got.stderr);
        assert.deepEqual(JSON.parse(got.stdout), { a: [1, 2.5, null] });
        const missing = await runCli(["state", "get", "nope", ...c]);
        assert.equal(missing.code, 1);
        assert.match(missing.stderr, /no key "nope"/);
        assert.equal((await runCli(["state", "del", "greeting", ...c])).code, 0);
        assert.equal((await runCli(["state", "del", "greeting", ...c])).code, 1);
        const watcher = new Cli(["state", "watch", "n", "--since", "1", ...c]);
        try {
          await watcher.waitFor("stdout", /^\{.*"key":"n".*\}$/m);
          const line = JSON.parse(watcher.stdout.split("\n")[0] as string) as {
            seq: number;
            after: unknown;
            before: unknown;
          };
          assert.equal(line.seq, 2);
          assert.deepEqual(line.after, { a: [1, 2.5, null] });
          assert.equal(line.before, null);
        } finally {
          await watcher.stop();
        }
        const ping = await runCli(["state", "ping", address]);
        assert.equal(ping.code, 0);
        assert.match(ping.stdout, /pong/);
      } finally {
        await cli.stop();
      }
    });
  });
}

describe("zerokit state errors and persistence", () => {
  test("bad JSON, bad endpoints, no server", T, async () => {
    const badJson = await runCli(["state", "set", "k", "not json", "-c", ipcEndpoint("none")]);
    assert.equal(badJson.code, 2);
    assert.match(badJson.stderr, /is not JSON/);
    const badEndpoint = await runCli(["state", "get", "k", "-c", "tcp://nohost"]);
    assert.equal(badEndpoint.code, 2);
    assert.match(badEndpoint.stderr, /invalid endpoint/);
    const noServer = await runCli(["state", "get", "k", "-c", ipcEndpoint("none"), "--timeout", "0.3"]);
    assert.equal(noServer.code, 1);
    assert.match(noServer.stderr, /no state server answered/);
    const ping = await runCli(["state", "ping", ipcEndpoint("none"), "--timeout", "0.3"]);
    assert.equal(ping.code, 1);
    assert.equal((await runCli(["state", "serve", "--fsync", "sometimes"])).code, 2);
  });

  test("serve stops cleanly on SIGHUP (its terminal closed)", T, async () => {
    const { cli } = await serve(["--bind", ipcEndpoint("hup")]);
    cli.child.kill("SIGHUP");
    const { code, signal } = await cli.exited;
    assert.deepEqual({ code, signal }, { code: 0, signal: null });
  });

  test("serve --data-dir --fsync always keeps acknowledged writes across SIGKILL", T, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "zk-cli-state-"));
    try {
      const endpoint = ipcEndpoint("persist");
      const first = await serve(["--bind", endpoint, "--data-dir", dataDir, "--fsync", "always"]);
      assert.equal((await runCli(["state", "set", "kept", "42", "-c", first.address])).code, 0);
      first.cli.child.kill("SIGKILL");
      await first.cli.exited;
      const second = await serve(["--bind", ipcEndpoint("persist"), "--data-dir", dataDir]);
      try {
        const got = await runCli(["state", "get", "kept", "-c", second.address]);
        assert.equal(got.stdout.trim(), "42");
      } finally {
        await second.cli.stop();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
