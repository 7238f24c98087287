/**
 * Command-line mistakes exit with status 2 and one clear line on stderr; --help and --version
 * describe what exists.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { repoRoot, rpc, runCli } from "../helpers.js";

const version = (JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string }).version;

/** One line on stderr, nothing on stdout, status 2. */
function assertUsageError(run: { code: number | null; stdout: string; stderr: string }, pattern: RegExp): void {
  assert.equal(run.code, 2, `stderr: ${run.stderr}`);
  assert.equal(run.stdout, "");
  const lines = run.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `expected one line, got: ${run.stderr}`);
  assert.match(lines[0] as string, pattern);
}

describe("zerokit command line", () => {
  test("--version prints the package version", { timeout: 20_000 }, async () => {
    const run = await runCli(["--version"]);
    assert.equal(run.code, 0);
    assert.equal(run.stdout, `${version}\n`);
    const zerorpc = await runCli(["--version"], "zerorpc");
    assert.equal(zerorpc.stdout, `${version}\n`);
  });

  test("--help lists the rpc command; rpc --help shows zerorpc's flags", { timeout: 20_000 }, async () => {
    const run = await runCli(["--help"]);
    assert.equal(run.code, 0);
    assert.match(run.stdout, /^ {2}rpc .*zerorpc/m);
    const help = await rpc(["--help"]);
    assert.equal(help.code, 0);
    for (const flag of ["--client", "--server", "--connect <address>", "--bind <address>", "--timeout <seconds>"]) {
      assert.ok(help.stdout.includes(flag), `missing ${flag}`);
    }
    for (const flag of ["--heartbeat <seconds>", "--pool-size <count>", "-j, --json", "-pj, --print-json"]) {
      assert.ok(help.stdout.includes(flag), `missing ${flag}`);
    }
    for (const flag of ["-?, --inspect", "--active-hb", "-d, --debug"]) {
      assert.ok(help.stdout.includes(flag), `missing ${flag}`);
    }
  });

  test("no command at all prints help and exits 2", { timeout: 20_000 }, async () => {
    const run = await runCli([]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /Usage: zerokit/);
  });

  test("a client without an address prints usage and exits 2", { timeout: 20_000 }, async () => {
    const run = await runCli([], "zerorpc");
    assert.equal(run.code, 2);
    assert.equal(run.stdout, "");
    assert.match(run.stderr, /^Usage: zerorpc /m);
    assert.match(run.stderr, /^zerorpc: give the address of a service, or --connect\/--bind$/m);
  });

  test("an unknown flag", { timeout: 20_000 }, async () => {
    assertUsageError(await rpc(["--bogus", "tcp://127.0.0.1:1", "x"]), /^zerokit rpc: unknown option '--bogus'/);
  });

  test("--client with --server", { timeout: 20_000 }, async () => {
    assertUsageError(await rpc(["--client", "--server", "tcp://127.0.0.1:1"]), /cannot be used with/);
  });

  test("bad option values", { timeout: 20_000 }, async () => {
    assertUsageError(await rpc(["--timeout", "soon", "tcp://127.0.0.1:1", "x"]), /--timeout.*seconds > 0/);
    assertUsageError(await rpc(["--heartbeat", "-1", "tcp://127.0.0.1:1", "x"]), /--heartbeat.*seconds >= 0/);
    assertUsageError(await rpc(["--server", "--pool-size", "0", "os"]), /--pool-size.*whole number/);
  });

  test("bad endpoints", { timeout: 20_000 }, async () => {
    assertUsageError(await rpc(["tcp://localhost", "x"]), /^zerokit rpc: invalid endpoint "tcp:\/\/localhost": /);
    assertUsageError(await rpc(["nowhere", "x"]), /^zerokit rpc: invalid endpoint "nowhere": /);
    assertUsageError(await rpc(["--connect", "tcp://*:1", "x"]), /cannot connect to a wildcard host/);
    assertUsageError(await rpc(["--server", "--bind", "udp://0:1", "os"]), /unknown transport "udp"/);
  });

  test("parameters that are not JSON with -j", { timeout: 20_000 }, async () => {
    assertUsageError(
      await rpc(["-j", "tcp://127.0.0.1:1", "add", "1", "{oops"]),
      /^zerokit rpc: parameter 2 is not valid JSON \(-j\): "\{oops"/,
    );
  });

  test("a module that does not exist", { timeout: 20_000 }, async () => {
    assertUsageError(
      await rpc(["--server", "--bind", "tcp://127.0.0.1:0", "./test/fixtures/cli/nope.ts"]),
      /^zerokit rpc: cannot find module "\.\/test\/fixtures\/cli\/nope\.ts": no file /,
    );
    assertUsageError(
      await rpc(["--server", "--bind", "tcp://127.0.0.1:0", "no-such-package-zk"]),
      /^zerokit rpc: cannot find module "no-such-package-zk": not a Node built-in, a package/,
    );
    assertUsageError(
      await rpc(["--server", "--bind", "tcp://127.0.0.1:0", "./README.md"]),
      /^zerokit rpc: cannot serve .*README\.md: not a module \(expected \.ts, /,
    );
    assertUsageError(
      await rpc(["--server", "--bind", "tcp://127.0.0.1:0", "os:nothing"]),
      /^zerokit rpc: module "os" has no export "nothing"/,
    );
  });

  test("--server with only an address asks for the module", { timeout: 20_000 }, async () => {
    const run = await rpc(["--server", "tcp://127.0.0.1:1"]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^zerokit rpc: give the module to serve after tcp:\/\/127\.0\.0\.1:1$/m);
    assertUsageError(
      await rpc(["--server", "--bind", "tcp://127.0.0.1:0", "tcp://127.0.0.1:1", "os"]),
      /^zerokit rpc: "tcp:\/\/127\.0\.0\.1:1" is an address, not a module/,
    );
  });
});
