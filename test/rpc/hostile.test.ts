/**
 * Hostile input against the RPC server (issue 11): each test sends what an attacker on the same
 * machine could, from a raw DEALER, and checks that the server answers, counts and goes on.
 */
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { describe, test } from "node:test";
import { packWire, unpackWire } from "../../src/core/codec.js";
import { Dealer, InvalidArgumentError } from "../../src/index.js";
import { type ProtocolError, RpcClient, RpcServer } from "../../src/rpc/index.js";
import { checkStructure } from "../../src/rpc/protocol.js";
import { freshEndpoint } from "../helpers.js";

const T = { timeout: 30_000 };
// Heartbeats a second apart: fast enough for the tests that wait on a lost client, slow enough
// that a loaded machine does not declare live peers lost.
const HB = 1000;
const EMPTY = Buffer.alloc(0);

let idCounter = 0;
function freshId(): Buffer {
  return Buffer.from(`hostile-${process.pid}-${++idCounter}`.padEnd(32, "x"));
}

function request(id: Buffer, name: string, args: unknown): Buffer {
  return packWire([{ message_id: id, v: 3 }, name, args]);
}

function onChannel(id: Buffer, name: string, args: unknown): Buffer {
  return packWire([{ message_id: freshId(), v: 3, response_to: id }, name, args]);
}

/** The next event a raw DEALER gets: `[header, name, args]`, with the reply's raw bytes. */
async function next(dealer: Dealer): Promise<{ to: string; name: string; args: unknown; blob: Buffer }> {
  const frames = await dealer.receive({ timeout: 20_000 });
  const blob = frames[frames.length - 1] as Buffer;
  const [header, name, args] = unpackWire(blob) as [{ response_to: Buffer }, string, unknown];
  return { to: Buffer.from(header.response_to).toString(), name, args, blob };
}

/** Reads events until one that is not a heartbeat. */
async function nextReply(dealer: Dealer) {
  for (;;) {
    const event = await next(dealer);
    if (event.name !== "_zpc_hb") return event;
  }
}

class Service {
  yielded = 0;
  echo(x: unknown) {
    return x;
  }
  *range(n: number) {
    for (let i = 0; i < n; i++) {
      this.yielded++;
      yield i;
    }
  }
}

async function setup(options: ConstructorParameters<typeof RpcServer>[1] = {}, target: object = new Service()) {
  const problems: ProtocolError[] = [];
  const server = new RpcServer(target, {
    heartbeat: HB,
    onProtocolError: (error) => void problems.push(error),
    ...options,
  });
  const address = await server.bind(freshEndpoint("tcp"));
  const raw = new Dealer({ linger: 0 });
  raw.connect(address);
  const client = new RpcClient({ heartbeat: HB, timeout: 20_000 });
  client.connect(address);
  return {
    server,
    raw,
    client,
    address,
    problems,
    async [Symbol.asyncDispose]() {
      raw.close();
      await client[Symbol.asyncDispose]();
      await server[Symbol.asyncDispose]();
    },
  };
}

describe("the receive loop's one boundary", () => {
  test("introspection with a non-string method name answers InvalidArgumentError", T, async () => {
    await using s = await setup();
    for (const name of ["_zerorpc_help", "_zerorpc_args"]) {
      const id = freshId();
      await s.raw.send([EMPTY, request(id, name, [{ toString: 1 }])]);
      const reply = await nextReply(s.raw);
      assert.equal(reply.to, id.toString());
      assert.equal(reply.name, "ERR");
      assert.equal((reply.args as string[])[0], "InvalidArgumentError");
    }
    assert.equal(await s.client.call("echo", ["alive"]), "alive");
  });

  test(
    "an exception while handling one message is counted, reported, answered ERR, and the loop goes on",
    T,
    async () => {
      let armed = true;
      await using s = await setup({
        onEvent: (direction) => {
          if (direction === "in" && armed) {
            armed = false;
            throw new TypeError("observer failed");
          }
        },
      });
      const id = freshId();
      await s.raw.send([EMPTY, request(id, "echo", [1])]);
      const reply = await nextReply(s.raw);
      assert.equal(reply.name, "ERR");
      assert.equal((reply.args as string[])[0], "ProtocolError");
      assert.match(String((reply.args as string[])[1]), /observer failed/);
      assert.equal(s.server.stats.protocolErrors, 1);
      assert.match(String(s.problems[0]?.message), /observer failed/);
      assert.equal(await s.client.call("echo", ["alive"]), "alive");
    },
  );

  test("a hook that throws after a call is reported, never an unhandled rejection", T, async () => {
    await using s = await setup({
      hooks: {
        afterCall: () => {
          throw new Error("hook failed");
        },
      },
    });
    assert.equal(await s.client.call("echo", [1]), 1);
    assert.equal(s.server.stats.protocolErrors, 1);
    assert.match(s.problems[0]?.message ?? "", /afterCall hook failed: hook failed/);
  });

  test("_zpc_more with a non-number on an open stream fails that stream with a typed ERR", T, async () => {
    await using s = await setup();
    const id = freshId();
    await s.raw.send([EMPTY, request(id, "range", [10])]);
    assert.equal((await nextReply(s.raw)).name, "STREAM");
    await s.raw.send([EMPTY, onChannel(id, "_zpc_more", [{ toString: 1, valueOf: 1 }])]);
    const reply = await nextReply(s.raw);
    assert.equal(reply.to, id.toString());
    assert.equal(reply.name, "ERR");
    assert.equal((reply.args as string[])[0], "InvalidArgumentError");
    assert.equal(s.server.stats.protocolErrors, 1);
    assert.equal(await s.client.call("echo", ["alive"]), "alive");
  });

  test("a handler throwing a value that cannot become text still answers ERR", T, async () => {
    await using s = await setup(
      {},
      {
        bad() {
          throw { toString: 1 };
        },
      },
    );
    const id = freshId();
    await s.raw.send([EMPTY, request(id, "bad", [])]);
    const reply = await nextReply(s.raw);
    assert.equal(reply.name, "ERR");
  });
});

describe("one client never starves the others", () => {
  test("_zpc_more [1e12] is capped at maxCredit and the stream yields to other clients", T, async () => {
    const service = new Service();
    await using s = await setup({}, service);
    const id = freshId();
    await s.raw.send([EMPTY, request(id, "range", [3_000_000])]);
    assert.equal((await nextReply(s.raw)).name, "STREAM");
    await s.raw.send([EMPTY, onChannel(id, "_zpc_more", [1e12])]);
    const started = performance.now();
    assert.equal(await s.client.call("echo", ["alive"]), "alive");
    const latency = performance.now() - started;
    // Credit 1 + at most the 1000 granted: the rest waits for a client that asks again.
    assert.ok(service.yielded <= 1002, `items produced before the other client was answered: ${service.yielded}`);
    console.log(`# credit flood: other client answered in ${latency.toFixed(1)} ms`);
  });

  test("streams opened without credit by the thousand leave other clients answered", T, async () => {
    const service = new Service();
    // Heartbeats far apart: the raw client never beats, and its streams must stay open here.
    // (npm run fuzz opens 100,000 against the default bound; here 10,000 against 1,000.)
    await using s = await setup({ heartbeat: 60_000, maxCallsPerPeer: 1000 }, service);
    const count = 10_000;
    const sends: Promise<void>[] = [];
    for (let i = 0; i < count; i++) sends.push(s.raw.send([EMPTY, request(freshId(), "range", [5])]));
    await Promise.all(sends);
    const started = performance.now();
    assert.equal(await s.client.call("echo", ["alive"]), "alive");
    console.log(`# ${count} streams: other client answered in ${(performance.now() - started).toFixed(1)} ms`);
    // One client holds at most maxCallsPerPeer open calls: the others are answered BusyError.
    let busy = 0;
    let seen = 0;
    while (seen < count) {
      const reply = await next(s.raw);
      if (reply.name === "_zpc_hb") continue;
      if (reply.name === "STREAM" && (reply.args as number) !== 0) continue;
      seen++;
      if (reply.name === "ERR" && String((reply.args as string[])[0]) === "BusyError") busy++;
    }
    assert.equal(busy, count - 1000);
    assert.equal(s.server.stats.busy, count - 1000);
  });

  test("a client that never reads fails its own calls, not another client's", T, async () => {
    await using s = await setup({ maxPeerBacklog: 256 * 1024, socket: { sendHighWaterMark: 10 } });
    // The raw DEALER never reads: its replies pile up past its pipe, then past its backlog.
    const big = "x".repeat(4096);
    for (let i = 0; i < 200; i++) await s.raw.send([EMPTY, request(freshId(), "echo", [big])]);
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => s.client.call("echo", [i])));
    assert.deepEqual(
      answers,
      Array.from({ length: 50 }, (_, i) => i),
    );
    // Wait on the server's own count, without sleeping. The raw client keeps asking meanwhile:
    // its own receive pipe (1,000 messages) and the kernel's socket buffers may hold all of the
    // first 200 replies, and only more replies are sure to reach the server's backlog bound.
    while (s.server.stats.droppedReplies === 0) {
      await s.raw.send([EMPTY, request(freshId(), "echo", [big])]);
      await s.client.call("echo", [0]);
    }
    assert.ok(s.problems.some((p) => /replies unread/.test(p.message)));
  });
});

describe("no reply is dropped silently", () => {
  test("10,000 requests in flight from one raw client are all answered", T, async () => {
    await using s = await setup();
    const count = 10_000;
    // 1 KiB replies: 10 MB is more than the socket buffers hold, so the pipe limit is reached.
    const payload = "x".repeat(1024);
    const ids = new Set<string>();
    const sends: Promise<void>[] = [];
    for (let i = 0; i < count; i++) {
      const id = freshId();
      ids.add(id.toString());
      sends.push(s.raw.send([EMPTY, request(id, "echo", [payload])]));
    }
    await Promise.all(sends);
    for (let i = 0; i < count; i++) {
      const reply = await nextReply(s.raw);
      assert.equal(reply.name, "OK");
      assert.ok(ids.delete(reply.to));
    }
    assert.equal(ids.size, 0);
  });

  test("10,000 calls in flight from one RpcClient with default framing are all answered", T, async () => {
    await using s = await setup();
    await using client = new RpcClient({ timeout: 20_000 }); // default heartbeat and framing
    client.connect(s.address);
    const payload = "x".repeat(1024);
    const results = await Promise.all(Array.from({ length: 10_000 }, () => client.call("echo", [payload])));
    assert.equal(results.length, 10_000);
    assert.ok(results.every((result) => result === payload));
  });
});

describe("channel ids are unique per client", () => {
  test("duplicate message_ids on streams are refused and leak no pool slot", T, async () => {
    await using s = await setup({ poolSize: 4 });
    for (let pair = 0; pair < 8; pair++) {
      const id = freshId();
      await s.raw.send([EMPTY, request(id, "range", [3])]);
      await s.raw.send([EMPTY, request(id, "range", [3])]);
    }
    // Every first of a pair gets its first item; every second an ERR: read until 8 of those.
    let refused = 0;
    while (refused < 8) {
      const reply = await nextReply(s.raw);
      if (reply.name === "ERR") {
        assert.match(String((reply.args as string[])[1]), /message_id is still open/);
        refused++;
      }
    }
    assert.equal(s.server.stats.duplicateIds, 8);
    s.raw.close(); // the client leaves with its 8 streams open
    const answers = await Promise.all([1, 2, 3].map((i) => s.client.call("echo", [i])));
    assert.deepEqual(answers, [1, 2, 3]);
  });

  test("two clients may use the same message_id without meeting", T, async () => {
    const service = new Service();
    await using s = await setup({}, service);
    await using other = new Dealer({ linger: 0 });
    other.connect(s.address);
    const id = freshId();
    await s.raw.send([EMPTY, request(id, "range", [3])]);
    assert.equal((await nextReply(s.raw)).args, 0);
    await other.send([EMPTY, request(id, "range", [3])]);
    assert.equal((await nextReply(other)).args, 0);
    // Credit from one client moves only its own stream.
    await other.send([EMPTY, onChannel(id, "_zpc_more", [5])]);
    assert.equal((await nextReply(other)).args, 1);
    assert.equal((await nextReply(other)).args, 2);
    assert.equal((await nextReply(other)).name, "STREAM_DONE");
    await s.raw.send([EMPTY, onChannel(id, "_zpc_more", [5])]);
    assert.equal((await nextReply(s.raw)).args, 1);
  });
});

describe("decoding work is bounded", () => {
  test("an oversized request is refused from its header alone", T, async () => {
    await using s = await setup({ maxMessageSize: 1024 * 1024 });
    const id = freshId();
    // A valid header followed by 8 MiB that is not MessagePack at all: only the header is read.
    const head = packWire({ message_id: id, v: 3 });
    const blob = Buffer.concat([Buffer.from([0x93]), head, Buffer.alloc(8 * 1024 * 1024, 0xc1)]);
    await s.raw.send([EMPTY, blob]);
    const reply = await nextReply(s.raw);
    assert.equal(reply.to, id.toString());
    assert.equal((reply.args as string[])[0], "MessageTooLargeError");
    assert.equal(s.server.stats.oversized, 1);
  });

  test("a 95 MB array of nils against a 1 MiB limit is refused without decoding it", T, async () => {
    await using s = await setup({ maxMessageSize: 1024 * 1024 });
    const id = freshId();
    const count = 95_000_000;
    const prefix = Buffer.concat([
      Buffer.from([0x93]),
      packWire({ message_id: id, v: 3 }),
      packWire("echo"),
      Buffer.from([0xdd, count >>> 24, (count >>> 16) & 0xff, (count >>> 8) & 0xff, count & 0xff]),
    ]);
    const blob = Buffer.alloc(prefix.length + count, 0xc0);
    prefix.copy(blob);
    const rss = process.memoryUsage().rss;
    await s.raw.send([EMPTY, blob]);
    const reply = await nextReply(s.raw);
    assert.equal((reply.args as string[])[0], "MessageTooLargeError");
    console.log(`# 95 MB request: RSS +${((process.memoryUsage().rss - rss) / 1e6).toFixed(0)} MB`);
  });

  test("deep nesting and too many elements are refused with an ERR to the caller", T, async () => {
    await using s = await setup({ maxItems: 100_000 });
    const id = freshId();
    const head = Buffer.concat([Buffer.from([0x93]), packWire({ message_id: id, v: 3 }), packWire("echo")]);
    const deep = Buffer.concat([head, Buffer.from([0x91]), Buffer.alloc(200_000, 0x91), Buffer.from([0xc0])]);
    await s.raw.send([EMPTY, deep]);
    let reply = await nextReply(s.raw);
    assert.equal(reply.to, id.toString());
    assert.equal(reply.name, "ERR");
    assert.match(String((reply.args as string[])[1]), /nested deeper than 100/);
    const id2 = freshId();
    const many = packWire([{ message_id: id2, v: 3 }, "echo", [new Array(200_000).fill(null)]]);
    await s.raw.send([EMPTY, many]);
    reply = await nextReply(s.raw);
    assert.equal(reply.to, id2.toString());
    assert.match(String((reply.args as string[])[1]), /more than 100000 elements/);
    assert.equal(await s.client.call("echo", ["alive"]), "alive");
  });
});

describe("what the server sends is valid MessagePack", () => {
  test("an invalid timestamp ext is refused, never echoed", T, async () => {
    await using s = await setup();
    const id = freshId();
    const head = Buffer.concat([Buffer.from([0x93]), packWire({ message_id: id, v: 3 }), packWire("echo")]);
    await s.raw.send([EMPTY, Buffer.concat([head, Buffer.from([0x91, 0xd4, 0xff, 0xff])])]);
    const reply = await nextReply(s.raw);
    assert.equal(checkStructure(reply.blob, 100, 1_000_000), undefined);
    assert.equal(reply.name, "ERR");
    assert.match(String((reply.args as string[])[1]), /timestamp/);
  });

  test(
    "a handler's Invalid Date is answered with an ERR that says so, not sent as bytes no reader takes",
    T,
    async () => {
      const invalid = { now: () => new Date(Number.NaN), nested: () => ({ when: [new Date(Number.NaN)] }) };
      await using s = await setup({}, invalid);
      for (const method of ["now", "nested"]) {
        const head = Buffer.concat([Buffer.from([0x93]), packWire({ message_id: freshId(), v: 3 }), packWire(method)]);
        await s.raw.send([EMPTY, Buffer.concat([head, Buffer.from([0x90])])]);
        const reply = await nextReply(s.raw);
        assert.equal(checkStructure(reply.blob, 100, 1_000_000), undefined);
        assert.equal(reply.name, "ERR");
        assert.match(String((reply.args as string[])[1]), /Invalid Date/);
      }
      assert.throws(() => packWire({ at: new Date(Number.NaN) }), InvalidArgumentError);
    },
  );
});

describe("exposure", () => {
  class Emitting extends EventEmitter {
    #secret = "private";
    hello() {
      return this.#secret.length;
    }
  }

  test("a class extending EventEmitter serves only its own methods", T, async () => {
    await using s = await setup({}, new Emitting());
    assert.deepEqual(s.server.methods, ["hello"]);
    await assert.rejects(s.client.call("removeAllListeners", []), /NameError/);
    assert.equal(await s.client.call("hello", []), 7);
  });

  test("a methods allowlist serves exactly those methods", T, async () => {
    await using s = await setup({ methods: ["echo"] });
    assert.deepEqual(s.server.methods, ["echo"]);
    await assert.rejects(s.client.call("range", [1]), /NameError/);
    assert.throws(() => new RpcServer(new Service(), { methods: ["nothing"] }), InvalidArgumentError);
  });
});

describe("options are validated in one place", () => {
  const cases: [string, Record<string, unknown>][] = [
    ["options", 5 as unknown as Record<string, unknown>],
    ["name", { name: "" }],
    ["heartbeat", { heartbeat: -1 }],
    ["poolSize", { poolSize: 0 }],
    ["overflow", { overflow: "drop" }],
    ["maxQueued", { maxQueued: 1.5 }],
    ["maxMessageSize", { maxMessageSize: 0 }],
    ["maxDepth", { maxDepth: 5000 }],
    ["maxItems", { maxItems: -1 }],
    ["maxCredit", { maxCredit: Number.NaN }],
    ["maxCallsPerPeer", { maxCallsPerPeer: 0 }],
    ["maxPeerBacklog", { maxPeerBacklog: "big" }],
    ["methods", { methods: "echo" }],
    ["hooks", { hooks: 1 }],
    ["hooks.afterCall", { hooks: { afterCall: 1 } }],
    ["onProtocolError", { onProtocolError: "log" }],
    ["onEvent", { onEvent: {} }],
    ["socket", { socket: [] }],
    ["asyncContext", { asyncContext: "sometimes" }],
  ];
  for (const [option, options] of cases) {
    test(`${option} out of range throws InvalidArgumentError naming it`, () => {
      assert.throws(
        () => new RpcServer(new Service(), options as never),
        (error: unknown) => error instanceof InvalidArgumentError && error.option === option && error.code === "EINVAL",
      );
    });
  }
  test("the target, an endpoint and a PushStream's start are checked too", async () => {
    assert.throws(() => new RpcServer(null as never), InvalidArgumentError);
    const server = new RpcServer(new Service());
    await assert.rejects(server.bind(42 as never), InvalidArgumentError);
    assert.throws(() => server.connect("" as never), InvalidArgumentError);
    server.close();
    const { PushStream } = await import("../../src/rpc/index.js");
    assert.throws(() => new PushStream(1 as never), InvalidArgumentError);
  });
});
