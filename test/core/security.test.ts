/**
 * CURVE security: Z85, keys, certificate files (the real pyzmq 24 and czmq 4.2 files in
 * test/fixtures/certs, and texts written from the format), the security option, and the ZAP
 * authenticator with real CURVE sockets over tcp and ipc.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import * as zmq from "zeromq";
import { PeerSet } from "../../src/core/peers.js";
import { checkClientSecurity, checkServerSecurity } from "../../src/core/security/index.js";
import {
  AuthenticationError,
  Authenticator,
  CertificateError,
  type ClientSecurity,
  clientSocketOptions,
  Dealer,
  formatCertificate,
  generateKeyPair,
  InvalidArgumentError,
  onHandshakeFailure,
  parseCertificate,
  publicKeyOf,
  type Refusal,
  readCertificate,
  readPublicKeys,
  serverSocketOptions,
  writeCertificates,
  z85Decode,
  z85Encode,
} from "../../src/index.js";
import { repoRoot } from "../helpers.js";
import { echoRouter } from "./echo-router.js";

const T = { timeout: 20_000 };
/**
 * Far longer than any handshake, so an error that arrives is from the handshake events, and
 * shorter than a test's timeout, so an EAUTH that never comes fails its assertion (as a timeout)
 * instead of hanging the test.
 */
const CALL_TIMEOUT = 8_000;
const certs = join(repoRoot, "test", "fixtures", "certs");
const scratch = mkdtempSync(join(tmpdir(), "zk-security-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe("z85 and keys", () => {
  test("Z85 matches RFC 32's example and round-trips", () => {
    const bytes = Uint8Array.from([0x86, 0x4f, 0xd2, 0x6f, 0xb5, 0x59, 0xf7, 0x5b]);
    assert.equal(z85Encode(bytes), "HelloWorld");
    assert.deepEqual([...z85Decode("HelloWorld")], [...bytes]);
    for (let n = 0; n < 64; n += 4) {
      const random = Uint8Array.from({ length: n }, (_, i) => (i * 97 + n * 31) & 0xff);
      assert.deepEqual([...z85Decode(z85Encode(random))], [...random]);
    }
    assert.equal(z85Encode(new Uint8Array([255, 255, 255, 255])), "%nSc0");
  });

  test("Z85 rejects bad lengths, characters and overflowing groups", () => {
    assert.throws(() => z85Encode(new Uint8Array(3)), InvalidArgumentError);
    assert.throws(() => z85Decode("Hell"), InvalidArgumentError);
    assert.throws(() => z85Decode("Hell\u00e9"), InvalidArgumentError);
    assert.throws(() => z85Decode("Hel o"), InvalidArgumentError);
    assert.throws(() => z85Decode("%nSc1"), /2\^32/);
  });

  test("generateKeyPair gives 40-character Z85 keys whose public half publicKeyOf derives", () => {
    const pair = generateKeyPair();
    assert.equal(pair.publicKey.length, 40);
    assert.equal(pair.secretKey.length, 40);
    assert.equal(z85Decode(pair.secretKey).length, 32);
    assert.equal(publicKeyOf(pair.secretKey), pair.publicKey);
    assert.equal(publicKeyOf(z85Decode(pair.secretKey)), pair.publicKey);
    assert.notEqual(generateKeyPair().publicKey, pair.publicKey);
  });
});

describe("certificates", () => {
  test("reads the certificates pyzmq 24's zmq.auth.create_certificates wrote", async () => {
    const pub = await readCertificate(join(certs, "pyzmq-client.key"));
    const secret = await readCertificate(join(certs, "pyzmq-client.key_secret"));
    assert.equal(pub.publicKey, secret.publicKey);
    assert.equal(pub.secretKey, undefined);
    assert.equal(publicKeyOf(secret.secretKey!), secret.publicKey);
    // pyzmq writes metadata (unquoted) into the secret file only.
    assert.deepEqual(
      [...secret.metadata],
      [
        ["name", "alice"],
        ["role", "client app"],
      ],
    );
    assert.equal(pub.metadata.size, 0);
  });

  test("reads the certificates czmq 4.2's zcert_save wrote (quoted metadata in both files)", async () => {
    const pub = await readCertificate(join(certs, "czmq-client.cert"));
    const secret = await readCertificate(join(certs, "czmq-client.cert_secret"));
    assert.equal(pub.publicKey, secret.publicKey);
    assert.equal(publicKeyOf(secret.secretKey!), pub.publicKey);
    assert.deepEqual(
      [...pub.metadata],
      [
        ["name", "czmq client"],
        ["email", "ops@example.org"],
      ],
    );
    assert.deepEqual([...secret.metadata], [...pub.metadata]);
  });

  test("tolerates comments, blank lines, CRLF, tabs, single quotes and other indentation", () => {
    const pair = generateKeyPair();
    const text = [
      "\uFEFF# hand-written",
      "",
      "metadata   # trailing comment",
      "\tname = 'say \"hi\"'",
      "  bare = value with spaces # comment",
      "",
      "curve",
      `  public-key = "${pair.publicKey}"   # the key`,
      "  # secret below",
      `  secret-key = '${pair.secretKey}'`,
      "",
    ].join("\r\n");
    const cert = parseCertificate(text);
    assert.equal(cert.publicKey, pair.publicKey);
    assert.equal(cert.secretKey, pair.secretKey);
    assert.equal(cert.metadata.get("bare"), "value with spaces");
    assert.equal(cert.metadata.get("name"), 'say "hi"');
  });

  test("a key outside the curve section is not a key", () => {
    const { publicKey } = generateKeyPair();
    assert.throws(
      () => parseCertificate(`metadata\n    public-key = "${publicKey}"\n`),
      (error: unknown) =>
        error instanceof CertificateError && error.code === "ECERT" && /no "curve" section/.test(error.message),
    );
  });

  test("bad files fail with a CertificateError that names the file and the problem", async () => {
    const a = generateKeyPair();
    const b = generateKeyPair();
    const cases: [string, RegExp][] = [
      ["", /no "curve" section/],
      ['curve\n    public-key = "short"\n', /line 2: public-key is not 40 Z85 characters/],
      [`curve\n    public-key = "${a.publicKey}"\n    public-key = "${b.publicKey}"\n`, /appears twice/],
      [`curve\n    public-key = "${a.publicKey}"\n    secret-key = "${b.secretKey}"\n`, /does not belong/],
      [`curve\n    public-key = "${a.publicKey}\n`, /unterminated/],
      [`curve\n    public-key = "${a.publicKey}" junk\n`, /text after/],
    ];
    for (const [text, problem] of cases) {
      assert.throws(
        () => parseCertificate(text, "x.key"),
        (error: unknown) => error instanceof CertificateError && error.file === "x.key" && problem.test(error.message),
        text,
      );
    }
    await assert.rejects(readCertificate(join(scratch, "missing.key")), (error: unknown) => {
      return error instanceof CertificateError && error.code === "ECERT" && /missing\.key/.test(error.message);
    });
    await assert.rejects(readCertificate(scratch), /not a regular file/);
  });

  test("writeCertificates writes pyzmq's layout: name.key, name.key_secret (0600), same lines as pyzmq", async () => {
    const keys = generateKeyPair();
    const dir = join(scratch, "written");
    const written = await writeCertificates(dir, "server", { keys, metadata: { name: "svc" } });
    assert.equal(written.publicFile, join(dir, "server.key"));
    assert.equal(written.secretFile, join(dir, "server.key_secret"));
    assert.equal(statSync(written.secretFile).mode & 0o777, 0o600);
    const pub = await readCertificate(written.publicFile);
    const secret = await readCertificate(written.secretFile);
    assert.deepEqual([pub.publicKey, pub.secretKey], [keys.publicKey, undefined]);
    assert.deepEqual([secret.publicKey, secret.secretKey], [keys.publicKey, keys.secretKey]);
    assert.equal(secret.metadata.get("name"), "svc");
    // Everything but the date line matches pyzmq's file line for line (keys aside).
    const shape = (text: string) =>
      text
        .split("\n")
        .slice(1)
        .map((line) => line.replace(/"[^"]{40}"/, '"KEY"'));
    assert.deepEqual(
      shape(readFileSync(written.publicFile, "utf8")),
      shape(readFileSync(join(certs, "pyzmq-server.key"), "utf8")),
    );
    assert.deepEqual(
      shape(formatCertificate({ publicKey: keys.publicKey, secretKey: keys.secretKey })),
      shape(readFileSync(join(certs, "pyzmq-server.key_secret"), "utf8")),
    );
    const fresh = await writeCertificates(dir, "fresh");
    assert.equal(publicKeyOf(fresh.secretKey), fresh.publicKey);
  });

  test("writeCertificates refuses bad names, mismatched pairs and unwritable metadata", async () => {
    const a = generateKeyPair();
    const b = generateKeyPair();
    await assert.rejects(writeCertificates(scratch, "../x"), InvalidArgumentError);
    await assert.rejects(
      writeCertificates(scratch, "x", { keys: { publicKey: a.publicKey, secretKey: b.secretKey } }),
      /options\.keys/,
    );
    await assert.rejects(writeCertificates(scratch, "x", { metadata: { "bad name": "v" } }), /metadata name/);
    await assert.rejects(writeCertificates(scratch, "x", { metadata: { n: "a\nb" } }), /one line/);
  });

  test("readPublicKeys takes every public certificate of a directory and reports the bad ones", async () => {
    const { keys, errors } = await readPublicKeys(certs);
    const expected = await Promise.all(
      ["pyzmq-client.key", "pyzmq-server.key", "czmq-client.cert", "czmq-server.cert"].map(
        async (file) => (await readCertificate(join(certs, file))).publicKey,
      ),
    );
    assert.deepEqual([...keys].sort(), expected.sort());
    assert.deepEqual(errors, []);
    const dir = join(scratch, "mixed");
    await writeCertificates(dir, "ok");
    await writeCertificates(dir, "broken");
    unlinkSync(join(dir, "broken.key"));
    const { writeFileSync } = await import("node:fs");
    writeFileSync(join(dir, "broken.key"), "not a certificate\n");
    const mixed = await readPublicKeys(dir);
    assert.equal(mixed.keys.size, 1);
    assert.equal(mixed.errors.length, 1);
    assert.match(mixed.errors[0]!.message, /broken\.key/);
    await assert.rejects(readPublicKeys(join(scratch, "nope")), CertificateError);
  });
});

describe("security options", () => {
  const server = generateKeyPair();
  const client = generateKeyPair();

  test("map onto ZeroMQ's socket options; a client without keys gets a fresh pair", () => {
    assert.deepEqual(serverSocketOptions({ curve: { secretKey: server.secretKey } }), {
      curveServer: true,
      curveSecretKey: server.secretKey,
    });
    assert.deepEqual(serverSocketOptions(undefined), {});
    assert.deepEqual(clientSocketOptions({ curve: { serverKey: z85Decode(server.publicKey), ...client } }), {
      curveServerKey: server.publicKey,
      curvePublicKey: client.publicKey,
      curveSecretKey: client.secretKey,
    });
    const a = clientSocketOptions({ curve: { serverKey: server.publicKey } });
    const b = clientSocketOptions({ curve: { serverKey: server.publicKey } });
    assert.notEqual(a.curvePublicKey, b.curvePublicKey);
    assert.equal(publicKeyOf(a.curveSecretKey!), a.curvePublicKey);
  });

  test("reject bad keys, half pairs and mismatched pairs with EINVAL naming the option", () => {
    const bad: [() => void, RegExp][] = [
      [() => checkServerSecurity("security", { curve: {} }), /security\.curve\.secretKey/],
      [() => checkServerSecurity("security", { curve: { secretKey: "short" } }), /security\.curve\.secretKey/],
      [() => checkServerSecurity("security", { curve: { secretKey: new Uint8Array(31) } }), /secretKey/],
      [
        () => checkServerSecurity("security", { curve: { secretKey: server.secretKey, publicKey: client.publicKey } }),
        /security\.curve\.publicKey/,
      ],
      [() => checkServerSecurity("security", { authenticator: {} }), /security\.authenticator/],
      [() => checkServerSecurity("security", "curve"), /security/],
      [() => checkClientSecurity("security", { curve: {} }), /security\.curve\.serverKey/],
      [
        () => checkClientSecurity("security", { curve: { serverKey: server.publicKey, publicKey: client.publicKey } }),
        /both publicKey and secretKey/,
      ],
      [
        () =>
          checkClientSecurity("security", {
            curve: { serverKey: server.publicKey, publicKey: server.publicKey, secretKey: client.secretKey },
          }),
        /security\.curve\.publicKey/,
      ],
    ];
    for (const [fn, name] of bad) {
      assert.throws(fn, (error: unknown) => error instanceof InvalidArgumentError && name.test(error.message));
    }
    checkServerSecurity("security", { curve: { secretKey: z85Decode(server.secretKey), publicKey: server.publicKey } });
    checkClientSecurity("security", { curve: { serverKey: server.publicKey, ...client } });
  });

  test("Authenticator options are validated", () => {
    assert.throws(() => new Authenticator({ allow: ["300.1.1.1"] }), /options\.allow entry/);
    assert.throws(() => new Authenticator({ deny: ["10.0.0.0/33"] }), /options\.deny entry/);
    assert.throws(() => new Authenticator({ allow: "127.0.0.1" as unknown as string[] }), /options\.allow/);
    assert.throws(() => new Authenticator({ curve: { keys: ["nope"] } }), /key/);
    assert.throws(() => new Authenticator({ curve: { watch: true } }), /options\.curve\.watch/);
    assert.throws(() => new Authenticator({ onRefusal: 1 as unknown as () => void }), /options\.onRefusal/);
  });
});

/** One request through a one-peer PeerSet: the reply, or the error the peer's handshake failed with. */
async function ask(endpoint: string, security: ClientSecurity | undefined, text: string): Promise<string> {
  await using peers = new PeerSet({ socket: (options) => new Dealer({ ...options, linger: 0 }) });
  const peer = peers.add(endpoint, security ? { security } : {});
  let work = { fail: (_error: Error) => {} };
  try {
    return await new Promise<string>((resolve, reject) => {
      work = { fail: reject };
      peer.track(work);
      peer.socket.send(text).catch(reject);
      peer.socket.receive({ timeout: CALL_TIMEOUT }).then(([frame]) => resolve(String(frame)), reject);
    });
  } finally {
    peer.untrack(work);
  }
}

/** Resolves once `check()` holds, re-checked whenever `poke` is called. */
function until(check: () => boolean): { done: Promise<void>; poke: () => void } {
  let resolve = () => {};
  const done = new Promise<void>((r) => {
    resolve = r;
  });
  const poke = () => {
    if (check()) resolve();
  };
  return { done, poke };
}

function isAuth(reason?: RegExp) {
  return (error: unknown) =>
    error instanceof AuthenticationError && error.code === "EAUTH" && (!reason || reason.test(error.message));
}

for (const transport of ["tcp", "ipc"] as const) {
  describe(`CURVE and the authenticator over ${transport}`, () => {
    const serverKeys = generateKeyPair();
    const allowed = generateKeyPair();
    const stranger = generateKeyPair();
    const toServer = (own?: { publicKey: string; secretKey: string }): ClientSecurity => ({
      curve: { serverKey: serverKeys.publicKey, ...own },
    });

    test("an allowed key is served; an unlisted key gets EAUTH and its request never arrives", T, async () => {
      const refusals: Refusal[] = [];
      await using auth = new Authenticator({
        curve: { keys: [allowed.publicKey] },
        onRefusal: (r) => refusals.push(r),
      });
      await using server = await echoRouter(transport, { curve: serverKeys, authenticator: auth });
      await assert.rejects(ask(server.endpoint, toServer(stranger), "from stranger"), isAuth(/ZAP status 400/));
      await assert.rejects(ask(server.endpoint, toServer(), "from anonymous"), isAuth());
      assert.equal(await ask(server.endpoint, toServer(allowed), "from friend"), "from friend");
      // The refused requests were never delivered: the first thing the server saw is the friend's.
      assert.deepEqual(server.seen, ["from friend"]);
      assert.equal(refusals.length, 2);
      assert.equal(refusals[0]!.clientKey, stranger.publicKey);
      assert.equal(refusals[0]!.reason, "unknown key");
      if (transport === "tcp") assert.equal(refusals[0]!.address, "127.0.0.1");
      assert.deepEqual(auth.stats, { allowed: 1, refused: 2, malformed: 0, reloads: 0 });
      assert.equal(auth.recentRefusals.length, 2);
    });

    test("a wrong server key and a plaintext client are refused with EAUTH", T, async () => {
      await using auth = new Authenticator({ curve: "any" });
      await using server = await echoRouter(transport, { curve: serverKeys, authenticator: auth });
      const serverSide: AuthenticationError[] = [];
      const both = until(() => serverSide.length >= 2);
      const stop = onHandshakeFailure(server.router.raw, (error) => {
        serverSide.push(error);
        both.poke();
      });
      const wrong = { curve: { serverKey: stranger.publicKey, ...allowed } };
      await assert.rejects(ask(server.endpoint, wrong, "wrong key"), isAuth());
      await assert.rejects(ask(server.endpoint, undefined, "plaintext"), isAuth());
      assert.equal(await ask(server.endpoint, toServer(), "any key"), "any key");
      assert.deepEqual(server.seen, ["any key"]);
      await both.done; // the server saw both failed handshakes too
      assert.ok(serverSide.every((error) => error instanceof AuthenticationError));
      stop();
    });

    test("a CURVE server without an authenticator accepts any client key (libzmq's default)", T, async () => {
      await using server = await echoRouter(transport, { curve: { secretKey: z85Decode(serverKeys.secretKey) } });
      // The previous test's authenticator was disposed, which waits until libzmq has freed the
      // ZAP endpoint: this handshake's request cannot reach the closed handler.
      const hello = await ask(server.endpoint, toServer(stranger), "hello");
      assert.equal(hello, "hello");
    });

    test("the directory allowlist picks up a new certificate without a restart", T, async () => {
      const dir = mkdtempSync(join(scratch, "allow-"));
      await writeCertificates(dir, "old-client");
      await using auth = new Authenticator({ curve: { directory: dir }, onRefusal: () => {} });
      await using server = await echoRouter(transport, { curve: serverKeys, authenticator: auth });
      const newcomer = generateKeyPair();
      await assert.rejects(ask(server.endpoint, toServer(newcomer), "too early"), isAuth());
      await writeCertificates(dir, "newcomer", { keys: newcomer });
      assert.equal(await ask(server.endpoint, toServer(newcomer), "welcome"), "welcome");
      // Removal counts after reload() (a known key skips the directory check).
      unlinkSync(join(dir, "newcomer.key"));
      await auth.reload();
      await assert.rejects(ask(server.endpoint, toServer(newcomer), "revoked"), isAuth());
      assert.deepEqual(server.seen, ["welcome"]);
    });

    test("a watched directory drops a removed certificate by itself", T, async () => {
      const dir = mkdtempSync(join(scratch, "watch-"));
      const member = generateKeyPair();
      await writeCertificates(dir, "member", { keys: member });
      let sizes: ((keys: number) => void) | undefined;
      await using auth = new Authenticator({
        curve: { directory: dir, watch: true },
        onRefusal: () => {},
        onReload: (keys) => sizes?.(keys),
      });
      await using server = await echoRouter(transport, { curve: serverKeys, authenticator: auth });
      assert.equal(await ask(server.endpoint, toServer(member), "in"), "in");
      const emptied = new Promise<void>((resolve) => {
        sizes = (keys) => {
          if (keys === 0) resolve();
        };
      });
      unlinkSync(join(dir, "member.key"));
      await emptied;
      await assert.rejects(ask(server.endpoint, toServer(member), "out"), isAuth());
    });

    test("two authenticators in one context keep their own allowlists (ZAP domains)", T, async () => {
      const keysB = generateKeyPair();
      const clientB = generateKeyPair();
      const quiet = { onRefusal: () => {} };
      await using authA = new Authenticator({ curve: { keys: [allowed.publicKey] }, ...quiet });
      await using authB = new Authenticator({ curve: { keys: [clientB.publicKey] }, ...quiet });
      await using a = await echoRouter(transport, { curve: serverKeys, authenticator: authA });
      await using b = await echoRouter(transport, { curve: keysB, authenticator: authB });
      const toB = (own: typeof clientB) => ({ curve: { serverKey: keysB.publicKey, ...own } });
      assert.equal(await ask(a.endpoint, toServer(allowed), "a"), "a");
      assert.equal(await ask(b.endpoint, toB(clientB), "b"), "b");
      await assert.rejects(ask(a.endpoint, toServer(clientB), "x"), isAuth());
      await assert.rejects(ask(b.endpoint, toB(allowed), "y"), isAuth());
      // A server whose authenticator closed refuses everyone rather than letting everyone in.
      // (authA still serves the context, so the ZAP socket stays and answers 400 for B's domain.)
      await authB.close();
      await assert.rejects(ask(b.endpoint, toB(clientB), "z"), isAuth());
      assert.equal(await ask(a.endpoint, toServer(allowed), "still"), "still");
      // With no authenticator left the ZAP socket is gone; the servers still refuse (zapEnforceDomain).
      // Awaited, as close() asks: until libzmq's reaper has released the closed socket's endpoint,
      // a handshake can still send its ZAP request there, which libzmq drops with the socket's
      // pipes without failing the handshake (the client would wait ZMQ_HANDSHAKE_IVL, 30 s).
      await authA.close();
      await assert.rejects(ask(a.endpoint, toServer(allowed), "gone"), isAuth());
    });
  });
}

describe("address lists (tcp)", () => {
  const serverKeys = generateKeyPair();
  const client = { curve: { serverKey: serverKeys.publicKey } };

  test("a denied address gets EAUTH; the allow list admits only what it lists", T, async () => {
    const refusals: Refusal[] = [];
    const onRefusal = (r: Refusal) => refusals.push(r);
    {
      await using auth = new Authenticator({ curve: "any", deny: ["127.0.0.0/8"], onRefusal });
      await using server = await echoRouter("tcp", { curve: serverKeys, authenticator: auth });
      await assert.rejects(ask(server.endpoint, client, "denied"), isAuth());
      assert.deepEqual(server.seen, []);
    }
    {
      await using auth = new Authenticator({ curve: "any", allow: ["10.0.0.0/8", "::1"], onRefusal });
      await using server = await echoRouter("tcp", { curve: serverKeys, authenticator: auth });
      await assert.rejects(ask(server.endpoint, client, "not listed"), isAuth());
    }
    {
      await using auth = new Authenticator({ curve: "any", allow: ["127.0.0.1"], deny: ["10.1.2.3"], onRefusal });
      await using server = await echoRouter("tcp", { curve: serverKeys, authenticator: auth });
      assert.equal(await ask(server.endpoint, client, "listed"), "listed");
    }
    assert.deepEqual(
      refusals.map((r) => [r.address, r.reason]),
      [
        ["127.0.0.1", "address denied"],
        ["127.0.0.1", "address not allowed"],
      ],
    );
  });

  test("an authenticator without curve filters plaintext clients by address", T, async () => {
    await using auth = new Authenticator({ deny: ["127.0.0.1"], onRefusal: () => {} });
    await using server = await echoRouter("tcp", { authenticator: auth });
    await assert.rejects(ask(server.endpoint, undefined, "plain"), isAuth());
    assert.deepEqual(server.seen, []);
  });
});

describe("the ZAP handler", () => {
  test("malformed ZAP requests are answered or dropped, and the handler keeps serving", T, async () => {
    const serverKeys = generateKeyPair();
    const errors: Error[] = [];
    await using auth = new Authenticator({ curve: "any", onError: (e) => errors.push(e), onRefusal: () => {} });
    await using server = await echoRouter("tcp", { curve: serverKeys, authenticator: auth });
    // A hostile in-process client of the ZAP endpoint, speaking garbage.
    await using zap = new Dealer({ linger: 0 });
    zap.connect("inproc://zeromq.zap.01");
    await zap.send(["not", "an", "envelope"]);
    await zap.send(["", "2.0", "r1", auth.domain, "1.2.3.4", "", "CURVE", Buffer.alloc(32)]);
    assert.deepEqual((await zap.receive()).map(String), ["", "1.0", "r1", "400", "malformed ZAP request", "", ""]);
    await zap.send(["", "1.0", "r2", auth.domain, "1.2.3.4", "", "CURVE", Buffer.alloc(5)]);
    assert.deepEqual((await zap.receive()).map(String).slice(3, 5), ["400", "malformed CURVE credentials"]);
    await zap.send(["", "1.0", "r3", auth.domain, "1.2.3.4", "", "PLAIN", "user", "pass"]);
    assert.deepEqual((await zap.receive()).map(String).slice(3, 5), ["400", "PLAIN is not supported"]);
    await zap.send(["", "1.0", "r4", "no-such-domain", "1.2.3.4", "", "CURVE", Buffer.alloc(32)]);
    assert.deepEqual((await zap.receive()).map(String).slice(3, 5), ["400", "unknown ZAP domain"]);
    await zap.send(["", "1.0", "r5", auth.domain, "1.2.3.4", "", "CURVE", Buffer.alloc(32)]);
    const ok = (await zap.receive()).map(String);
    assert.deepEqual(ok.slice(3, 6), ["200", "OK", z85Encode(Buffer.alloc(32))]);
    assert.equal(await ask(server.endpoint, { curve: { serverKey: serverKeys.publicKey } }, "alive"), "alive");
    assert.ok(auth.stats.malformed >= 3);
    assert.ok(errors.some((e) => /malformed ZAP request of 4 frames/.test(e.message)));
  });

  test("start() fails with EADDRINUSE when something else serves ZAP in the context", T, async () => {
    const context = new zmq.Context({ blocky: false });
    const other = new zmq.Router({ context, linger: 0 });
    await other.bind("inproc://zeromq.zap.01");
    const auth = new Authenticator({ context });
    await assert.rejects(auth.start(), (error: unknown) => (error as { code?: string }).code === "EADDRINUSE");
    auth.close();
    other.close();
  });

  test("an authenticator closed right after refused handshakes is replaced at once, many times over", T, async () => {
    // The handler closes its ZAP socket without unbind() (a worker-thread unbind racing the
    // pending receive aborted libzmq, pipe.cpp:355), so the next one meets the name still held
    // for a moment and must retry the bind rather than fail with EADDRINUSE.
    const serverKeys = generateKeyPair();
    const stranger = generateKeyPair();
    for (let round = 0; round < 20; round++) {
      const auth = new Authenticator({ curve: { keys: [] }, onRefusal: () => {} });
      const server = await echoRouter(round % 2 ? "ipc" : "tcp", { curve: serverKeys, authenticator: auth });
      const wrong = { curve: { serverKey: stranger.publicKey, ...stranger } };
      await assert.rejects(ask(server.endpoint, wrong, "wrong key"), isAuth());
      await assert.rejects(ask(server.endpoint, { curve: { serverKey: serverKeys.publicKey } }, "unlisted"), isAuth());
      server.close();
      auth.close();
    }
    await using last = new Authenticator({ curve: "any" });
    await last.start();
  });

  test("after close() settles the ZAP endpoint is free: no later handshake asks the closed handler", T, async () => {
    // libzmq frees a closed socket's inproc name later, in its reaper thread. Before close()
    // waited for that, 3-4% of binds made right after a close met the name still held, and a
    // handshake starting in that window sent its ZAP request to the dead socket and stalled.
    const context = new zmq.Context({ blocky: false });
    for (let round = 0; round < 500; round++) {
      const auth = new Authenticator({ context, curve: "any" });
      await auth.start();
      await auth.close();
      const probe = new zmq.Router({ context, linger: 0 });
      const gone = new Promise((resolve) => probe.events.on("end", resolve));
      try {
        await probe.bind("inproc://zeromq.zap.01");
      } finally {
        probe.close();
        await gone;
      }
    }
  });

  test("two authenticators may not share a domain; a closed one cannot start", T, async () => {
    await using a = new Authenticator({ domain: "shared", curve: "any" });
    await a.start();
    const b = new Authenticator({ domain: "shared", curve: "any" });
    await assert.rejects(b.start(), /options\.domain/);
    const closing = b.close();
    assert.equal(b.close(), closing, "close() is idempotent");
    await closing;
    await assert.rejects(b.start(), /closed/);
    // Closed while starting: its domain is given back once the start completes.
    const c = new Authenticator({ domain: "brief", curve: "any" });
    const starting = c.start();
    c.close();
    await starting;
    await using d = new Authenticator({ domain: "brief", curve: "any" });
    await d.start();
  });
});
