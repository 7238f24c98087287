/** The peer set: one socket per peer, statuses, picking, removal, resolvers, over tcp and ipc. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type Peer, PeerSet, type PeerStatus, staticResolver } from "../../src/core/peers.js";
import {
  AuthenticationError,
  Authenticator,
  ClosedError,
  Dealer,
  generateKeyPair,
  InvalidArgumentError,
  type KeyPair,
} from "../../src/index.js";
import { echoRouter } from "./echo-router.js";

const T = { timeout: 20_000 };

function dealerSet(extra: Partial<ConstructorParameters<typeof PeerSet<Dealer>>[0]> = {}) {
  return new PeerSet<Dealer>({ socket: (security) => new Dealer({ ...security, linger: 0 }), ...extra });
}

/** Sends `text` to the peer `set.pick()` chooses, tracked on it; resolves with the server's name. */
function ask(set: PeerSet<Dealer>, text: string): { peer: Peer<Dealer>; reply: Promise<string> } {
  const peer = set.pick();
  const reply = new Promise<string>((resolve, reject) => {
    const work = { fail: reject };
    peer.track(work);
    peer.socket.send(text).catch(reject);
    peer.socket.receive({ timeout: 30_000 }).then(([name]) => {
      peer.untrack(work);
      resolve(String(name));
    }, reject);
  });
  return { peer, reply };
}

/** The next status of `type` (for `endpoint`, if given) from a status stream. */
async function next(
  stream: AsyncIterator<PeerStatus>,
  type: PeerStatus["type"],
  endpoint?: string,
): Promise<PeerStatus> {
  for (;;) {
    const { value, done } = await stream.next();
    if (done) throw new Error(`the status stream ended before ${type}`);
    if (value.type === type && (endpoint === undefined || value.endpoint === endpoint)) return value;
  }
}

/** Waits until every endpoint has reported `"connected"`, in whatever order. */
async function allConnected(stream: AsyncIterator<PeerStatus>, endpoints: string[]): Promise<void> {
  const waiting = new Set(endpoints);
  while (waiting.size > 0) waiting.delete((await next(stream, "connected")).endpoint);
}

for (const transport of ["tcp", "ipc"] as const) {
  describe(`PeerSet over ${transport}`, () => {
    test("one set reaches two CURVE servers with different keys, each with its own security", T, async () => {
      const keysA = generateKeyPair();
      const keysB = generateKeyPair();
      const client = generateKeyPair();
      await using authA = new Authenticator({ curve: { keys: [client.publicKey] } });
      await using authB = new Authenticator({ curve: { keys: [client.publicKey] } });
      await using a = await echoRouter(transport, { curve: keysA, authenticator: authA }, "A");
      await using b = await echoRouter(transport, { curve: keysB, authenticator: authB }, "B");
      await using set = dealerSet();
      const stream = set.status();
      const own = (server: KeyPair) => ({ security: { curve: { serverKey: server.publicKey, ...client } } });
      set.add(a.endpoint, own(keysA));
      set.add(b.endpoint, own(keysB));
      await allConnected(stream, [a.endpoint, b.endpoint]);
      const names: string[] = [];
      for (let i = 0; i < 4; i++) names.push(await ask(set, `call ${i}`).reply);
      assert.deepEqual(names.sort(), ["A", "A", "B", "B"]);
      assert.equal(a.seen.length, 2);
      assert.equal(b.seen.length, 2);
    });

    test("statuses: added, connected, disconnected, removed; a refusal says why", T, async () => {
      const keys = generateKeyPair();
      await using auth = new Authenticator({ curve: { keys: [] }, onRefusal: () => {} });
      const open = await echoRouter(transport, {}, "open");
      await using guarded = await echoRouter(transport, { curve: keys, authenticator: auth }, "guarded");
      await using set = dealerSet();
      const stream = set.status();
      set.add(open.endpoint);
      assert.deepEqual(await stream.next(), { value: { type: "added", endpoint: open.endpoint }, done: false });
      await next(stream, "connected", open.endpoint);
      assert.equal(set.get(open.endpoint)?.state, "connected");
      const refused = set.add(guarded.endpoint, { security: { curve: { serverKey: keys.publicKey } } });
      const failed = await next(stream, "handshake-failed", guarded.endpoint);
      assert.ok(failed.type === "handshake-failed" && failed.error instanceof AuthenticationError);
      assert.equal(failed.error.code, "EAUTH");
      assert.equal(refused.state, "refused");
      assert.equal(refused.failure, failed.error);
      open.close();
      await next(stream, "disconnected", open.endpoint);
      assert.equal(set.get(open.endpoint)?.connected, false);
      assert.equal(set.remove(open.endpoint), true);
      assert.deepEqual(await next(stream, "removed"), { type: "removed", endpoint: open.endpoint });
      assert.equal(set.remove(open.endpoint), false);
      set.close();
      // Closing removes the rest, then the stream ends.
      assert.deepEqual(await stream.next(), { value: { type: "removed", endpoint: refused.endpoint }, done: false });
      assert.equal((await stream.next()).done, true);
    });

    test("removing a peer fails only that peer's pending work", T, async () => {
      await using a = await echoRouter(transport, {}, "A");
      await using b = await echoRouter(transport, {}, "B");
      await using set = dealerSet();
      const stream = set.status();
      const peerA = set.add(a.endpoint);
      const peerB = set.add(b.endpoint);
      await allConnected(stream, [a.endpoint, b.endpoint]);
      const failures: [string, Error][] = [];
      for (const peer of [peerA, peerB]) {
        for (let i = 0; i < 3; i++) peer.track({ fail: (error) => failures.push([peer.endpoint, error]) });
      }
      let aborted: unknown;
      peerA.signal.addEventListener("abort", () => {
        aborted = peerA.signal.reason;
      });
      set.remove(a.endpoint);
      assert.equal(failures.length, 3);
      assert.ok(failures.every(([endpoint, error]) => endpoint === a.endpoint && error instanceof ClosedError));
      assert.ok(aborted instanceof ClosedError);
      assert.equal(peerA.state, "removed");
      assert.equal(peerB.pending, 3);
      assert.equal(peerB.signal.aborted, false);
      // The survivor still serves, and every call goes to it.
      for (let i = 0; i < 2; i++) assert.equal(await ask(set, "after").reply, "B");
      // Work tracked on a removed peer fails at once.
      let late: Error | undefined;
      peerA.track({ fail: (error) => (late = error) });
      assert.ok(late instanceof ClosedError);
      set.close();
      assert.equal(failures.length, 6);
    });

    test("a refused handshake fails the work waiting on that peer with EAUTH", T, async () => {
      const keys = generateKeyPair();
      await using auth = new Authenticator({ curve: { keys: [] }, onRefusal: () => {} });
      await using guarded = await echoRouter(transport, { curve: keys, authenticator: auth }, "guarded");
      await using set = dealerSet({ defaults: { security: { curve: { serverKey: keys.publicKey } } } });
      set.add(guarded.endpoint);
      const { reply } = ask(set, "let me in");
      await assert.rejects(reply, (error: unknown) => error instanceof AuthenticationError && error.code === "EAUTH");
      // Every peer refused: pick() says why instead of choosing one, and new work fails at once.
      assert.throws(() => set.pick(), AuthenticationError);
      let late: Error | undefined;
      set.get(guarded.endpoint)!.track({ fail: (error) => (late = error) });
      assert.ok(late instanceof AuthenticationError);
      assert.deepEqual(guarded.seen, []);
    });

    test(
      "closeRefused closes a refused peer's socket at once, with linger 0; without it the socket stays",
      T,
      async () => {
        const keys = generateKeyPair();
        await using auth = new Authenticator({ curve: { keys: [] }, onRefusal: () => {} });
        await using guarded = await echoRouter(transport, { curve: keys, authenticator: auth }, "guarded");
        const security = { curve: { serverKey: keys.publicKey } };
        for (const closeRefused of [true, false]) {
          const lingers: number[] = [];
          await using set = new PeerSet<Dealer>({
            socket: (options) => new LingerRecorder(lingers, { ...options }),
            closeRefused,
          });
          const statuses = set.status();
          const peer = set.add(guarded.endpoint, { security });
          // Queued before the refusal: it must not stay waiting on the socket.
          const queued = peer.socket.send("let me in");
          await next(statuses, "handshake-failed");
          assert.equal(peer.state, "refused");
          assert.equal(peer.socket.closed, closeRefused);
          if (closeRefused) {
            assert.deepEqual(lingers, [0]);
            await assert.rejects(peer.socket.send("again"), ClosedError);
          } else assert.deepEqual(lingers, []);
          await queued.catch(() => undefined);
          // The peer stays in the set, refused, until removed.
          assert.equal(set.get(guarded.endpoint), peer);
          assert.throws(() => set.pick(), AuthenticationError);
          assert.equal(set.remove(guarded.endpoint), true);
          assert.ok(peer.socket.closed);
        }
        assert.deepEqual(guarded.seen, []);
      },
    );
  });
}

/** A real DEALER that records its linger as it closes (a refused peer's must be 0). */
class LingerRecorder extends Dealer {
  readonly #lingers: number[];
  constructor(lingers: number[], options: ConstructorParameters<typeof Dealer>[0]) {
    super(options);
    this.#lingers = lingers;
  }
  override close(): void {
    if (!this.closed) this.#lingers.push(this.raw.linger);
    super.close();
  }
}

describe("PeerSet picking and bookkeeping", () => {
  test("pick goes round-robin over connected peers, skips suspected ones, then falls back", T, async () => {
    await using a = await echoRouter("tcp", {}, "A");
    await using b = await echoRouter("tcp", {}, "B");
    await using c = await echoRouter("tcp", {}, "C");
    await using set = dealerSet();
    const stream = set.status();
    for (const server of [a, b, c]) set.add(server.endpoint);
    await allConnected(stream, [a.endpoint, b.endpoint, c.endpoint]);
    const endpoints = () => [0, 1, 2, 3, 4, 5].map(() => set.pick().endpoint);
    assert.deepEqual(new Set(endpoints()).size, 3);
    set.get(b.endpoint)!.suspect();
    assert.ok(!endpoints().includes(b.endpoint));
    set.get(a.endpoint)!.suspect(60_000);
    set.get(c.endpoint)!.suspect(0); // already over
    assert.deepEqual(new Set(endpoints()), new Set([c.endpoint]));
    set.get(c.endpoint)!.suspect();
    // All suspected: connected ones are still better than nothing.
    assert.equal(new Set(endpoints()).size, 3);
    set.get(b.endpoint)!.clearSuspicion();
    assert.deepEqual(new Set(endpoints()), new Set([b.endpoint]));
  });

  test("a peer still connecting is picked when none is connected; an empty set throws ClosedError", T, async () => {
    await using set = dealerSet();
    assert.throws(() => set.pick(), ClosedError);
    const server = await echoRouter("tcp", {}, "late");
    set.add(server.endpoint);
    assert.equal(set.pick().endpoint, server.endpoint);
    assert.equal(await ask(set, "queued").reply, "late");
    server.close();
  });

  test("a static resolver adds its peers; aborting follow removes what it added", T, async () => {
    await using a = await echoRouter("ipc", {}, "A");
    await using b = await echoRouter("ipc", {}, "B");
    const errors: Error[] = [];
    await using set = dealerSet({ onError: (error) => errors.push(error) });
    set.add(b.endpoint);
    await set.follow(staticResolver([a.endpoint, { endpoint: b.endpoint }, "bogus://x"]));
    assert.equal(set.size, 2);
    assert.equal(errors.length, 1);
    assert.match(errors[0]!.message, /bogus/);
    // A resolver that keeps going, stopped by its signal.
    const controller = new AbortController();
    const c = await echoRouter("ipc", {}, "C");
    const following = set.follow(
      {
        async *changes(signal) {
          yield { type: "add", endpoint: c.endpoint };
          yield { type: "remove", endpoint: a.endpoint };
          await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
        },
      },
      { signal: controller.signal },
    );
    const stream = set.status();
    await next(stream, "removed", a.endpoint);
    assert.deepEqual(
      set
        .peers()
        .map((p) => p.endpoint)
        .sort(),
      [b.endpoint, c.endpoint].sort(),
    );
    controller.abort();
    await following;
    assert.deepEqual(
      set.peers().map((p) => p.endpoint),
      [b.endpoint],
    );
    c.close();
  });

  test("options and limits are checked", T, async () => {
    assert.throws(() => new PeerSet(undefined as never), InvalidArgumentError);
    assert.throws(() => new PeerSet({} as never), /options\.socket/);
    assert.throws(() => dealerSet({ maxPeers: 0 }), /options\.maxPeers/);
    assert.throws(() => dealerSet({ defaults: { security: { curve: {} as never } } }), /serverKey/);
    await using set = dealerSet({ maxPeers: 1 });
    set.add("tcp://127.0.0.1:1");
    assert.throws(() => set.add("tcp://127.0.0.1:1"), /already in the set/);
    assert.throws(
      () => set.add("tcp://127.0.0.1:2"),
      (error: unknown) => (error as { code?: string }).code === "EPEERLIMIT",
    );
    assert.throws(() => set.add("nonsense"), /endpoint/);
    assert.throws(() => set.add("tcp://127.0.0.1:3", { security: { curve: { serverKey: "x" } } }), /serverKey/);
    assert.throws(() => set.get("tcp://127.0.0.1:1")!.suspect(-1), /durationMs/);
    await assert.rejects(set.follow({} as never), /resolver/);
    set.close();
    assert.throws(() => set.add("tcp://127.0.0.1:4"), ClosedError);
    assert.equal(set.size, 0);
  });

  test("a slow status consumer keeps only the newest statusBuffer statuses", T, async () => {
    await using set = dealerSet({ statusBuffer: 2 });
    const stream = set.status();
    for (let port = 1; port <= 4; port++) set.add(`tcp://127.0.0.1:${port}`);
    assert.deepEqual(
      [(await stream.next()).value, (await stream.next()).value].map((s: PeerStatus) => s.endpoint),
      ["tcp://127.0.0.1:3", "tcp://127.0.0.1:4"],
    );
    // An onStatus hook that throws is reported, and everyone else still hears.
    const errors: Error[] = [];
    await using loud = dealerSet({
      onStatus: () => {
        throw new Error("hook failed");
      },
      onError: (error) => errors.push(error),
    });
    const heard = loud.status();
    loud.add("tcp://127.0.0.1:5");
    assert.equal(((await heard.next()).value as PeerStatus).type, "added");
    assert.equal(errors.length, 1);
  });
});
