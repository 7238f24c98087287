/**
 * A hostile pusher or publisher against a Puller/Subscriber: whatever arrives, and whatever a
 * handler or observer does, the receive loop goes on; bad messages are counted and reported.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { packWire } from "../../src/core/codec.js";
import { Pub, Push } from "../../src/index.js";
import { ProtocolError, Puller, type ReceiverOptions, Subscriber } from "../../src/rpc/index.js";
import { fuzzMessageCount, fuzzSeed, Random } from "../fuzz/random.js";
import { freshEndpoint } from "../helpers.js";

const T = { timeout: 30_000 };
const ID = Buffer.from("0123456789abcdef0123456789abcdef");

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => void unhandled.push(reason);
process.on("unhandledRejection", onUnhandled);
after(() => {
  process.off("unhandledRejection", onUnhandled);
  assert.deepEqual(unhandled, [], "no unhandled rejection");
});

const event = (name: unknown, args: unknown) => packWire([{ message_id: ID, v: 3 }, name, args]);

/** A Puller fed by a raw PUSH, with `ok(n)` events that resolve `seen(n)` waits. */
async function pullerWith(extra: object, options: ReceiverOptions = {}) {
  const seen: number[] = [];
  const waiters = new Map<number, () => void>();
  const target = {
    ok(n: number) {
      seen.push(n);
      waiters.get(n)?.();
    },
    ...extra,
  };
  const puller = new Puller(target, options);
  const address = await puller.bind(freshEndpoint("ipc"));
  const push = new Push();
  push.connect(address);
  /** Sends `ok(n)` and waits until it was handled: everything sent before was read by then. */
  const proof = async (n: number) => {
    const handled = new Promise<void>((resolve) => waiters.set(n, resolve));
    await push.send(event("ok", [n]));
    await handled;
  };
  return {
    puller,
    push,
    seen,
    proof,
    async [Symbol.asyncDispose]() {
      push.close();
      await puller[Symbol.asyncDispose]();
    },
  };
}

describe("a hostile sender never stops a Puller or Subscriber", () => {
  test("handlers that throw or reject, and observers that throw, do not kill the loop", T, async () => {
    const errors: Error[] = [];
    await using s = await pullerWith(
      {
        boom() {
          throw new Error("sync boom");
        },
        async later() {
          throw new Error("async boom");
        },
      },
      {
        onError: (error) => {
          errors.push(error);
          throw new Error("the observer fails too");
        },
      },
    );
    await s.push.send(event("boom", []));
    await s.push.send(event("later", []));
    await s.push.send(event("nothing", []));
    await s.proof(1);
    await s.proof(2); // the async rejection has been reported by now (a turn later)
    assert.deepEqual(s.seen, [1, 2]);
    assert.equal(s.puller.stats.handlerErrors, 2);
    assert.equal(s.puller.stats.protocolErrors, 1);
    assert.deepEqual(errors.map((e) => e.message).sort(), ["async boom", 'no method "nothing" for event', "sync boom"]);
  });

  test("protocol errors go to onProtocolError with their frames; wrong frame counts are one", T, async () => {
    const problems: [ProtocolError, number][] = [];
    await using s = await pullerWith(
      {},
      { onProtocolError: (error, frames) => void problems.push([error, frames.length]) },
    );
    await s.push.send([event("ok", [0]), event("ok", [0])]);
    await s.push.send(Buffer.from([0xc1, 0x00]));
    await s.proof(1);
    assert.deepEqual(s.seen, [1]);
    assert.equal(problems.length, 2);
    assert.ok(problems[0]?.[0] instanceof ProtocolError);
    assert.equal(problems[0]?.[1], 2);
  });

  test("deep nesting and huge element counts are refused before decoding, as the server refuses them", T, async () => {
    const problems: ProtocolError[] = [];
    await using s = await pullerWith({ any() {} }, { onProtocolError: (error) => void problems.push(error) });
    const header = packWire({ message_id: ID, v: 3 });
    // [header, "any", [[[[...]]]]] 200 deep, and an array declaring 2^32-1 nils it does not hold.
    const deep = Buffer.concat([
      Buffer.from([0x93]),
      header,
      packWire("any"),
      Buffer.alloc(200, 0x91),
      Buffer.from([0xc0]),
    ]);
    const huge = Buffer.concat([
      Buffer.from([0x93]),
      header,
      packWire("any"),
      Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff]),
    ]);
    await s.push.send(deep);
    await s.push.send(huge);
    await s.proof(1);
    assert.deepEqual(s.seen, [1]);
    assert.equal(problems.length, 2);
    assert.match(problems[0]!.message, /deep/);
  });

  test("at most maxPending async handlers run at once; the rest wait in ZeroMQ's queue", T, async () => {
    let running = 0;
    let most = 0;
    let done = 0;
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    let allDone!: () => void;
    const finished = new Promise<void>((resolve) => {
      allDone = resolve;
    });
    await using s = await pullerWith(
      {
        async slow() {
          running++;
          most = Math.max(most, running);
          // Give a receiver without a bound every chance to start more before any finishes.
          if (running === 5) setImmediate(() => setImmediate(open));
          await gate;
          running--;
          if (++done === 50) allDone();
        },
      },
      { maxPending: 5 },
    );
    for (let i = 0; i < 50; i++) await s.push.send(event("slow", []));
    await finished;
    assert.equal(most, 5, `at most 5 ran at once (saw ${most})`);
  });

  test("seeded fuzz: every category of hostile event, legitimate events all handled in order", T, async () => {
    const seed = fuzzSeed();
    const random = new Random(seed);
    const count = fuzzMessageCount(2000);
    console.log(`events fuzz: seed ${seed} (replay with ZK_FUZZ_SEED=${seed}), ${count} messages`);
    const maxMessageSize = 16 * 1024;
    await using s = await pullerWith(
      {
        boom() {
          throw new Error("boom");
        },
        async reject() {
          throw new Error("reject");
        },
      },
      { maxMessageSize, onError: () => undefined },
    );
    const deep = Buffer.concat([
      Buffer.from([0x93]),
      packWire({ message_id: ID, v: 3 }),
      packWire("ok"),
      Buffer.alloc(20_000, 0x91),
      Buffer.from([0xc0]),
    ]);
    const hostile = (): Buffer | Buffer[] => {
      switch (random.int(12)) {
        case 0:
          return random.bytes(random.int(64));
        case 1:
          return Array.from({ length: 2 + random.int(3) }, () => random.bytes(random.int(8)));
        case 2:
          return event("ok", [1]).subarray(0, random.int(20));
        case 3:
          return deep;
        case 4:
          return event(random.pick(["__proto__", "constructor", "toString", "hasOwnProperty", "", "_private"]), []);
        case 5:
          return event("boom", [{ toString: 1 }]);
        case 6:
          return event("reject", []);
        case 7:
          return event("ok", Buffer.alloc(maxMessageSize + 1));
        case 8:
          return packWire([{ message_id: 5 }, "ok", [1]]);
        case 9:
          return packWire(["header", "ok", [1]]);
        case 10:
          return event(42, []);
        default:
          return packWire({ toString: 1, valueOf: 1 });
      }
    };
    const rssBefore = process.memoryUsage().rss;
    let legit = 0;
    for (let i = 0; i < count; i++) {
      if (i % 40 === 0) await s.proof(-1 - legit++);
      await s.push.send(hostile());
    }
    await s.proof(-1 - legit++);
    const rssAfter = process.memoryUsage().rss;
    const legitimate = s.seen.filter((n) => n < 0);
    assert.deepEqual(
      legitimate,
      Array.from({ length: legit }, (_, k) => -1 - k),
    );
    const stats = s.puller.stats;
    console.log(
      `events fuzz: ${stats.received} received, ${stats.protocolErrors} protocol errors, ${stats.handlerErrors} handler errors, ` +
        `RSS ${(rssBefore / 2 ** 20).toFixed(0)} → ${(rssAfter / 2 ** 20).toFixed(0)} MiB`,
    );
    assert.ok(stats.protocolErrors > 0 && stats.handlerErrors > 0);
  });

  test("a Subscriber has the same boundary", T, async () => {
    const heard: string[] = [];
    let resolveHeard!: () => void;
    const heardAfter = new Promise<void>((resolve) => {
      resolveHeard = resolve;
    });
    await using subscriber = new Subscriber(
      {
        boom() {
          throw new Error("boom");
        },
        hello(who: string) {
          heard.push(who);
          if (who === "after") resolveHeard();
        },
      },
      {
        onError: () => {
          throw new Error("observer fails");
        },
      },
    );
    await using pub = new Pub();
    const address = await pub.bind(freshEndpoint("tcp"));
    subscriber.connect(address);
    // PUB drops until the subscription arrives: publish until the subscriber hears one.
    for (let i = 0; i < 1000 && heard.length === 0; i++) {
      await pub.send(event("hello", ["joining"]));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await pub.send([Buffer.from("two"), Buffer.from("frames")]);
    await pub.send(Buffer.from([0xc1]));
    await pub.send(event("boom", []));
    await pub.send(event("hello", ["after"]));
    await heardAfter;
    assert.equal(subscriber.stats.protocolErrors, 2);
    assert.equal(subscriber.stats.handlerErrors, 1);
  });
});
