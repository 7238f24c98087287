/**
 * CURVE on the RPC layer (issue 13): RpcServer with an authenticator, RpcClient per peer, a
 * refused handshake as EAUTH from the socket's events (never the call timeout), and the event
 * sockets. Every test runs over tcp and ipc; address lists only apply to tcp.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import {
  AuthenticationError,
  Authenticator,
  ClosedError,
  clientSocketOptions,
  Dealer,
  generateKeyPair,
  InvalidArgumentError,
  type KeyPair,
  onHandshakeFailure,
  type Refusal,
  writeCertificates,
} from "../../src/index.js";
import { type PeerStatus, Publisher, Puller, Pusher, RpcClient, RpcServer, Subscriber } from "../../src/rpc/index.js";
import { freshEndpoint, networkTransports } from "../helpers.js";

const T = { timeout: 20_000 };
/** Far longer than the test's own timeout: an error that arrives came from the handshake events. */
const CALL_TIMEOUT = 60_000;
const scratch = mkdtempSync(join(tmpdir(), "zk-rpc-security-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** A service that counts what it ran, so a refused client provably ran nothing. */
class Service {
  runs = 0;
  constructor(readonly who = "server") {}
  echo(x: unknown) {
    this.runs++;
    return x;
  }
  whoami() {
    this.runs++;
    return this.who;
  }
  *range(n: number) {
    this.runs++;
    for (let i = 0; i < n; i++) yield i;
  }
}

/** Collects refusals, and resolves when the next one arrives. */
function refusals() {
  const seen: Refusal[] = [];
  let wake: (() => void) | undefined;
  return {
    seen,
    onRefusal: (refusal: Refusal) => {
      seen.push(refusal);
      wake?.();
    },
    next: () =>
      new Promise<void>((resolve) => {
        wake = resolve;
      }),
  };
}

interface Secured {
  server: RpcServer;
  service: Service;
  auth: Authenticator;
  keys: KeyPair;
  address: string;
  failures: AuthenticationError[];
  [Symbol.asyncDispose](): Promise<void>;
}

async function securedServer(
  transport: "tcp" | "ipc",
  allowed: string[],
  extra: { who?: string; deny?: string[]; onRefusal?: (r: Refusal) => void; directory?: string } = {},
): Promise<Secured> {
  const keys = generateKeyPair();
  const auth = new Authenticator({
    curve: extra.directory ? { keys: allowed, directory: extra.directory } : { keys: allowed },
    deny: extra.deny,
    onRefusal: extra.onRefusal ?? (() => undefined),
  });
  const service = new Service(extra.who);
  const failures: AuthenticationError[] = [];
  const server = new RpcServer(service, {
    security: { curve: { secretKey: keys.secretKey }, authenticator: auth },
    onHandshakeFailure: (error) => failures.push(error),
  });
  const address = await server.bind(freshEndpoint(transport));
  return {
    server,
    service,
    auth,
    keys,
    address,
    failures,
    async [Symbol.asyncDispose]() {
      await server[Symbol.asyncDispose]();
      auth.close();
    },
  };
}

function isEauth(error: unknown): boolean {
  return error instanceof AuthenticationError && error.code === "EAUTH";
}

for (const transport of networkTransports) {
  describe(`CURVE RPC over ${transport}`, () => {
    test("an allowed key is served, streams included", T, async () => {
      const me = generateKeyPair();
      await using s = await securedServer(transport, [me.publicKey]);
      await using client = new RpcClient({
        timeout: CALL_TIMEOUT,
        security: { curve: { serverKey: s.keys.publicKey, ...me } },
      });
      client.connect(s.address);
      assert.equal(await client.call("echo", ["secret"]), "secret");
      assert.deepEqual(await client.call("range", [5]), [0, 1, 2, 3, 4]);
      const items: number[] = [];
      for await (const n of client.call<number[]>("range", [300])) items.push(n);
      assert.equal(items.length, 300);
      assert.equal(s.auth.stats.allowed, 1);
    });

    test("an unlisted key gets EAUTH from the handshake, and the server never runs the method", T, async () => {
      const listed = generateKeyPair();
      const stranger = generateKeyPair();
      const log = refusals();
      await using s = await securedServer(transport, [listed.publicKey], { onRefusal: log.onRefusal });
      await using client = new RpcClient({
        timeout: CALL_TIMEOUT,
        security: { curve: { serverKey: s.keys.publicKey, ...stranger } },
      });
      client.connect(s.address);
      const started = performance.now();
      await assert.rejects(client.call("echo", ["let me in"]), isEauth);
      const first = performance.now() - started;
      // Later calls to the refused peer fail at once too (libzmq never retries it).
      const again = performance.now();
      await assert.rejects(client.call("echo", ["again"]), isEauth);
      console.log(
        `${transport}: EAUTH after ${first.toFixed(1)} ms, then ${(performance.now() - again).toFixed(2)} ms`,
      );
      assert.equal(s.service.runs, 0);
      assert.equal(log.seen.length, 1);
      assert.equal(log.seen[0]?.clientKey, stranger.publicKey);
      assert.equal(log.seen[0]?.reason, "unknown key");
      if (transport === "tcp") assert.equal(log.seen[0]?.address, "127.0.0.1");
      // The server goes on serving everyone else.
      await using friend = new RpcClient({ security: { curve: { serverKey: s.keys.publicKey, ...listed } } });
      friend.connect(s.address);
      assert.equal(await friend.call("echo", [1]), 1);
      assert.equal(s.service.runs, 1);
    });

    test(
      "a refusal shows on the client's status stream; reconnecting makes a fresh socket, refused again",
      T,
      async () => {
        const stranger = generateKeyPair();
        await using s = await securedServer(transport, []);
        await using client = new RpcClient({
          timeout: CALL_TIMEOUT,
          security: { curve: { serverKey: s.keys.publicKey, ...stranger } },
        });
        const statuses = client.status();
        for (let round = 0; round < 2; round++) {
          client.connect(s.address);
          const call = client.call("echo", [round]);
          let status: PeerStatus | undefined;
          do status = (await statuses.next()).value as PeerStatus;
          while (status.type !== "handshake-failed");
          assert.ok(isEauth(status.error));
          await assert.rejects(call, isEauth);
          assert.equal(client.disconnect(s.address), true);
        }
        await statuses.return?.();
        assert.equal(s.service.runs, 0);
      },
    );

    test("a wrong server key and a plaintext client are refused with EAUTH", T, async () => {
      const me = generateKeyPair();
      await using s = await securedServer(transport, [me.publicKey]);
      await using wrongKey = new RpcClient({
        timeout: CALL_TIMEOUT,
        security: { curve: { serverKey: generateKeyPair().publicKey, ...me } },
      });
      wrongKey.connect(s.address);
      await assert.rejects(wrongKey.call("echo", [1]), isEauth);
      await using plain = new RpcClient({ timeout: CALL_TIMEOUT });
      plain.connect(s.address);
      await assert.rejects(plain.call("echo", [1]), (error: unknown) => {
        assert.ok(isEauth(error));
        assert.match((error as Error).message, /security mismatch|handshake/);
        return true;
      });
      assert.equal(s.service.runs, 0);
      // The server heard of both, though its authenticator never saw them.
      assert.ok(s.failures.length >= 1);
      assert.ok(s.failures.every(isEauth));
    });

    test("one client reaches two servers with different keys", T, async () => {
      const me = generateKeyPair();
      await using a = await securedServer(transport, [me.publicKey], { who: "A" });
      await using b = await securedServer(transport, [me.publicKey], { who: "B" });
      assert.notEqual(a.keys.publicKey, b.keys.publicKey);
      await using client = new RpcClient({ timeout: CALL_TIMEOUT });
      client.connect(a.address, { security: { curve: { serverKey: a.keys.publicKey, ...me } } });
      client.connect(b.address, { security: { curve: { serverKey: b.keys.publicKey, ...me } } });
      const seen = new Set<string>();
      // Both answer (round-robin once both handshakes are done).
      while (seen.size < 2) seen.add(await client.call<string>("whoami"));
      assert.deepEqual([...seen].sort(), ["A", "B"]);
    });

    test(
      "with one live and one refused peer, calls sent to the refused one fail at once and later calls go to the live one",
      T,
      async () => {
        const me = generateKeyPair();
        await using live = await securedServer(transport, [me.publicKey], { who: "live" });
        await using closed = await securedServer(transport, [], { who: "closed" });
        await using client = new RpcClient({ timeout: CALL_TIMEOUT });
        client.connect(live.address, { security: { curve: { serverKey: live.keys.publicKey, ...me } } });
        client.connect(closed.address, { security: { curve: { serverKey: closed.keys.publicKey, ...me } } });
        // Sent before any handshake: round-robin over both, so half go to the refusing server.
        const first = await Promise.allSettled(Array.from({ length: 4 }, () => client.call<string>("whoami")));
        const refused = first.filter((r) => r.status === "rejected");
        assert.equal(refused.length, 2);
        assert.ok(refused.every((r) => isEauth((r as PromiseRejectedResult).reason)));
        assert.deepEqual(
          first.filter((r) => r.status === "fulfilled").map((r) => (r as PromiseFulfilledResult<string>).value),
          ["live", "live"],
        );
        const later = await Promise.all(Array.from({ length: 6 }, () => client.call<string>("whoami")));
        assert.deepEqual(later, Array(6).fill("live"));
        assert.equal(closed.service.runs, 0);
      },
    );

    test("disconnect fails only that peer's calls", T, async () => {
      const me = generateKeyPair();
      let releaseB: (() => void) | undefined;
      const arrived: string[] = [];
      let bothArrived: (() => void) | undefined;
      const hold = (who: string) => () => {
        arrived.push(who);
        if (arrived.length === 2) bothArrived?.();
        return who === "A" ? new Promise(() => undefined) : new Promise<string>((r) => (releaseB = () => r(who)));
      };
      const keysA = generateKeyPair();
      const keysB = generateKeyPair();
      await using authA = new Authenticator({ curve: { keys: [me.publicKey] } });
      await using authB = new Authenticator({ curve: { keys: [me.publicKey] } });
      await using serverA = new RpcServer(
        { hold: hold("A"), whoami: () => "A" },
        { security: { curve: keysA, authenticator: authA } },
      );
      await using serverB = new RpcServer(
        { hold: hold("B"), whoami: () => "B" },
        { security: { curve: keysB, authenticator: authB } },
      );
      const addressA = await serverA.bind(freshEndpoint(transport));
      const addressB = await serverB.bind(freshEndpoint(transport));
      await using client = new RpcClient({ timeout: CALL_TIMEOUT });
      client.connect(addressA, { security: { curve: { serverKey: keysA.publicKey, ...me } } });
      client.connect(addressB, { security: { curve: { serverKey: keysB.publicKey, ...me } } });
      const seen = new Set<string>();
      while (seen.size < 2) seen.add(await client.call<string>("whoami"));
      const reached = new Promise<void>((resolve) => (bothArrived = resolve));
      const calls = [client.call("hold"), client.call("hold")];
      await reached;
      assert.equal(client.disconnect(addressA), true);
      assert.equal(client.disconnect(addressA), false);
      releaseB?.();
      // Which call went where is the round-robin's business: one fails, the other is B's answer.
      const settled = await Promise.allSettled(calls);
      const failed = settled.filter((r) => r.status === "rejected").map((r) => (r as PromiseRejectedResult).reason);
      assert.equal(failed.length, 1);
      assert.ok(failed[0] instanceof ClosedError);
      assert.deepEqual(
        settled.filter((r) => r.status === "fulfilled").map((r) => (r as PromiseFulfilledResult<unknown>).value),
        ["B"],
      );
      // Every later call goes to B.
      assert.deepEqual(await Promise.all([client.call("whoami"), client.call("whoami")]), ["B", "B"]);
    });

    test("heartbeats flow over CURVE while a call runs", T, async () => {
      const me = generateKeyPair();
      const keys = generateKeyPair();
      await using auth = new Authenticator({ curve: { keys: [me.publicKey] } });
      let release: (() => void) | undefined;
      await using server = new RpcServer(
        { wait: () => new Promise<string>((resolve) => (release = () => resolve("done"))) },
        { heartbeat: 50, security: { curve: keys, authenticator: auth } },
      );
      const address = await server.bind(freshEndpoint(transport));
      let beats = 0;
      await using client = new RpcClient({
        heartbeat: 50,
        timeout: CALL_TIMEOUT,
        security: { curve: { serverKey: keys.publicKey, ...me } },
        onEvent: (direction, name) => {
          // Held until the server has beaten a few times: the call outlives many heartbeat periods.
          if (direction === "in" && name === "_zpc_hb" && ++beats === 4) release?.();
        },
      });
      client.connect(address);
      assert.equal(await client.call("wait"), "done");
      assert.ok(beats >= 4);
    });

    test("the directory allowlist picks up a new certificate", T, async () => {
      const directory = join(scratch, `${transport}-clients`);
      mkdirSync(directory, { recursive: true });
      await writeCertificates(directory, "someone-else");
      const me = generateKeyPair();
      const log = refusals();
      await using s = await securedServer(transport, [], { directory, onRefusal: log.onRefusal });
      const security = { curve: { serverKey: s.keys.publicKey, ...me } };
      {
        await using client = new RpcClient({ timeout: CALL_TIMEOUT, security });
        client.connect(s.address);
        await assert.rejects(client.call("echo", [1]), isEauth);
      }
      await writeCertificates(directory, "me", { keys: me });
      await using client = new RpcClient({ timeout: CALL_TIMEOUT, security });
      client.connect(s.address);
      assert.equal(await client.call("echo", ["now known"]), "now known");
      assert.equal(log.seen.length, 1);
    });

    test("Pusher to Puller over CURVE: an allowed key is delivered, an unlisted one never", T, async () => {
      const me = generateKeyPair();
      const stranger = generateKeyPair();
      const keys = generateKeyPair();
      const log = refusals();
      await using auth = new Authenticator({ curve: { keys: [me.publicKey] }, onRefusal: log.onRefusal });
      const got: unknown[] = [];
      let delivered: (() => void) | undefined;
      await using puller = new Puller(
        {
          note: (x: unknown) => {
            got.push(x);
            delivered?.();
          },
        },
        { security: { curve: keys, authenticator: auth } },
      );
      const address = await puller.bind(freshEndpoint(transport));
      await using intruder = new Pusher({ security: { curve: { serverKey: keys.publicKey, ...stranger } } });
      const refused = log.next();
      intruder.connect(address);
      void intruder.emit("note", ["intruder"]).catch(() => undefined);
      await refused;
      await using pusher = new Pusher({ security: { curve: { serverKey: keys.publicKey, ...me } } });
      pusher.connect(address);
      const arrived = new Promise<void>((resolve) => (delivered = resolve));
      await pusher.emit("note", ["friend"]);
      await arrived;
      assert.deepEqual(got, ["friend"]);
      assert.equal(log.seen[0]?.clientKey, stranger.publicKey);
    });
  });
}

describe("CURVE RPC over tcp only", () => {
  test("IP deny refuses a listed key from a denied address", T, async () => {
    const me = generateKeyPair();
    const log = refusals();
    await using s = await securedServer("tcp", [me.publicKey], { deny: ["127.0.0.0/8"], onRefusal: log.onRefusal });
    await using client = new RpcClient({
      timeout: CALL_TIMEOUT,
      security: { curve: { serverKey: s.keys.publicKey, ...me } },
    });
    client.connect(s.address);
    await assert.rejects(client.call("echo", [1]), isEauth);
    assert.equal(log.seen[0]?.reason, "address denied");
    assert.equal(log.seen[0]?.address, "127.0.0.1");
    assert.equal(s.service.runs, 0);
  });

  test(
    "by default a server warns once about a client that keeps failing its handshake, not ten times a second",
    T,
    async () => {
      const warnings: string[] = [];
      const warn = console.warn;
      console.warn = (...args: unknown[]) => void warnings.push(args.map(String).join(" "));
      try {
        const keys = generateKeyPair();
        await using auth = new Authenticator({ curve: "any" });
        await using server = new RpcServer({}, { name: "noisy", security: { curve: keys, authenticator: auth } });
        const address = await server.bind(freshEndpoint("tcp"));
        await using wrong = new Dealer({
          linger: 0,
          ...clientSocketOptions({ curve: { serverKey: generateKeyPair().publicKey } }),
        });
        let failures = 0;
        const retried = new Promise<void>((resolve) =>
          onHandshakeFailure(wrong.raw, () => {
            if (++failures === 5) resolve();
          }),
        );
        wrong.connect(address);
        await retried;
        const ours = warnings.filter((line) => line.includes("rpc server noisy"));
        assert.equal(ours.length, 1);
        assert.match(ours[0] as string, /handshake/);
      } finally {
        console.warn = warn;
      }
    },
  );

  test("a bound client is the CURVE server of the workers that connect to it", T, async () => {
    const worker = generateKeyPair();
    const broker = generateKeyPair();
    await using auth = new Authenticator({ curve: { keys: [worker.publicKey] } });
    await using client = new RpcClient({ timeout: CALL_TIMEOUT });
    const address = await client.bind(freshEndpoint("tcp"), { security: { curve: broker, authenticator: auth } });
    await using server = new RpcServer({ whoami: () => "worker" });
    server.connect(address, { security: { curve: { serverKey: broker.publicKey, ...worker } } });
    assert.equal(await client.call("whoami"), "worker");
    assert.equal(auth.stats.allowed, 1);
  });
});

describe("security options", () => {
  const bad = [
    ["a string", "curve"],
    ["no secret key", { curve: {} }],
    ["a short key", { curve: { secretKey: "abc" } }],
    ["not an Authenticator", { authenticator: {} }],
  ] as const;
  for (const [what, security] of bad) {
    test(`RpcServer refuses a security option with ${what}, naming it`, () => {
      assert.throws(
        () => new RpcServer({}, { security: security as never }),
        (error: unknown) => error instanceof InvalidArgumentError && /security/.test(error.message),
      );
    });
  }

  test("RpcClient refuses bad client security in the constructor and in connect, bad server security in bind", async () => {
    const invalid = (error: unknown) => error instanceof InvalidArgumentError && /security/.test(error.message);
    assert.throws(() => new RpcClient({ security: { curve: {} } as never }), invalid);
    await using client = new RpcClient();
    assert.throws(() => client.connect("tcp://127.0.0.1:1", { security: { curve: { serverKey: "short" } } }), invalid);
    const { publicKey } = generateKeyPair();
    assert.throws(
      () => client.connect("tcp://127.0.0.1:1", { security: { curve: { serverKey: publicKey, publicKey } } }),
      invalid,
    );
    await assert.rejects(client.bind("tcp://127.0.0.1:*", { security: { curve: {} } as never }), invalid);
    assert.equal(client.disconnect("tcp://127.0.0.1:9"), false);
  });

  test("event sockets refuse bad security, whichever side it claims", () => {
    const invalid = (error: unknown) => error instanceof InvalidArgumentError && /security/.test(error.message);
    assert.throws(() => new Pusher({ security: { curve: { serverKey: "short" } } }), invalid);
    assert.throws(() => new Puller({}, { security: { curve: { secretKey: "short" } } }), invalid);
    assert.throws(() => new Publisher({ security: "curve" as never }), invalid);
    assert.throws(() => new Subscriber({}, { security: { authenticator: {} } as never }), invalid);
  });

  test("Publisher to Subscriber over CURVE: the bound Subscriber is the CURVE server", T, async () => {
    const me = generateKeyPair();
    const keys = generateKeyPair();
    await using auth = new Authenticator({ curve: { keys: [me.publicKey] } });
    let delivered: ((x: unknown) => void) | undefined;
    const arrived = new Promise<unknown>((resolve) => (delivered = resolve));
    await using subscriber = new Subscriber(
      { note: (x: unknown) => delivered?.(x) },
      { security: { curve: keys, authenticator: auth } },
    );
    const address = await subscriber.bind(freshEndpoint("tcp"));
    await using publisher = new Publisher({ security: { curve: { serverKey: keys.publicKey, ...me } } });
    publisher.connect(address);
    // PUB drops what it sends before the subscription arrives: publish until one is delivered.
    let done = false;
    void arrived.then(() => {
      done = true;
    });
    while (!done) {
      await publisher.emit("note", ["encrypted"]);
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal(await arrived, "encrypted");
    assert.equal(auth.stats.allowed, 1);
  });
});
