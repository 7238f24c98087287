/**
 * The one-way senders on the peer set: a Pusher or Publisher connects to each receiver with its
 * own socket and security, so one sender reaches receivers of different keys; a refused receiver
 * fails the emits that can only go to it with EAUTH; disconnect drops one receiver. tcp and ipc.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AuthenticationError, Authenticator, generateKeyPair, type KeyPair } from "../../src/index.js";
import { Publisher, Puller, Pusher, Subscriber } from "../../src/rpc/index.js";
import { freshEndpoint, networkTransports } from "../helpers.js";

const T = { timeout: 20_000 };

/** A receiver bound with its own CURVE keys, allowing `allowed`; `got` is what it received, in order. */
async function receiver(
  kind: "pull" | "sub",
  transport: "tcp" | "ipc",
  allowed: string[],
): Promise<{
  keys: KeyPair;
  address: string;
  got: string[];
  next(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}> {
  const keys = generateKeyPair();
  const auth = new Authenticator({ curve: { keys: allowed }, onRefusal: () => undefined });
  const got: string[] = [];
  let wake: (() => void) | undefined;
  const target = {
    note: (text: string) => {
      got.push(text);
      wake?.();
    },
  };
  const options = { security: { curve: keys, authenticator: auth } };
  const socket = kind === "pull" ? new Puller(target, options) : new Subscriber(target, options);
  const address = await socket.bind(freshEndpoint(transport));
  return {
    keys,
    address,
    got,
    next: () => new Promise<void>((resolve) => (wake = resolve)),
    async [Symbol.asyncDispose]() {
      await socket[Symbol.asyncDispose]();
      auth.close();
    },
  };
}

for (const transport of networkTransports) {
  describe(`event senders on the peer set over ${transport}`, () => {
    test("one Pusher reaches two Pullers of different keys; each event goes to one of them", T, async () => {
      const me = generateKeyPair();
      await using a = await receiver("pull", transport, [me.publicKey]);
      await using b = await receiver("pull", transport, [me.publicKey]);
      assert.notEqual(a.keys.publicKey, b.keys.publicKey);
      await using pusher = new Pusher();
      pusher.connect(a.address, { security: { curve: { serverKey: a.keys.publicKey, ...me } } });
      pusher.connect(b.address, { security: { curve: { serverKey: b.keys.publicKey, ...me } } });
      let n = 0;
      // Round-robin over the connected pullers: both receive once both handshakes are done.
      while (a.got.length === 0 || b.got.length === 0) {
        const delivered = Promise.race([a.next(), b.next()]);
        await pusher.emit("note", [`n${n++}`]);
        await delivered;
      }
      const all = [...a.got, ...b.got].sort();
      assert.equal(all.length, n);
      assert.equal(new Set(all).size, n, "no event was delivered twice");
    });

    test("a Pusher whose only Puller refuses it fails its emits with EAUTH; disconnect drops it", T, async () => {
      const stranger = generateKeyPair();
      await using guarded = await receiver("pull", transport, []);
      await using pusher = new Pusher({ security: { curve: { serverKey: guarded.keys.publicKey, ...stranger } } });
      pusher.connect(guarded.address);
      // The first emits may be queued before the handshake fails; later ones are refused at once.
      let refusal: unknown;
      while (refusal === undefined) {
        refusal = await pusher.emit("note", ["let me in"]).then(
          () => undefined,
          (error: unknown) => error,
        );
        await new Promise((resolve) => setImmediate(resolve));
      }
      assert.ok(refusal instanceof AuthenticationError && refusal.code === "EAUTH", String(refusal));
      assert.equal(pusher.disconnect(guarded.address), true);
      assert.equal(pusher.disconnect(guarded.address), false);
      assert.deepEqual(guarded.got, []);
    });

    test("one Publisher reaches two Subscribers of different keys, every event to both", T, async () => {
      const me = generateKeyPair();
      await using a = await receiver("sub", transport, [me.publicKey]);
      await using b = await receiver("sub", transport, [me.publicKey]);
      await using publisher = new Publisher();
      publisher.connect(a.address, { security: { curve: { serverKey: a.keys.publicKey, ...me } } });
      publisher.connect(b.address, { security: { curve: { serverKey: b.keys.publicKey, ...me } } });
      // PUB drops what it sends before a subscription arrives: publish until both hear one.
      while (a.got.length === 0 || b.got.length === 0) {
        await publisher.emit("note", ["warm-up"]);
        await new Promise((resolve) => setImmediate(resolve));
      }
      await publisher.emit("note", ["to both"]);
      // Warm-ups still in flight may arrive first: wait for this one on each side.
      for (const side of [a, b]) while (!side.got.includes("to both")) await side.next();
      assert.equal(a.got.at(-1), "to both");
      assert.equal(b.got.at(-1), "to both");
    });
  });
}
