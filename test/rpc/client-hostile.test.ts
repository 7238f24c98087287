/**
 * A hostile server against one RpcClient: whatever it sends, the client's receive loop goes on,
 * every message that breaks the protocol is counted and reported, the call it belongs to (when
 * one can be named) fails with a typed error instead of waiting, and nothing escapes as an
 * unhandled rejection.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { packWire, unpackWire } from "../../src/core/codec.js";
import { Router } from "../../src/index.js";
import {
  type ClientOptions,
  MessageTooLargeError,
  ProtocolError,
  RemoteError,
  RpcClient,
  ZerokitError,
} from "../../src/rpc/index.js";
import { fuzzMessageCount, fuzzSeed, Random } from "../fuzz/random.js";
import { freshEndpoint } from "../helpers.js";

const T = { timeout: 30_000 };
const EMPTY = Buffer.alloc(0);
const SOME_ID = Buffer.from("0123456789abcdef0123456789abcdef");

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => void unhandled.push(reason);
process.on("unhandledRejection", onUnhandled);
after(() => {
  process.off("unhandledRejection", onUnhandled);
  assert.deepEqual(unhandled, [], "no unhandled rejection");
});

interface Request {
  identity: Buffer;
  id: Buffer;
  name: string;
  args: unknown;
}

/** A ROUTER playing the server by hand. */
async function hostile(options: ClientOptions = {}) {
  const router = new Router();
  const address = await router.bind(freshEndpoint("tcp"));
  const problems: ProtocolError[] = [];
  const client = new RpcClient({
    heartbeat: false,
    timeout: 60_000,
    onProtocolError: (error) => void problems.push(error),
    ...options,
  });
  client.connect(address);
  let identity: Buffer | undefined;
  const event = (responseTo: Buffer | undefined, name: string, args: unknown) =>
    packWire([{ message_id: SOME_ID, v: 3, ...(responseTo ? { response_to: responseTo } : {}) }, name, args]);
  /** The next request; credit grants are skipped and the cancel probe is told "no such method". */
  const next = async (): Promise<Request> => {
    while (true) {
      const frames = await router.receive({ timeout: 10_000 });
      identity = frames[0] as Buffer;
      const [header, name, args] = unpackWire(frames[frames.length - 1] as Buffer) as [
        { message_id: Buffer; response_to?: unknown },
        string,
        unknown,
      ];
      if (header.response_to !== undefined) continue;
      const id = Buffer.from(header.message_id);
      if (name === "_zerokit_features") {
        await router.send([identity, EMPTY, event(id, "ERR", ["NameError", name, ""])]);
        continue;
      }
      return { identity, id, name, args };
    }
  };
  /** Sends raw frames to the client (after the routing identity). */
  const raw = (...frames: Buffer[]) => router.send([identity as Buffer, ...frames]);
  const reply = (to: Buffer, name: string, args: unknown) => raw(EMPTY, event(to, name, args));
  /** One legitimate call answered properly: proof that the loop still runs. */
  const roundTrip = async (value: unknown) => {
    const call = client.call("echo", [value]);
    const request = await next();
    await reply(request.id, "OK", [Array.isArray(request.args) ? request.args[0] : undefined]);
    assert.deepEqual(await call, value);
  };
  return {
    router,
    client,
    problems,
    next,
    raw,
    event,
    reply,
    roundTrip,
    async [Symbol.asyncDispose]() {
      client.close();
      router.close();
    },
  };
}

describe("a hostile server never stops the client", () => {
  test("ERR with wrongly shaped args fails its call with a ProtocolError; the next call works", T, async () => {
    await using s = await hostile();
    for (const args of [[{ toString: 1 }], [{ toString: 1, valueOf: 1 }, "m", "tb"], "text", [], [1, 2, 3, 4], [7]]) {
      const call = s.client.call("x");
      const request = await s.next();
      await s.reply(request.id, "ERR", args);
      await assert.rejects(call, ProtocolError, `ERR ${JSON.stringify(args)}`);
      await s.roundTrip("after");
    }
    // Well-shaped ERR still is a RemoteError (protocol v1's [repr] alone included).
    const call = s.client.call("x");
    await s.reply((await s.next()).id, "ERR", ["ValueError", "bad", "tb"]);
    await assert.rejects(call, (e: unknown) => e instanceof RemoteError && e.remoteName === "ValueError");
    assert.equal(s.client.stats.protocolErrors, 6);
    assert.equal(s.problems.length, 6);
  });

  test("OK must carry [result]", T, async () => {
    await using s = await hostile();
    for (const args of ["x", [], [1, 2], null, { a: 1 }]) {
      const call = s.client.call("x");
      await s.reply((await s.next()).id, "OK", args);
      await assert.rejects(call, ProtocolError);
    }
    await s.roundTrip(1);
  });

  test("stream items beyond the granted credit are a protocol error, not unbounded buffering", T, async () => {
    await using s = await hostile({ streamWindow: 10 });
    const call = s.client.call<number[]>("range");
    const iterator = call[Symbol.asyncIterator]();
    const request = await s.next();
    // The client grants as items arrive; a consumer that does not pull holds at most the window.
    for (let i = 0; i < 50; i++) await s.reply(request.id, "STREAM", i);
    await s.reply(request.id, "STREAM_DONE", null);
    await s.roundTrip("after the flood"); // replies arrive in order: the flood was read by now
    const got: unknown[] = [];
    await assert.rejects(async () => {
      for (let step = await iterator.next(); !step.done; step = await iterator.next()) got.push(step.value);
    }, ProtocolError);
    assert.ok(got.length <= 10, `items held: ${got.length}`);
    assert.ok(s.problems.some((p) => /beyond the credit/.test(p.message)));
  });

  test("a reply that does not decode but names its call fails that call at once", T, async () => {
    await using s = await hostile();
    const call = s.client.call("x");
    const request = await s.next();
    const header = packWire({ message_id: SOME_ID, v: 3, response_to: request.id });
    // [header, "OK", <an array of 2 cut after its first element>]
    await s.raw(EMPTY, Buffer.concat([Buffer.from([0x93]), header, packWire("OK"), Buffer.from([0x92, 0x01])]));
    await assert.rejects(call, ProtocolError);
    await s.roundTrip("alive");
  });

  test("an oversized reply fails its call without being decoded", T, async () => {
    await using s = await hostile({ maxMessageSize: 1024 });
    const call = s.client.call("x");
    await s.reply((await s.next()).id, "OK", [Buffer.alloc(4096)]);
    await assert.rejects(call, MessageTooLargeError);
    assert.equal(s.client.stats.protocolErrors, 1);
    await s.roundTrip("alive");
  });

  test("a hook that throws fails its own call, not the receive loop", T, async () => {
    let throwing = true;
    await using s = await hostile({
      hooks: {
        afterCall: () => {
          if (throwing) throw new Error("hook failed");
        },
      },
    });
    const call = s.client.call("x");
    await s.reply((await s.next()).id, "OK", [1]);
    await assert.rejects(call, /hook failed/);
    throwing = false;
    await s.roundTrip("alive");
  });

  test("an onProtocolError that throws does not stop the loop either", T, async () => {
    await using s = await hostile({
      onProtocolError: () => {
        throw new Error("observer failed");
      },
    });
    const call = s.client.call("x");
    await s.next();
    await s.raw(EMPTY, Buffer.from([0xc1]));
    await s.roundTrip("alive");
    assert.equal(s.client.stats.protocolErrors, 1);
    s.client.close();
    await assert.rejects(call);
  });

  test("wrong frame counts, unknown channels, duplicate and late replies are dropped and counted", T, async () => {
    await using s = await hostile();
    const call = s.client.call("x");
    const request = await s.next();
    await s.reply(request.id, "OK", [1]);
    assert.equal(await call, 1);
    await s.reply(request.id, "OK", [2]); // duplicate
    await s.reply(request.id, "STREAM", 3); // after the end
    await s.raw(Buffer.from("x"), EMPTY, s.event(request.id, "OK", [1])); // 3 frames
    await s.raw(EMPTY, s.event(SOME_ID, "OK", [1])); // a channel this client never opened
    await s.raw(EMPTY, s.event(undefined, "OK", [1])); // no response_to
    await s.roundTrip("alive");
    assert.equal(s.client.stats.stale, 2);
    assert.equal(s.client.stats.protocolErrors, 3);
  });

  test("a server cannot answer, or end, a call sent to another server", T, async () => {
    const routers = [new Router(), new Router()];
    const problems: ProtocolError[] = [];
    const client = new RpcClient({ heartbeat: false, onProtocolError: (error) => void problems.push(error) });
    const stop = new AbortController();
    try {
      const connected = (async () => {
        let count = 0;
        for await (const status of client.status({ signal: stop.signal })) {
          if (status.type === "connected" && ++count === 2) return;
        }
      })();
      for (const router of routers) client.connect(await router.bind(freshEndpoint("tcp")));
      await connected;
      // Round-robin over the two: each server gets one of the two calls.
      const calls = [client.call("echo", ["a"]), client.call("echo", ["b"])];
      const requests = await Promise.all(
        routers.map(async (router) => {
          const [identity, , blob] = await router.receive({ timeout: 10_000 });
          const [header, , args] = unpackWire(blob as Buffer) as [{ message_id: Buffer }, string, [string]];
          return { router, identity: identity as Buffer, id: Buffer.from(header.message_id), arg: args[0] };
        }),
      );
      const [first, second] = requests as [(typeof requests)[0], (typeof requests)[0]];
      const reply = (from: typeof first, to: Buffer, name: string, args: unknown) =>
        from.router.send([
          from.identity,
          EMPTY,
          packWire([{ message_id: SOME_ID, v: 3, response_to: to }, name, args]),
        ]);
      // The second server answers, and then ends, the call sent to the first.
      await reply(second, first.id, "OK", ["forged"]);
      await reply(second, first.id, "ERR", ["ValueError", "forged", ""]);
      await reply(second, second.id, "OK", [second.arg]);
      // One socket delivers in order: once the second server's own call is answered, its forged
      // replies have been handled, while the first server's call is still open.
      assert.equal(await calls[second.arg === "a" ? 0 : 1], second.arg);
      assert.equal(client.stats.protocolErrors, 2);
      await reply(first, first.id, "OK", [first.arg]);
      assert.equal(await calls[first.arg === "a" ? 0 : 1], first.arg);
      assert.match(problems[0]?.message ?? "", /sent to another server/);
    } finally {
      stop.abort();
      client.close();
      for (const router of routers) router.close();
    }
  });

  test("seeded fuzz: every category, legitimate calls interleaved, all answered", { timeout: 60_000 }, async () => {
    const seed = fuzzSeed();
    const random = new Random(seed);
    const count = fuzzMessageCount(2000);
    console.log(`client fuzz: seed ${seed} (replay with ZK_FUZZ_SEED=${seed}), ${count} messages`);
    const maxMessageSize = 64 * 1024;
    await using s = await hostile({ maxMessageSize, streamWindow: 8 });
    const closed: Buffer[] = [];
    const deep = (depth: number): Buffer => {
      // [[[...]]] as raw bytes: a decoder that recurses would blow its stack on it.
      const bytes = Buffer.alloc(depth + 1, 0x91);
      bytes[depth] = 0xc0;
      return bytes;
    };
    const bodies = (to: Buffer): Buffer[] => [
      random.bytes(random.int(64)),
      Buffer.concat([
        Buffer.from([0x93]),
        packWire({ message_id: SOME_ID, v: 3, response_to: to }),
        packWire("STREAM"),
        deep(20_000),
      ]),
      s.event(to, "OK", [{ nested: [1, [2, [3]]], toString: 1 }]).subarray(0, 1 + random.int(40)),
      packWire([{ message_id: SOME_ID, v: 3, response_to: to }, "ERR", [{ toString: 1 }, 2, { valueOf: 1 }]]),
      packWire([{ message_id: SOME_ID, v: 3, response_to: to }, "_zpc_more", [{ toString: 1, valueOf: 1 }]]),
      packWire([{ message_id: SOME_ID, v: 3, response_to: to }, "_zpc_hb", "garbage"]),
      packWire([{ message_id: SOME_ID, v: 3, response_to: to }, "OK", "not a list"]),
      packWire([{ message_id: SOME_ID, v: 3, response_to: to }, 42, []]),
      packWire([{ message_id: 7, response_to: to }, "OK", [1]]),
      packWire([["header"], "OK", [1]]),
      packWire({ a: 1 }),
      packWire([{ message_id: SOME_ID, v: 3, response_to: to }, "STREAM", Buffer.alloc(maxMessageSize + 1)]),
      packWire([{ message_id: SOME_ID, v: 3, response_to: to }, "_zerokit_unknown", []]),
      packWire([{ message_id: SOME_ID, v: 3, response_to: random.bytes(32) }, "OK", [1]]),
    ];
    const rssBefore = process.memoryUsage().rss;
    let victims = 0;
    for (let i = 0; i < count; i++) {
      if (i % 40 === 0) await s.roundTrip(i);
      const kind = random.int(4);
      if (kind === 0) {
        // Aimed at an open call: it must fail with a typed error, never wait.
        const call = s.client.call("victim");
        const request = await s.next();
        const body = random.pick(bodies(request.id));
        await s.raw(EMPTY, body);
        // Bodies that name no call leave it open: end it like a server that answers after all.
        await s.reply(request.id, "STREAM", "item");
        for (let k = 0; k < 10; k++) await s.reply(request.id, "STREAM", k);
        await s.reply(request.id, "STREAM_DONE", null);
        await call.then(
          () => undefined,
          (error: unknown) => assert.ok(error instanceof ZerokitError, `typed error: ${String(error)}`),
        );
        closed.push(request.id);
        victims++;
      } else if (kind === 1) {
        await s.raw(EMPTY, random.pick(bodies(closed.length > 0 ? random.pick(closed) : SOME_ID)));
      } else if (kind === 2) {
        const frames = Array.from({ length: random.int(5) + 1 }, () => random.bytes(random.int(16)));
        await s.raw(...frames);
      } else {
        // A zerokit batch mixing junk with events for closed calls.
        const to = closed.length > 0 ? random.pick(closed) : SOME_ID;
        await s.raw(
          Buffer.from("c17a6b2d6261746368", "hex"),
          ...Array.from({ length: random.int(4) + 1 }, () => random.pick(bodies(to))),
        );
      }
    }
    await s.roundTrip("end");
    const rssAfter = process.memoryUsage().rss;
    console.log(
      `client fuzz: ${count} hostile messages (${victims} aimed at open calls), ${s.client.stats.protocolErrors} protocol errors, ` +
        `${s.client.stats.stale} stale, RSS ${(rssBefore / 2 ** 20).toFixed(0)} → ${(rssAfter / 2 ** 20).toFixed(0)} MiB`,
    );
    assert.ok(s.client.stats.protocolErrors > 0);
  });
});
