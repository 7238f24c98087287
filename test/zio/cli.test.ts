/**
 * The CLI by name: `zerokit rpc --server --announce NODE/PORT --interface lo` announces a server,
 * `zerokit rpc --interface lo NODE/PORT method args` finds it and calls it; two announced servers
 * share the calls; a name nobody serves times out; bad names are usage errors.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Cli } from "../helpers.js";
import { randomPort } from "./util.js";

const SERVICE = "./dist/examples/service.js";
const LO = { ZSYS_INTERFACE: "lo" };

describe("zerokit rpc by name", () => {
  test("--announce serves by name; NODE/PORT calls it", { timeout: 30_000 }, async () => {
    const beacon = String(randomPort());
    const common = ["--interface", "lo", "--beacon-port", beacon];
    const server = new Cli(["rpc", "--server", "--announce", "calc-node/calc", ...common, SERVICE], "zerokit", {
      env: LO,
    });
    try {
      await server.waitFor("stderr", /announced as calc-node\/calc on lo/);
      await server.waitFor("stdout", /serving/);
      const call = new Cli(["rpc", "-j", ...common, "calc-node/calc", "add", "1", "2"], "zerokit", { env: LO });
      const { code } = await call.exited;
      assert.equal(code, 0, call.stderr);
      assert.equal(call.stdout.trim(), "3");
      assert.match(call.stderr, /looking for "calc-node\/calc" on lo/);
      // Listing the methods works by name too.
      const list = new Cli(["rpc", ...common, "calc-node/calc"], "zerokit", { env: LO });
      assert.equal((await list.exited).code, 0, list.stderr);
      assert.match(list.stdout, /add/);
    } finally {
      await server.stop();
    }
    assert.deepEqual(await server.exited, { code: 0, signal: null });
  });

  test("a name nobody serves fails after --timeout; a malformed name or flag is a usage error", {
    timeout: 20_000,
  }, async () => {
    const beacon = String(randomPort());
    const nobody = new Cli(
      ["rpc", "--interface", "lo", "--beacon-port", beacon, "--timeout", "0.5", "ghost/calc", "add"],
      "zerokit",
      { env: LO },
    );
    const { code } = await nobody.exited;
    assert.equal(code, 1);
    assert.match(nobody.stderr, /no service "ghost\/calc" found within 0.5s/);
    const bad = new Cli(["rpc", "--interface", "lo", "a/b/c", "add"], "zerokit", { env: LO });
    assert.equal((await bad.exited).code, 2);
    assert.match(bad.stderr, /expected a service name NODE\/PORT/);
    const misplaced = new Cli(["rpc", "--announce", "a/b", "tcp://127.0.0.1:1", "add"], "zerokit", { env: LO });
    assert.equal((await misplaced.exited).code, 2);
    assert.match(misplaced.stderr, /--announce is for a server/);
  });
});
