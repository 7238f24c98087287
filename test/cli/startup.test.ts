/**
 * What one command loads. A plain client call runs from the build's one-file CommonJS bundle
 * (dist/src/cli/call.cjs, see src/cli/call.ts) and loads no ES module of ours, nor zeromq.js (it
 * speaks ZMTP itself, src/cli/direct.ts); the bundle holds neither commander, nor the zeromq.js
 * client, nor what only a server or a flag needs. Any other call must not load the
 * RPC server, the state or ZRE code, the authenticator and certificate code, or tsx. The child
 * records the URL of every ES module it loads through a `module.register()` load hook (given in
 * NODE_OPTIONS) and, as it exits, every CommonJS file it required; the test reads both lists.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { RpcServer } from "../../src/rpc/index.js";
import { type Bin, repoRoot, runCli } from "../helpers.js";

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

/** The plain call's bundle. */
const BUNDLE = join(repoRoot, "dist", "src", "cli", "call.cjs");

/**
 * Left out of the bundle (loaded from dist/ if ever needed): a plain call is parsed by
 * src/cli/quick.ts, so neither commander nor the command's definition (flags, help) is needed,
 * and it is a client without flags, so neither the module loader and its checks, nor the
 * authenticator's policy, nor certificate files.
 */
const NOT_IN_THE_BUNDLE = [
  "/node_modules/commander/",
  "dist/src/cli/rpc.js",
  "dist/src/rpc/client.js",
  "dist/src/core/socket.js",
  "dist/src/cli/rpc-command.js",
  "dist/src/cli/load.js",
  "dist/src/cli/exposure.js",
  "dist/src/state/",
  "dist/src/core/security/certificates.js",
  "dist/src/core/security/authenticator.js",
];

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
      [
        `import { appendFileSync } from "node:fs";`,
        `import { createRequire, register } from "node:module";`,
        `register(${JSON.stringify(hooks)}, { data: { log: process.env.ZK_TEST_LOADED } });`,
        `const required = createRequire(import.meta.url).cache;`,
        `process.on("exit", () => appendFileSync(process.env.ZK_TEST_LOADED, Object.keys(required).map((file) => "file://" + file + "\\n").join("")));`,
      ].join("\n"),
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

  /** Checks that a plain call ran from the bundle alone, over its own ZMTP: no zeromq.js. */
  function assertBundleOnly(modules: readonly string[]): void {
    // The lists saw the call's own files, so the empty lists below mean something.
    assert.ok(modules.includes(pathToFileURL(BUNDLE).href), "the bundle ran");
    assert.ok(modules.some((url) => url.includes("/node_modules/msgpackr/")));
    const bundle = pathToFileURL(BUNDLE).href;
    assertNone(
      modules.filter((url) => url !== bundle),
      ["/dist/src/", "/node_modules/zeromq/", "/node_modules/commander/", "/node_modules/tsx/"],
    );
  }

  it("the bundle of a plain call holds neither commander nor what only a server or a flag needs", () => {
    const bundled = readFileSync(BUNDLE, "utf8")
      .split("\n")
      .filter((line) => line.startsWith("// dist/"));
    assert.ok(bundled.includes("// dist/src/cli/direct.js"), "esbuild names each bundled module in a comment");
    assertNone(bundled, NOT_IN_THE_BUNDLE);
  });

  it("`zerokit rpc EP echo x` runs from the bundle alone", async () => {
    const ran = await loaded(["rpc", endpoint, "echo", "x"]);
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(ran.stdout, "'x'\n");
    assertBundleOnly(ran.modules);
  });

  it("a call with a flag is parsed by commander, and still loads none of the rest", async () => {
    const ran = await loaded(["rpc", "-j", endpoint, "echo", '"x"']);
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(ran.stdout, "'x'\n");
    assert.ok(ran.modules.some((url) => url.includes("/node_modules/commander/")));
    assertNone(ran.modules, NOT_FOR_A_CALL);
  });

  it("a plain call the direct path cannot make (a listing) runs on zeromq.js, the bundle first", async () => {
    const ran = await loaded(["rpc", endpoint]);
    assert.equal(ran.code, 0, ran.stderr);
    assert.match(ran.stdout, /^\[startup\]\n/);
    assert.equal(ran.stderr, `connecting to "${endpoint}"\n`);
    assert.ok(ran.modules.includes(pathToFileURL(BUNDLE).href));
    assert.ok(ran.modules.some((url) => url.includes("/node_modules/zeromq/")));
    assertNone(ran.modules, NOT_FOR_A_CALL);
  });

  it("`zerorpc EP echo x` too", async () => {
    const ran = await loaded([endpoint, "echo", "x"], "zerorpc");
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(ran.stdout, "'x'\n");
    assertBundleOnly(ran.modules);
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
