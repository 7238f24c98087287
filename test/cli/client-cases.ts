/**
 * `zerokit rpc` as a client against `zerokit rpc --server` serving the reference service: every
 * case the Python CLI was recorded with (test/fixtures/vectors/zerorpc/cli_outputs.json) prints the same
 * stdout and exit status. One suite per transport, each in its own test file (client-tcp and
 * client-ipc) so that the two run in parallel: each spawns dozens of CLI processes.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { rpc, runCli, type Served, startServer, zerorpcVectors } from "../helpers.js";

interface CliCase {
  argv: string[];
  exit: number;
  stdout: string;
  stderr: string;
}

const vectors = JSON.parse(readFileSync(join(zerorpcVectors, "cli_outputs.json"), "utf8")) as { cases: CliCase[] };
const callCases = vectors.cases.filter((c) => c.argv.includes("EP"));

/** A Python server lists `self` first; a JavaScript method has no such argument. */
function withoutSelf(text: string): string {
  return text.replace(/\(self(, )?/g, "(");
}

/** The last line of a Python traceback, which is what zerokit prints (without the module path). */
function pythonErrorLine(stderr: string): string {
  const lines = stderr.trimEnd().split("\n");
  return (lines[lines.length - 1] as string).replace(/^zerorpc\.exceptions\./, "");
}

/** What the server printed and whether it still runs, for failure messages. */
function serverState(server: Served): string {
  const { exitCode, signalCode } = server.cli.child;
  const state = exitCode === null && signalCode === null ? "running" : `exited (${exitCode ?? signalCode})`;
  return `server ${state}; its stderr:\n${server.cli.stderr}`;
}

/** Where a suite serves the reference service: over which transport, from which fixture. */
export interface ClientSetup {
  transport: "tcp" | "ipc";
  fixture: string;
  bind: string;
}

/** Defines the suite for one setup. */
export function clientSuite(setup: ClientSetup): void {
  describe(`zerokit rpc client, ${setup.transport}, serving ${setup.fixture}`, () => {
    let server: Served;
    before(async () => {
      server = await startServer(["--bind", setup.bind, setup.fixture]);
    });
    after(async () => {
      await server?.cli.stop();
    });

    test("the server announces the reference service name and a connectable address", { timeout: 20_000 }, () => {
      assert.equal(server.name, "anchor");
      assert.match(server.address, setup.transport === "tcp" ? /^tcp:\/\/127\.0\.0\.1:\d+$/ : /^ipc:\/\//);
    });

    for (const c of callCases) {
      const label = c.argv.slice(1).join(" ");
      test(`zerorpc ${label}: same stdout and status as Python`, { timeout: 20_000 }, async () => {
        const argv = c.argv.slice(1).map((a) => (a === "EP" ? server.address : a));
        const run = await runCli(argv, "zerorpc");
        assert.equal(run.code, c.exit, `${run.stderr}\n${serverState(server)}`);
        assert.equal(run.stdout, withoutSelf(c.stdout));
        assert.equal(run.stderr.split("\n")[0], `connecting to "${server.address}"`);
        if (c.exit !== 0) {
          const lastLine = run.stderr.trimEnd().split("\n").pop();
          assert.equal(lastLine, pythonErrorLine(c.stderr));
        }
      });
    }

    test("zerokit rpc is the same command as zerorpc", { timeout: 20_000 }, async () => {
      const run = await rpc(["-j", server.address, "add", "1", "2"]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, "3\n");
    });

    test("options may follow the positionals, and --connect shifts them", { timeout: 20_000 }, async () => {
      const run = await rpc(["--connect", server.address, "add", "1", "2", "-j"]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, "3\n");
    });

    test("a list returned by OK prints as one list, not one item per line", { timeout: 20_000 }, async () => {
      const run = await rpc(["-j", server.address, "echo", "[1, 2, 3]"]);
      assert.equal(run.stdout, "[1, 2, 3]\n");
      const json = await rpc(["-j", "-pj", server.address, "echo", '{"a": [1, 2.5, null], "b": "\\u00e9"}']);
      assert.equal(json.stdout, '{"a": [1, 2.5, null], "b": "\\u00e9"}');
    });

    test("a stream prints one item per line; an empty stream prints nothing", { timeout: 20_000 }, async () => {
      const run = await rpc(["-j", server.address, "range", "5", "2"]);
      assert.equal(run.stdout, "0\n2\n4\n");
      const empty = await rpc(["-j", server.address, "range", "0"]);
      assert.equal(empty.code, 0, empty.stderr);
      assert.equal(empty.stdout, "");
      const emptyJson = await rpc(["-j", "-pj", server.address, "range", "0"]);
      assert.equal(emptyJson.stdout, "[]");
    });

    test("negative numbers are parameters, not flags", { timeout: 20_000 }, async () => {
      const run = await rpc(["-j", server.address, "add", "-1", "-2.5"]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, "-3.5\n");
    });

    test("strings and nested values print like Python's pprint", { timeout: 20_000 }, async () => {
      const run = await rpc(["-j", server.address, "echo", '{"z": "it\'s", "a": [true, false, null], "n": 1e-7}']);
      assert.equal(run.stdout, `{'a': [True, False, None], 'n': 1e-07, 'z': "it's"}\n`);
    });

    test("-? for an unknown method says there is no documentation", { timeout: 20_000 }, async () => {
      const run = await rpc(["-?", server.address, "nosuch"]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, '[anchor]\nNo documentation for "nosuch".\n');
    });

    test("-d shows the events sent and received, and the remote stack of an error", { timeout: 20_000 }, async () => {
      const run = await rpc(["-d", server.address, "fail", "oops"]);
      assert.equal(run.code, 1);
      assert.match(run.stderr, /^--> fail \{'message_id': b'[0-9a-f]{32}', 'v': 3\} \['oops'\]$/m);
      assert.match(run.stderr, /^<-- ERR \{'message_id': .*'response_to': .*\['ValueError', 'oops', /m);
      assert.match(run.stderr, /^ValueError: oops$/m);
      assert.match(run.stderr, /remote stack:\nValueError: oops\n\s+at /);
    });

    test("a lost remote (heartbeats that never come) fails with status 1", { timeout: 20_000 }, async () => {
      // The server beats every 5 s; an active client expecting 0.2 s beats gives up after 0.4 s.
      const run = await rpc(["--active-hb", "--heartbeat", "0.2", "-j", server.address, "sleep", "3"]);
      assert.equal(run.code, 1);
      assert.match(
        run.stderr,
        /^LostRemote: lost remote after 0\.4s without heartbeat, when calling remote method sleep$/m,
      );
    });
  });
}
