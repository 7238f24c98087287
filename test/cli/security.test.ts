/**
 * CURVE from the command line, with real processes: `zerokit keygen` writes certificates the
 * library reads; `rpc --server --curve-secret --allow DIR` serves a client that has a listed key
 * and refuses the others; `state serve` with security serves a state client that has a key. A
 * refused client runs with a timeout of an hour, so its exit with EAUTH shows the refusal came
 * from the handshake, promptly, and not from a timeout. Bad key arguments exit 2 with one line.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { readCertificate } from "../../src/index.js";
import { anchorJs, Cli, ipcEndpoint, rpc, runCli, startServer } from "../helpers.js";

const HOUR = "3600";
let dir = "";
const keys = (name: string) => ({ pub: join(dir, `${name}.key`), secret: join(dir, `${name}.key_secret`) });
const clients = () => join(dir, "clients");

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "zk-cli-sec-"));
  for (const [name, where] of [
    ["server", dir],
    ["alice", join(dir, "clients")],
    ["mallory", dir],
  ] as const) {
    const run = await runCli(["keygen", "--dir", where, name]);
    assert.equal(run.code, 0, run.stderr);
  }
});
after(() => rmSync(dir, { recursive: true, force: true }));

const alice = () => ({ pub: join(clients(), "alice.key"), secret: join(clients(), "alice.key_secret") });

describe("zerokit keygen", () => {
  test("writes a pair readCertificate reads, and prints the public key", { timeout: 20_000 }, async () => {
    const run = await runCli(["keygen", "--dir", join(dir, "kg"), "node1"]);
    assert.equal(run.code, 0, run.stderr);
    const pub = await readCertificate(join(dir, "kg", "node1.key"));
    const secret = await readCertificate(join(dir, "kg", "node1.key_secret"));
    assert.equal(run.stdout.trim(), pub.publicKey);
    assert.equal(secret.publicKey, pub.publicKey);
    assert.equal(pub.secretKey, undefined);
    assert.equal(typeof secret.secretKey, "string");
    assert.equal(statSync(join(dir, "kg", "node1.key_secret")).mode & 0o777, 0o600);
  });

  test("a name with a slash is a usage error", { timeout: 20_000 }, async () => {
    const run = await runCli(["keygen", "--dir", dir, "a/b"]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^zerokit keygen: "a\/b" is not a file name\n$/);
  });
});

describe("zerokit rpc over CURVE", () => {
  for (const transport of ["tcp", "ipc"] as const) {
    test(`--allow DIR serves a listed client and refuses the others with EAUTH (${transport})`, {
      timeout: 60_000,
    }, async () => {
      const bind = transport === "tcp" ? "tcp://127.0.0.1:0" : ipcEndpoint("sec");
      const server = await startServer([
        "--bind",
        bind,
        "--curve-secret",
        keys("server").secret,
        "--allow",
        clients(),
        anchorJs,
      ]);
      try {
        assert.doesNotMatch(server.cli.stderr, /without authentication/);
        const ok = await rpc([
          "--curve-server-key",
          keys("server").pub,
          "--curve-secret",
          alice().secret,
          server.address,
          "add",
          "1",
          "2",
        ]);
        assert.equal(ok.code, 0, ok.stderr);
        assert.equal(ok.stdout.trim(), "'12'");

        // The server key as Z85 text works as well as its file.
        const z85 = (await readCertificate(keys("server").pub)).publicKey;
        const again = await rpc([
          "--curve-server-key",
          z85,
          "--curve-secret",
          alice().secret,
          "-j",
          server.address,
          "add",
          "1",
          "2",
        ]);
        assert.equal(again.stdout.trim(), "3", again.stderr);

        for (const client of [
          ["--curve-server-key", keys("server").pub, "--curve-secret", keys("mallory").secret], // unlisted
          ["--curve-server-key", keys("server").pub], // anonymous
          [], // plaintext
        ]) {
          const refused = await rpc(["--timeout", HOUR, ...client, server.address, "add", "1", "2"], 30_000);
          assert.equal(refused.code, 1, `${client.join(" ")}: ${refused.stderr}`);
          assert.match(refused.stderr, /AuthenticationError \(EAUTH\)/);
          assert.equal(refused.stdout, "");
        }
      } finally {
        await server.cli.stop();
      }
    });
  }

  test("bad key and certificate arguments: one line, exit 2", { timeout: 60_000 }, async () => {
    const cases: [string[], RegExp][] = [
      [["--server", "--curve-secret", join(dir, "missing"), "--allow", "any", anchorJs], /--curve-secret .*missing/],
      [["--server", "--curve-secret", keys("server").pub, "--allow", "any", anchorJs], /public certificate/],
      [["--server", "--curve-secret", keys("server").secret, anchorJs], /--curve-secret needs --allow/],
      [["--server", "--allow", clients(), anchorJs], /--allow needs --curve-secret/],
      [["--server", "--curve-secret", keys("server").secret, "--allow", "nope", anchorJs], /--allow "nope"/],
      [["--curve-server-key", "not-a-key", "tcp://127.0.0.1:1", "add"], /--curve-server-key not-a-key/],
      [["--curve-secret", alice().secret, "tcp://127.0.0.1:1", "add"], /--curve-secret needs --curve-server-key/],
      [["--curve-server-key", keys("server").pub, "--bind", "tcp://127.0.0.1:0", "add"], /a client that binds/],
      [["--allow", "any", "tcp://127.0.0.1:1", "add"], /--allow is for a server/],
      [["--server", "--curve-server-key", keys("server").pub, anchorJs], /--curve-server-key is for a client/],
    ];
    for (const [args, pattern] of cases) {
      const run = await rpc(args);
      assert.equal(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
      const lines = run.stderr.trimEnd().split("\n");
      assert.equal(lines.length, 1, run.stderr);
      assert.match(lines[0] as string, pattern);
    }
  });

  test("a non-loopback bind warns 'without authentication' only without security", { timeout: 30_000 }, async () => {
    // An interface that does not exist: the bind fails, nothing listens anywhere.
    const bind = "tcp://zk-no-such-interface:4242";
    const plain = await rpc(["--server", "--bind", bind, anchorJs]);
    assert.match(plain.stderr, /reachable from other machines without authentication/);
    const secure = ["--curve-secret", keys("server").secret];
    const listed = await rpc(["--server", "--bind", bind, ...secure, "--allow", clients(), anchorJs]);
    assert.equal(listed.code, 1, listed.stderr);
    assert.doesNotMatch(listed.stderr, /warning: .*reachable/);
    const any = await rpc(["--server", "--bind", bind, ...secure, "--allow", "any", anchorJs]);
    assert.match(any.stderr, /--allow any lets every client/);
    assert.doesNotMatch(any.stderr, /without authentication/);
  });
});

describe("zerokit state over CURVE", () => {
  test("state serve with --curve-secret/--allow serves a state client with a key", { timeout: 60_000 }, async () => {
    const serve = new Cli([
      "state",
      "serve",
      "--bind",
      ipcEndpoint("sec-state"),
      "--curve-secret",
      keys("server").secret,
      "--allow",
      clients(),
    ]);
    try {
      const address = (await serve.waitFor("stdout", /^state server on (\S+)$/m))[1] as string;
      const key = ["--curve-server-key", keys("server").pub, "--curve-secret", alice().secret];
      const set = await runCli(["state", "set", "-c", address, ...key, "greeting", '"hi"']);
      assert.equal(set.code, 0, set.stderr);
      const get = await runCli(["state", "get", "-c", address, ...key, "greeting"]);
      assert.equal(get.stdout.trim(), '"hi"', get.stderr);
      const ping = await runCli(["state", "ping", ...key, address]);
      assert.equal(ping.code, 0, ping.stderr);

      const refused = await runCli(["state", "get", "-c", address, "--timeout", HOUR, "greeting"], "zerokit", 30_000);
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(refused.stderr, /AuthenticationError \(EAUTH\)/);
      assert.equal(refused.stdout, "");
    } finally {
      await serve.stop();
    }
  });
});
