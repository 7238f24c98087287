/**
 * The commander-free parse of a plain call (src/cli/quick.ts) against commander's parse of the
 * same words with the real flag table (src/cli/rpc-command.ts): equal where it answers, and no
 * answer (commander parses) for anything with a flag.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Command } from "commander";
import { quickRpcArgs } from "../../src/cli/quick.js";
import type { RpcArgs } from "../../src/cli/rpc.js";
import { rpcCommand } from "../../src/cli/rpc-command.js";

/** What commander makes of `zerokit rpc ...argv` (or `zerorpc ...argv`). */
async function commanderArgs(argv: readonly string[], program: "zerokit" | "zerorpc"): Promise<RpcArgs> {
  let parsed: RpcArgs | undefined;
  const rpc = rpcCommand(program === "zerorpc" ? "zerorpc" : "rpc", (args) => {
    parsed = args;
  });
  rpc.exitOverride();
  if (program === "zerorpc") await rpc.parseAsync([...argv], { from: "user" });
  else {
    const root = new Command("zerokit").exitOverride().addCommand(rpc);
    await root.parseAsync(["rpc", ...argv], { from: "user" });
  }
  assert.ok(parsed, "commander did not run the action");
  return parsed;
}

const PLAIN: readonly (readonly string[])[] = [
  ["tcp://127.0.0.1:4242"],
  ["tcp://127.0.0.1:4242", "hostname"],
  ["tcp://127.0.0.1:4242", "echo", "x"],
  ["tcp://127.0.0.1:4242", "add", "1", "2", "3"],
  ["ipc:///tmp/zk.sock", "echo", "", "two words", '{"a":1}'],
  ["calc-node/calc", "add", "1", "2"],
  ["help"],
  ["not an address", "echo"],
];

const WITH_FLAGS: readonly (readonly string[])[] = [
  [],
  ["-j", "tcp://127.0.0.1:4242", "echo", "1"],
  ["tcp://127.0.0.1:4242", "echo", "-1"],
  ["tcp://127.0.0.1:4242", "echo", "-"],
  ["--", "tcp://127.0.0.1:4242", "echo"],
  ["tcp://127.0.0.1:4242", "echo", "--timeout", "5"],
  ["-pj", "tcp://127.0.0.1:4242", "echo", "x"],
  ["-?", "tcp://127.0.0.1:4242"],
  ["--server", "os"],
  ["--help"],
];

describe("quick parse of a plain call", { timeout: 20_000 }, () => {
  test("gives what commander gives for every plain command line", async () => {
    for (const argv of PLAIN) {
      for (const program of ["zerokit", "zerorpc"] as const) {
        assert.deepEqual(quickRpcArgs(argv), await commanderArgs(argv, program), `${program} ${argv.join(" ")}`);
      }
    }
  });

  test("leaves any command line with a flag, or none at all, to commander", () => {
    for (const argv of WITH_FLAGS) assert.equal(quickRpcArgs(argv), undefined, argv.join(" "));
  });
});
