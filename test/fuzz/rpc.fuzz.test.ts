/**
 * Seeded fuzz of the RPC server (issue 11): hostile clients send every kind of bad input, with a
 * legitimate call interleaved every few dozen messages, then two starvation floods. Asserts no
 * crash, every legitimate call answered, and bounded memory. `ZK_FUZZ_MESSAGES` sizes the run
 * (a few thousand in `npm test`, 100,000 in `npm run fuzz`); `ZK_FUZZ_SEED` replays one.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { packWire } from "../../src/core/codec.js";
import { Dealer } from "../../src/index.js";
import { RpcClient, RpcServer } from "../../src/rpc/index.js";
import { BATCH_MARKER } from "../../src/rpc/protocol.js";
import { freshEndpoint } from "../helpers.js";
import { fuzzMessageCount, fuzzSeed, Random } from "./random.js";

const MESSAGES = fuzzMessageCount(3000);
const SEED = fuzzSeed();
const LEGIT_EVERY = 30;
const MAX_MESSAGE = 64 * 1024;
const EMPTY = Buffer.alloc(0);
const HOSTILE_KEYS = ["__proto__", "constructor", "prototype", "toString", "valueOf", "hasOwnProperty", "", "then"];
const BUILTINS = [
  "_zerorpc_ping",
  "_zerorpc_name",
  "_zerorpc_list",
  "_zerorpc_help",
  "_zerorpc_args",
  "_zerorpc_inspect",
  "_zerokit_features",
  "_zpc_more",
  "_zpc_hb",
  "_zerokit_cancel",
];
const CATEGORIES = [
  "random bytes",
  "truncated",
  "wrong shape",
  "wrong frames",
  "unknown channel",
  "duplicate id",
  "credit flood",
  "oversized claim",
  "deep nesting",
  "builtin args",
  "oversized",
  "bad ext",
  "user method args",
] as const;

class Service {
  echo(x: unknown) {
    return x;
  }
  *range(n: unknown) {
    const count = typeof n === "number" && n >= 0 ? Math.min(n, 1e7) : 3;
    for (let i = 0; i < count; i++) yield i;
  }
  async later(x: unknown) {
    await new Promise((resolve) => setImmediate(resolve));
    return x;
  }
}

function randomValue(r: Random, depth = 0): unknown {
  switch (r.int(depth > 3 ? 7 : 10)) {
    case 0:
      return null;
    case 1:
      return r.chance(0.5);
    case 2:
      return r.pick([0, -1, 127, 255, 65536, 2 ** 32, -(2 ** 31), 2 ** 53, 1e12, Number.NaN, 0.5]);
    case 3:
      return r.pick(HOSTILE_KEYS);
    case 4:
      return r.bytes(r.int(40));
    case 5:
      return "é".repeat(r.int(5));
    case 6:
      return r.int(1000);
    case 7:
      return Array.from({ length: r.int(5) }, () => randomValue(r, depth + 1));
    default: {
      const map = new Map<string, unknown>();
      for (let i = r.int(4); i > 0; i--) map.set(r.pick(HOSTILE_KEYS), randomValue(r, depth + 1));
      return map;
    }
  }
}

function event(header: Record<string, unknown>, name: unknown, args: unknown): Buffer {
  return packWire([header, name, args]);
}

test(`rpc server fuzz (seed ${SEED}, ${MESSAGES} messages)`, { timeout: 1_800_000 }, async () => {
  console.log(`# rpc fuzz: seed ${SEED} (ZK_FUZZ_SEED=${SEED} replays it), ${MESSAGES} messages`);
  const r = new Random(SEED);
  const server = new RpcServer(new Service(), {
    heartbeat: 1000,
    maxMessageSize: MAX_MESSAGE,
    maxPeerBacklog: 4 * 1024 * 1024,
    maxCallsPerPeer: 2000,
    socket: { sendHighWaterMark: 50 },
  });
  const client = new RpcClient({ heartbeat: 1000, timeout: 15_000 });
  const dealers: Dealer[] = [];
  const dealer = () => {
    const made = new Dealer({ linger: 0 });
    made.connect(address);
    dealers.push(made);
    return made;
  };
  let address = "";
  let draining = true;
  try {
    address = await server.bind(freshEndpoint("tcp"));
    client.connect(address);
    assert.equal(await client.call("echo", ["warm"]), "warm");

    // Hostile clients: one reads what it gets, one never reads; both are replaced now and then
    // (leaving open streams behind) so that replies to vanished clients are exercised too.
    let reader = dealer();
    let silent = dealer();
    const drain = async (dealer: Dealer) => {
      while (draining) {
        try {
          await dealer.receive();
        } catch {
          return;
        }
      }
    };
    void drain(reader);
    const openIds: Buffer[] = [];
    const id = () => (r.chance(0.5) ? r.bytes(r.int(40)) : Buffer.from(`fz${r.int(1e9)}`.padEnd(32, "0")));

    let legit = 0;
    let worst = 0;
    const counts = new Map<string, number>();
    const rssBefore = process.memoryUsage().rss;

    const legitCall = async () => {
      const value = r.int(1e6);
      const started = performance.now();
      const answer = r.chance(0.5) ? await client.call("echo", [value]) : await client.call("later", [value]);
      worst = Math.max(worst, performance.now() - started);
      assert.equal(answer, value);
      legit++;
    };

    for (let i = 0; i < MESSAGES; i++) {
      if (i % LEGIT_EVERY === 0) await legitCall();
      if (i % 500 === 499) {
        reader.close();
        silent.close();
        reader = dealer();
        silent = dealer();
        void drain(reader);
        openIds.length = 0;
      }
      const category = r.pick(CATEGORIES);
      counts.set(category, (counts.get(category) ?? 0) + 1);
      const target = r.chance(0.7) ? reader : silent;
      let frames: Buffer[];
      switch (category) {
        case "random bytes":
          frames = [EMPTY, r.bytes(1 + r.int(64))];
          break;
        case "truncated": {
          const whole = event({ message_id: id(), v: 3 }, "echo", [randomValue(r)]);
          frames = [EMPTY, whole.subarray(0, r.int(whole.length))];
          break;
        }
        case "wrong shape":
          frames = [
            EMPTY,
            packWire(
              r.pick([
                randomValue(r),
                [randomValue(r), "echo", []],
                [{ message_id: randomValue(r), v: randomValue(r) }, randomValue(r), randomValue(r)],
                [{ message_id: id(), v: 3, response_to: randomValue(r) }, "_zpc_more", [1]],
                [{ message_id: id(), v: 3 }, "echo"],
              ]),
            ),
          ];
          break;
        case "wrong frames": {
          const blob = event({ message_id: id(), v: 3 }, "echo", [1]);
          frames = r.pick([
            [blob],
            [EMPTY, EMPTY, blob],
            [EMPTY, blob, blob],
            [BATCH_MARKER, r.bytes(5), blob],
            [BATCH_MARKER],
            [EMPTY],
          ]);
          break;
        }
        case "unknown channel":
          frames = [EMPTY, event({ message_id: id(), v: 3, response_to: id() }, r.pick(BUILTINS), [randomValue(r)])];
          break;
        case "duplicate id": {
          const stream = r.chance(0.5) && openIds.length > 0 ? r.pick(openIds) : id();
          openIds.push(stream);
          if (openIds.length > 200) openIds.shift();
          frames = [EMPTY, event({ message_id: stream, v: r.pick([2, 3]) }, r.pick(["range", "later"]), [r.int(1e6)])];
          break;
        }
        case "credit flood": {
          const stream = openIds.length > 0 ? r.pick(openIds) : id();
          const credit = r.pick([1e12, 2 ** 32, 1, -1, 0, 0.5, Number.NaN, { toString: 1, valueOf: 1 }, "100"]);
          frames = [EMPTY, event({ message_id: id(), v: 3, response_to: stream }, "_zpc_more", [credit])];
          break;
        }
        case "oversized claim": {
          const head = Buffer.concat([Buffer.from([0x93]), packWire({ message_id: id(), v: 3 }), packWire("echo")]);
          const claim = r.pick([
            [0xdd, 0xff, 0xff, 0xff, 0xff],
            [0xdf, 0x7f, 0xff, 0xff, 0xff],
            [0x91, 0xdb, 0xff, 0xff, 0xff, 0x00],
            [0x91, 0xc6, 0x7f, 0xff, 0xff, 0xff],
            [0x91, 0xc9, 0xff, 0xff, 0xff, 0xf0, 0x01],
          ]);
          frames = [EMPTY, Buffer.concat([head, Buffer.from(claim), r.bytes(r.int(32))])];
          break;
        }
        case "deep nesting": {
          const head = Buffer.concat([Buffer.from([0x93]), packWire({ message_id: id(), v: 3 }), packWire("echo")]);
          const depth = 50 + r.int(20_000);
          const open = r.chance(0.5) ? 0x91 : 0x81;
          const body = Buffer.alloc(depth * (open === 0x81 ? 2 : 1) + 1, 0xc0);
          for (let d = 0; d < depth; d++) {
            if (open === 0x91) body[d] = 0x91;
            else {
              body[2 * d] = 0xa0; // key ""
              body[2 * d + 1] = 0x81;
            }
          }
          frames = [
            EMPTY,
            Buffer.concat([head, Buffer.from([0x91]), open === 0x81 ? Buffer.from([0x81]) : EMPTY, body]),
          ];
          break;
        }
        case "builtin args": {
          const name = r.pick(BUILTINS);
          const args = r.chance(0.2) ? randomValue(r) : Array.from({ length: r.int(3) }, () => randomValue(r));
          const header: Record<string, unknown> = { message_id: id(), v: 3 };
          if (r.chance(0.4) && openIds.length > 0) header.response_to = r.pick(openIds);
          frames = [EMPTY, event(header, name, args)];
          break;
        }
        case "oversized":
          frames = [EMPTY, event({ message_id: id(), v: 3 }, "echo", [Buffer.alloc(MAX_MESSAGE + r.int(4096))])];
          break;
        case "bad ext": {
          const head = Buffer.concat([Buffer.from([0x93]), packWire({ message_id: id(), v: 3 }), packWire("echo")]);
          const ext = r.pick([
            [0xd4, 0xff, 0xff],
            [0xd7, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            [0xc7, 0x0c, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            [0xd4, 0x05, 0x01],
            [0xd5, 0x74, 0x63, 0x00],
            [0xc7, 0x03, 0x6d, 0x91, 0x92, 0xc0],
          ]);
          frames = [EMPTY, Buffer.concat([head, Buffer.from([0x91, ...ext])])];
          break;
        }
        default:
          frames = [
            EMPTY,
            event({ message_id: id(), v: 3 }, r.pick(["echo", "range", "later", "nothing"]), randomValue(r)),
          ];
      }
      await target.send(frames);
    }
    await legitCall();

    // Starvation floods, each with the worst latency of a legitimate call during it.
    const floodCalls = 20;
    const measure = async () => {
      let floodWorst = 0;
      for (let i = 0; i < floodCalls; i++) {
        const started = performance.now();
        assert.equal(await client.call("echo", [i]), i);
        floodWorst = Math.max(floodWorst, performance.now() - started);
      }
      return floodWorst;
    };
    // 1. A client that keeps granting 1e12 credit to range(3e6).
    const flooder = dealer();
    const streamId = Buffer.from("credit-flood".padEnd(32, "0"));
    await flooder.send([EMPTY, event({ message_id: streamId, v: 3 }, "range", [3_000_000])]);
    let flooding = true;
    let floodItems = 0;
    const feeding = (async () => {
      while (flooding) {
        await flooder.receive();
        if (++floodItems % 500 === 1) {
          await flooder.send([EMPTY, event({ message_id: id(), v: 3, response_to: streamId }, "_zpc_more", [1e12])]);
        }
      }
    })().catch(() => {});
    while (floodItems < 2) await client.call("echo", [0]);
    const creditWorst = await measure();
    flooding = false;
    flooder.close();
    await feeding;
    // 2. Many streams opened without credit (as many as the run has messages, at most 100k).
    const opener = dealer();
    const streams = Math.min(MESSAGES, 100_000);
    const opening = (async () => {
      for (let i = 0; i < streams; i++) {
        await opener.send([EMPTY, event({ message_id: Buffer.from(`open${i}`.padEnd(32, "0")), v: 3 }, "range", [5])]);
      }
    })();
    const streamsWorst = await measure();
    await opening;
    opener.close();

    draining = false;
    reader.close();
    silent.close();
    assert.equal(await client.call("echo", ["still alive"]), "still alive");
    global.gc?.();
    const rssAfter = process.memoryUsage().rss;
    const mb = (n: number) => (n / 1e6).toFixed(0);
    console.log(
      `# rpc fuzz: ${MESSAGES} messages, ${legit} legitimate calls answered (worst ${worst.toFixed(1)} ms), ` +
        `0 crashes, 0 wedges; protocol errors ${server.stats.protocolErrors}, oversized ${server.stats.oversized}, ` +
        `duplicate ids ${server.stats.duplicateIds}, busy ${server.stats.busy}, deferred ${server.stats.deferredReplies}, ` +
        `dropped ${server.stats.droppedReplies}; RSS ${mb(rssBefore)} → ${mb(rssAfter)} MB`,
    );
    console.log(
      `# rpc fuzz floods: credit 1e12 on range(3e6): worst legit ${creditWorst.toFixed(1)} ms (${floodItems} items streamed); ` +
        `${streams} streams without credit: worst legit ${streamsWorst.toFixed(1)} ms`,
    );
    console.log(`# rpc fuzz categories: ${[...counts].map(([k, v]) => `${k} ${v}`).join(", ")}`);
    assert.ok(server.stats.protocolErrors > 0);
    // Bounded: what hostile clients leave behind must not grow with the run (generous for GC noise).
    assert.ok(rssAfter - rssBefore < 400e6, `RSS grew by ${mb(rssAfter - rssBefore)} MB`);
  } finally {
    draining = false;
    for (const made of dealers) made.close();
    await client[Symbol.asyncDispose]();
    await server[Symbol.asyncDispose]();
  }
});
