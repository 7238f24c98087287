/**
 * `zerokit rpc --server`: serving a Node built-in, a .mjs class, an export picked with
 * `module:export`, default and multiple addresses, workers that connect to a client that binds,
 * and Ctrl-C in a client cancelling the call on the server.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { hostname } from "node:os";
import { describe, test } from "node:test";
import { anchorJs, anchorTs, Cli, ipcEndpoint, rpc, startServer, workerMjs } from "../helpers.js";

describe("zerokit rpc --server", () => {
  test("serves Node's os module on a default address and says how to call it", { timeout: 20_000 }, async () => {
    const server = await startServer(["os"]);
    try {
      assert.equal(server.name, "os");
      await server.cli.waitFor(
        "stdout",
        new RegExp(`^call it with: zerokit rpc ${escapeRegExp(server.address)}$`, "m"),
      );
      const listing = await rpc([server.address]);
      assert.equal(listing.code, 0, listing.stderr);
      assert.match(listing.stdout, /^\[os\]\n/);
      assert.match(listing.stdout, /^hostname +<undocumented>$/m);
      const call = await rpc([server.address, "hostname"]);
      assert.equal(call.stdout, `'${hostname()}'\n`);
      const json = await rpc(["-pj", server.address, "platform"]);
      assert.equal(json.stdout, JSON.stringify(process.platform));
    } finally {
      await server.cli.stop();
    }
  });

  // Tests bind loopback only; what a wildcard bind prints is tested in exposure.test.ts.
  test("binds several addresses, each shown as bound", { timeout: 20_000 }, async () => {
    const ipc = ipcEndpoint("multi");
    const server = await startServer(["--bind", "tcp://127.0.0.1:0", "--bind", ipc, "node:path:posix"]);
    try {
      assert.equal(server.name, "posix");
      assert.equal(server.endpoints.length, 2);
      assert.match(server.endpoints[0] as string, /^tcp:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(server.endpoints[1], ipc);
      for (const endpoint of server.endpoints) {
        const run = await rpc([endpoint, "join", "a", "b"]);
        assert.equal(run.stdout, "'a/b'\n", run.stderr);
      }
    } finally {
      await server.cli.stop();
    }
  });

  test("a Python-style module.attr name works too", { timeout: 20_000 }, async () => {
    const server = await startServer(["--bind", "tcp://127.0.0.1:0", "path.win32"]);
    try {
      assert.equal(server.name, "win32");
      const run = await rpc([server.address, "join", "a", "b"]);
      assert.equal(run.stdout, "'a\\\\b'\n", run.stderr);
    } finally {
      await server.cli.stop();
    }
  });

  test("two workers connect to a client that binds; each serves calls", { timeout: 30_000 }, async () => {
    const endpoint = ipcEndpoint("workers");
    const first = await startServer(["--connect", endpoint, workerMjs]);
    const second = await startServer([endpoint, workerMjs], "zerorpc"); // positional = connect
    try {
      assert.equal(first.name, "PidService");
      assert.equal(second.endpoints[0], endpoint);
      const pids = new Map([
        [String(first.cli.child.pid), first],
        [String(second.cli.child.pid), second],
      ]);
      const one = await rpc(["--bind", endpoint, "pid"]);
      assert.equal(one.code, 0, one.stderr);
      assert.equal(one.stderr.split("\n")[0], `binding to "${endpoint}"`);
      const answered = pids.get(one.stdout.trim());
      assert.ok(answered, `an unknown pid answered: ${one.stdout}`);
      // Stop the worker that answered: the next client can only be served by the other one.
      await answered.cli.stop();
      const two = await rpc(["--bind", endpoint, "pid"]);
      assert.equal(two.code, 0, two.stderr);
      const other = pids.get(two.stdout.trim());
      assert.ok(other && other !== answered, `expected the other worker, got ${two.stdout}`);
    } finally {
      await Promise.all([first.cli.stop(), second.cli.stop()]);
    }
  });

  test("Ctrl-C in a client cancels the running call and exits 130", { timeout: 20_000 }, async () => {
    const server = await startServer(["-d", "--bind", "tcp://127.0.0.1:0", anchorTs]);
    try {
      const client = new Cli(["rpc", "-d", "-j", server.address, "sleep", "30"]);
      await client.waitFor("stderr", /^--> sleep /m);
      await server.cli.waitFor("stderr", /^<-- sleep /m);
      client.child.kill("SIGINT");
      const { code } = await client.exited;
      assert.equal(code, 130);
      assert.match(client.stderr, /^interrupted$/m);
      await server.cli.waitFor("stderr", /^<-- _zerokit_cancel /m);
    } finally {
      await server.cli.stop();
    }
  });

  test("--pool-size 1 runs one call at a time", { timeout: 20_000 }, async () => {
    const server = await startServer(["-d", "--pool-size", "1", "--bind", "tcp://127.0.0.1:0", anchorJs]);
    const busy = new Cli(["rpc", "-j", server.address, "sleep", "30"]);
    try {
      await server.cli.waitFor("stderr", /^<-- sleep /m);
      // The only slot is taken: the next call waits in the queue past its deadline.
      const queued = await rpc(["--timeout", "0.5", "-j", server.address, "add", "1", "2"]);
      assert.equal(queued.code, 1);
      assert.match(queued.stderr, /^TimeoutExpired: timeout after 0\.5s, when calling remote method add$/m);
    } finally {
      busy.child.kill("SIGINT");
      await busy.exited;
      await server.cli.stop();
    }
  });

  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    test(`${signal} (SIGHUP: its terminal closed) stops it and removes its ipc socket file`, {
      timeout: 20_000,
    }, async () => {
      const endpoint = ipcEndpoint("signal");
      const path = endpoint.slice("ipc://".length);
      const server = await startServer(["--bind", endpoint, workerMjs]);
      assert.ok(existsSync(path), `${path} exists while serving`);
      server.cli.child.kill(signal);
      const { code, signal: killedBy } = await server.cli.exited;
      assert.deepEqual({ code, killedBy }, { code: 0, killedBy: null });
      assert.equal(existsSync(path), false, `${path} is left behind`);
    });
  }

  test("stops cleanly on SIGTERM", { timeout: 20_000 }, async () => {
    const server = await startServer(["--bind", "tcp://127.0.0.1:0", workerMjs]);
    server.cli.child.kill("SIGTERM");
    const { code } = await server.cli.exited;
    assert.equal(code, 0);
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}
