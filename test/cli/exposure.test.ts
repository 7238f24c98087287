/**
 * What `zerokit rpc --server` says it exposes: the address it really listens on (a wildcard is
 * every interface, reached from here through loopback), a warning for binds other machines can
 * reach (there is no authentication) and for modules whose functions run commands or write files,
 * and --max-message-size. Tests bind loopback and ipc only: wildcard binds are checked through
 * the functions the CLI prints with, and a non-loopback warning through a bind that fails.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  DANGEROUS_BUILTINS,
  dangerousMethods,
  dangerWarning,
  listeningAddress,
  reachableFromOtherMachines,
} from "../../src/cli/exposure.js";
import { RpcServer } from "../../src/rpc/server.js";
import { anchorJs, rpc, runCli, startServer } from "../helpers.js";

describe("what the CLI server exposes", () => {
  test("a wildcard bind is reported as every interface, loopback as itself", { timeout: 5000 }, () => {
    assert.equal(listeningAddress("tcp://0:*", "tcp://127.0.0.1:41234"), "tcp://0.0.0.0:41234");
    assert.equal(listeningAddress("tcp://0:1234", "tcp://127.0.0.1:1234"), "tcp://0.0.0.0:1234");
    assert.equal(listeningAddress("tcp://*:1234", "tcp://127.0.0.1:1234"), "tcp://*:1234");
    assert.equal(listeningAddress("tcp://[::]:1234", "tcp://[::1]:1234"), "tcp://[::]:1234");
    assert.equal(listeningAddress("tcp://127.0.0.1:*", "tcp://127.0.0.1:5000"), "tcp://127.0.0.1:5000");
    assert.equal(listeningAddress("ipc:///tmp/x.sock", "ipc:///tmp/x.sock"), "ipc:///tmp/x.sock");
  });

  test("which binds other machines can reach", { timeout: 5000 }, () => {
    for (const endpoint of ["tcp://0:1234", "tcp://*:1", "tcp://[::]:1", "tcp://192.168.1.5:1", "tcp://eth0:1"]) {
      assert.equal(reachableFromOtherMachines(endpoint), true, endpoint);
    }
    for (const endpoint of ["tcp://127.0.0.1:1", "tcp://127.1.2.3:*", "tcp://localhost:1", "tcp://[::1]:1"]) {
      assert.equal(reachableFromOtherMachines(endpoint), false, endpoint);
    }
    assert.equal(reachableFromOtherMachines("ipc:///tmp/x.sock"), false);
    assert.equal(reachableFromOtherMachines("inproc://x"), false);
  });

  test("every dangerous built-in is recognised, directly or re-exported; os and path are not", {
    timeout: 10_000,
  }, async () => {
    for (const name of DANGEROUS_BUILTINS) {
      const ns = (await import(`node:${name}`)) as Record<string, unknown>;
      const target = name === "process" ? process : ns;
      const methods = new RpcServer(target).methods;
      const found = await dangerousMethods(target, methods);
      assert.ok(found.size > 0, `${name}: ${methods.join(", ")}`);
    }
    const { execFile } = await import("node:child_process");
    const { writeFile } = await import("node:fs/promises");
    const mixed = { execFile, writeFile, add: (a: number, b: number) => a + b };
    const found = await dangerousMethods(mixed, ["execFile", "writeFile", "add"]);
    assert.deepEqual(
      [...found],
      [
        ["execFile", "child_process"],
        ["writeFile", "fs/promises"],
      ],
    );
    assert.match(
      dangerWarning("./mine.js", found) as string,
      /^warning: "\.\/mine\.js" serves functions of node:child_process, node:fs\/promises \(execFile, writeFile\): anyone who can connect can run commands/,
    );
    for (const name of ["os", "path", "util"]) {
      const ns = (await import(`node:${name}`)) as Record<string, unknown>;
      assert.equal((await dangerousMethods(ns, new RpcServer(ns).methods)).size, 0, name);
    }
  });

  test("serving child_process warns on stderr (checked before anything is bound)", { timeout: 20_000 }, async () => {
    // The bind fails (no such directory), so nothing is ever served: the warning comes first.
    const dir = mkdtempSync(join(tmpdir(), "zk-exposure-"));
    try {
      const run = await rpc(["--server", "--bind", `ipc://${dir}/missing/x.sock`, "child_process"]);
      assert.equal(run.code, 1, run.stderr);
      assert.match(
        run.stderr,
        /^warning: "child_process" serves functions of node:child_process \(.*exec.*\): anyone who can connect can run commands, write files/m,
      );
      assert.match(run.stderr, /^zerokit rpc: Error: cannot bind /m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a bind that other machines could reach is warned about before it is made", { timeout: 20_000 }, async () => {
    // An interface that does not exist: the bind fails, nothing listens anywhere.
    const run = await rpc(["--server", "--bind", "tcp://zk-no-such-interface:4242", anchorJs]);
    assert.equal(run.code, 1, run.stderr);
    const lines = run.stderr.split("\n");
    const warning = lines.findIndex((line) =>
      /^warning: tcp:\/\/zk-no-such-interface:4242 is reachable from other machines without authentication/.test(line),
    );
    const failure = lines.findIndex((line) => /cannot bind tcp:\/\/zk-no-such-interface:4242/.test(line));
    assert.ok(warning >= 0 && failure > warning, run.stderr);
  });

  test("loopback and ipc binds of a plain module say nothing alarming", { timeout: 20_000 }, async () => {
    const server = await startServer(["--bind", "tcp://127.0.0.1:*", anchorJs]);
    try {
      assert.match(server.address, /^tcp:\/\/127\.0\.0\.1:\d+$/);
      await server.cli.waitFor("stdout", /^call it with: zerokit rpc tcp:\/\/127\.0\.0\.1:\d+$/m);
      assert.doesNotMatch(server.cli.stderr, /warning/);
    } finally {
      await server.cli.stop();
    }
  });

  test("--max-message-size refuses larger requests and serves smaller ones", { timeout: 30_000 }, async () => {
    const server = await startServer(["--max-message-size", "1KiB", "--bind", "tcp://127.0.0.1:*", anchorJs]);
    try {
      const small = await rpc([server.address, "echo", "hello"]);
      assert.equal(small.stdout, "'hello'\n", small.stderr);
      const large = await rpc([server.address, "echo", "x".repeat(2048)]);
      assert.equal(large.code, 1);
      assert.match(large.stderr, /^MessageTooLargeError: .*1024/m);
    } finally {
      await server.cli.stop();
    }
  });

  test("bad --max-message-size values are usage errors (exit 2)", { timeout: 20_000 }, async () => {
    for (const value of ["0", "-1", "lots", "1.5MiB", "1TB"]) {
      const run = await runCli(["rpc", "--server", "--max-message-size", value, "os"]);
      assert.equal(run.code, 2, `${value}: ${run.stderr}`);
      assert.equal(run.stdout, "");
      assert.match(
        run.stderr,
        /^zerokit rpc: option '--max-message-size <bytes>' argument .* is invalid\. expected a size in bytes >= 1/,
      );
    }
  });
});
