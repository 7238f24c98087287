/**
 * The hostile-input fuzz (issue 11's categories, seeded by test/fuzz/random.ts) against an
 * authenticated server, from clients that have no allowed key: a plaintext DEALER and one with
 * an unlisted CURVE key. None of it reaches the server (no method runs, nothing is decoded) and
 * neither gets a single frame back, while an allowed client is served throughout.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { packWire } from "../../src/core/codec.js";
import {
  type AuthenticationError,
  Authenticator,
  clientSocketOptions,
  Dealer,
  generateKeyPair,
  onHandshakeFailure,
} from "../../src/index.js";
import { RpcClient, RpcServer } from "../../src/rpc/index.js";
import { BATCH_MARKER } from "../../src/rpc/protocol.js";
import { fuzzMessageCount, fuzzSeed, Random } from "../fuzz/random.js";
import { freshEndpoint, networkTransports } from "../helpers.js";

const MESSAGES = fuzzMessageCount(300);
const SEED = fuzzSeed();
const EMPTY = Buffer.alloc(0);
const NAMES = ["echo", "_zerorpc_inspect", "_zpc_more", "_zpc_hb", "_zerokit_cancel", "__proto__", ""];

/** One hostile message of a random category. */
function hostile(r: Random): Buffer[] {
  const id = r.bytes(16);
  switch (r.int(6)) {
    case 0:
      return [EMPTY, r.bytes(1 + r.int(64))];
    case 1: {
      const whole = packWire([{ message_id: id, v: 3 }, "echo", [r.bytes(r.int(20))]]);
      return [EMPTY, whole.subarray(0, r.int(whole.length))];
    }
    case 2:
      return [EMPTY, packWire([{ message_id: id, v: 3, response_to: r.bytes(8) }, r.pick(NAMES), [r.int(1e6)]])];
    case 3:
      return [BATCH_MARKER, packWire([{ message_id: id, v: 3 }, "echo", [1]]), r.bytes(5)];
    case 4:
      return [
        EMPTY,
        packWire([{ message_id: id, v: 3 }, r.pick(NAMES), Array.from({ length: r.int(5) }, () => r.int(9))]),
      ];
    default:
      // A well-formed call: the one thing an honest server would answer.
      return [EMPTY, packWire([{ message_id: id, v: 3 }, "echo", ["answer me"]])];
  }
}

for (const transport of networkTransports) {
  test(`fuzz without a key gets no answer over ${transport} (seed ${SEED}, ${MESSAGES} per client)`, {
    timeout: 60_000,
  }, async () => {
    console.log(`security fuzz: seed ${SEED} (ZK_FUZZ_SEED replays it), ${MESSAGES} messages per client`);
    const r = new Random(SEED);
    const friend = generateKeyPair();
    const keys = generateKeyPair();
    await using auth = new Authenticator({ curve: { keys: [friend.publicKey] }, onRefusal: () => undefined });
    let runs = 0;
    await using server = new RpcServer(
      {
        echo: (x: unknown) => {
          runs++;
          return x;
        },
      },
      { security: { curve: keys, authenticator: auth }, onHandshakeFailure: () => undefined },
    );
    const address = await server.bind(freshEndpoint(transport));
    await using client = new RpcClient({ security: { curve: { serverKey: keys.publicKey, ...friend } } });
    client.connect(address);
    assert.equal(await client.call("echo", ["warm"]), "warm");

    const hostileClients = [
      new Dealer({ linger: 0 }),
      new Dealer({ linger: 0, ...clientSocketOptions({ curve: { serverKey: keys.publicKey } }) }),
    ];
    try {
      const refused = hostileClients.map(
        (dealer) =>
          new Promise<AuthenticationError>((resolve) => {
            const stop = onHandshakeFailure(dealer.raw, (error) => {
              stop();
              resolve(error);
            });
          }),
      );
      for (const dealer of hostileClients) dealer.connect(address);
      for (let i = 0; i < MESSAGES; i++) {
        // Posted, not awaited: a socket whose handshake failed may never take them (that is the point).
        for (const dealer of hostileClients) dealer.post(hostile(r), () => undefined);
        if (i % 50 === 0) assert.equal(await client.call("echo", [i]), i);
      }
      const errors = await Promise.all(refused);
      assert.ok(errors.every((error) => error.code === "EAUTH"));
      assert.equal(await client.call("echo", ["still served"]), "still served");
      // Only the allowed client's calls ran; nothing else was even decoded.
      assert.equal(runs, 2 + Math.ceil(MESSAGES / 50));
      assert.equal(server.stats.protocolErrors, 0);
      for (const dealer of hostileClients) assert.equal(dealer.raw.readable, false);
      assert.ok(auth.stats.refused >= 1);
    } finally {
      for (const dealer of hostileClients) dealer.close();
    }
  });
}
