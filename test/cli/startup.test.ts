/**
 * What one command loads. A plain client call must not load the RPC server, the state or ZRE
 * code, the authenticator and certificate code, or tsx: the child records the URL of every
 * module it loads through a `module.register()` load hook (given in NODE_OPTIONS), and the test
 * reads the list when the call is done.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { RpcServer } from "../../src/rpc/index.js";
import { type Bin, runCli } from "../helpers.js";

const HOOKS = `import { appendFileSync } from "node:fs";
let log;
export function initialize(data) { log = data.log; }
export async function load(url, context, next) {
  appendFileSync(log, url + "\\n");
  return next(url, context);
}
`;

/** Modules a plain call has no use for (paths under the repository, and tsx). */
const NOT_FOR_A_CALL = [
  "/dist/src/rpc/server.js",
  "/dist/src/rpc/introspect.js",
  "/dist/src/rpc/events.js",
  "/dist/src/state/",
  "/dist/src/zre/",
  "/dist/src/cli/state.js",
  "/dist/src/cli/zre.js",
  "/dist/src/core/security/authenticator.js",
  "/dist/src/core/security/certificates.js",
  "/dist/src/core/devices.js",
  "/dist/src/cli/load.js",
  "/node_modules/tsx/",
];

/**
 * A call without flags is parsed by src/cli/quick.ts: neither commander nor the command's
 * definition (flags, help) is loaded. A flag brings both back.
 */
const NOT_FOR_A_PLAIN_CALL = [...NOT_FOR_A_CALL, "/node_modules/commander/", "/dist/src/cli/rpc-command.js"];

describe("startup: a command loads only what it needs", { timeout: 60_000 }, () => {
  let dir: string;
  let server: RpcServer;
  let endpoint: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "zk-startup-"));
    writeFileSync(join(dir, "hooks.mjs"), HOOKS);
    const hooks = pathToFileURL(join(dir, "hooks.mjs")).href;
    writeFileSync(
      join(dir, "register.mjs"),
      `import { register } from "node:module";\nregister(${JSON.stringify(hooks)}, { data: { log: process.env.ZK_TEST_LOADED } });\n`,
    );
    server = new RpcServer({ echo: (x: unknown) => x }, { name: "startup" });
    endpoint = await server.bind("tcp://127.0.0.1:*");
  });

  after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs the CLI with the load hook; resolves with its output and the modules it loaded. */
  async function loaded(args: readonly string[], bin: Bin = "zerokit") {
    const log = join(dir, `loaded-${Math.random().toString(36).slice(2)}.txt`);
    writeFileSync(log, "");
    const register = pathToFileURL(join(dir, "register.mjs")).href;
    const ran = await runCli(args, bin, 30_000, { NODE_OPTIONS: `--import=${register}`, ZK_TEST_LOADED: log });
    return { ...ran, modules: readFileSync(log, "utf8").split("\n").filter(Boolean) };
  }

  function assertNone(modules: readonly string[], unwanted: readonly string[]): void {
    const found = modules.filter((url) => unwanted.some((part) => url.includes(part)));
    assert.deepEqual(found, [], "modules that should not have been loaded");
  }

  it("`zerokit rpc EP echo x` loads the client and none of the rest", async () => {
    const ran = await loaded(["rpc", endpoint, "echo", "x"]);
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(ran.stdout, "'x'\n");
    // The hook saw the call's own modules, so an empty list below means something.
    assert.ok(ran.modules.some((url) => url.endsWith("/dist/src/rpc/client.js")));
    assertNone(ran.modules, NOT_FOR_A_PLAIN_CALL);
  });

  it("a call with a flag is parsed by commander, and still loads none of the rest", async () => {
    const ran = await loaded(["rpc", "-j", endpoint, "echo", '"x"']);
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(ran.stdout, "'x'\n");
    assert.ok(ran.modules.some((url) => url.includes("/node_modules/commander/")));
    assertNone(ran.modules, NOT_FOR_A_CALL);
  });

  it("`zerorpc EP echo x` too", async () => {
    const ran = await loaded([endpoint, "echo", "x"], "zerorpc");
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(ran.stdout, "'x'\n");
    assert.ok(ran.modules.some((url) => url.endsWith("/dist/src/rpc/client.js")));
    assertNone(ran.modules, NOT_FOR_A_PLAIN_CALL);
  });

  it("`zerokit --help` lists every command without loading what they run", async () => {
    const ran = await loaded(["--help"]);
    assert.equal(ran.code, 0, ran.stderr);
    for (const name of ["rpc", "state", "keygen", "peers", "gossip-hub"])
      assert.match(ran.stdout, new RegExp(`\\n  ${name} `));
    assert.ok(ran.modules.some((url) => url.endsWith("/dist/src/cli/state.js")));
    assertNone(ran.modules, ["/dist/src/rpc/server.js", "/dist/src/state/", "/dist/src/zre/", "/node_modules/tsx/"]);
  });
});
