/**
 * The plain-JavaScript ZMTP ROUTER the state server binds (src/core/zmtp-listener.ts): against
 * real libzmq peers (zeromq.js DEALER and REQ sockets) on tcp and ipc, and against hand-written
 * peers on real sockets for what libzmq never sends (a wrong socket type, a message before
 * READY, garbage, a stalled handshake, a flood, a peer that does not read), with a seeded fuzz
 * of the byte stream after which a libzmq peer must still be served.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { describe, it } from "node:test";
import * as zmq from "zeromq";
import { AddressInUseError, ClosedError, EndpointError, QueueFullError } from "../../src/core/errors.js";
import type { Message } from "../../src/core/socket.js";
import {
  encodeCommand,
  encodeGreeting,
  encodeProperties,
  frameHeader,
  type ZmtpInput,
  ZmtpReader,
} from "../../src/core/zmtp.js";
import { listenerAddress, ZmtpListener, type ZmtpListenerOptions } from "../../src/core/zmtp-listener.js";
import { fuzzMessageCount, fuzzSeed, Random } from "../fuzz/random.js";
import { freshEndpoint, networkTransports } from "../helpers.js";

const T = { timeout: 20_000 };
const LIMITS = { maxFrameBytes: 4 << 20, maxFrames: 16, maxMessageBytes: 4 << 20 };

function listener(options: Partial<ZmtpListenerOptions> = {}): ZmtpListener {
  return new ZmtpListener({ limits: LIMITS, ...options });
}

function ready(socketType: string, identity?: string): Buffer {
  const properties = new Map([["Socket-Type", Buffer.from(socketType)]]);
  if (identity !== undefined) properties.set("Identity", Buffer.from(identity));
  return encodeCommand("READY", encodeProperties(properties));
}

function message(frames: Buffer[]): Buffer {
  return Buffer.concat(frames.flatMap((frame, i) => [frameHeader(frame.length, i < frames.length - 1), frame]));
}

/** Where a `node:net` socket reaches the listener's address. */
function dial(address: string): Socket {
  const parsed = listenerAddress(address);
  assert.ok(parsed, address);
  return "path" in parsed ? connect(parsed.path) : connect(parsed.port, parsed.host);
}

/** A hand-written DEALER: what it reads comes out as ZMTP inputs; `closed` settles when the listener drops it. */
function rawPeer(address: string) {
  const socket = dial(address);
  const reader = new ZmtpReader(LIMITS);
  const inputs: ZmtpInput[] = [];
  let wake: (() => void) | undefined;
  socket.on("data", (chunk: Buffer) => {
    reader.push(chunk, inputs);
    wake?.();
  });
  socket.on("error", () => {});
  const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
  return {
    socket,
    closed,
    /** Resolves with the first input matching `match` (inputs before it stay). */
    async next(match: (input: ZmtpInput) => boolean): Promise<ZmtpInput> {
      for (;;) {
        const found = inputs.find(match);
        if (found) return found;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    },
  };
}

/** Receives until `match` holds, returning the messages before it too. */
async function receiveUntil(router: ZmtpListener, match: (message: Message) => boolean) {
  const before: Message[] = [];
  for (;;) {
    const got = await router.receive();
    if (match(got)) return { got, before };
    before.push(got);
  }
}

const text = (frames: readonly Buffer[]) => frames.map((frame) => frame.toString());

describe("ZMTP listener: what it binds", () => {
  it("takes tcp with a numeric host and ipc paths, and leaves the rest to zeromq.js", () => {
    assert.deepEqual(listenerAddress("tcp://127.0.0.1:*"), { host: "127.0.0.1", port: 0 });
    assert.deepEqual(listenerAddress("tcp://*:4242"), { host: "0.0.0.0", port: 4242 });
    assert.deepEqual(listenerAddress("tcp://[::1]:0"), { host: "::1", port: 0 });
    assert.deepEqual(listenerAddress("ipc:///tmp/x.sock"), { path: "/tmp/x.sock" });
    for (const other of ["tcp://localhost:*", "ipc://*", "ipc://@abstract", "inproc://x", "tcp://nope", "udp://x"]) {
      assert.equal(listenerAddress(other), undefined, other);
    }
  });

  it(
    "binds an ephemeral port and says which; a busy one is an AddressInUseError; a second bind is refused",
    T,
    async () => {
      const first = listener();
      const address = await first.bind("tcp://127.0.0.1:*");
      assert.match(address, /^tcp:\/\/127\.0\.0\.1:[1-9][0-9]*$/);
      const second = listener();
      await assert.rejects(second.bind(address), AddressInUseError);
      await assert.rejects(first.bind("tcp://127.0.0.1:*"), EndpointError);
      await assert.rejects(listener().bind("inproc://nope"), EndpointError);
      first.close();
      second.close();
      await assert.rejects(first.bind("tcp://127.0.0.1:*"), ClosedError);
    },
  );

  it("takes over a stale ipc socket file, as libzmq does, but never a regular file", T, async () => {
    const path = freshEndpoint("ipc").slice("ipc://".length);
    const old = listener();
    await old.bind(`ipc://${path}`);
    const next = listener();
    assert.equal(await next.bind(`ipc://${path}`), `ipc://${path}`);
    const dealer = new zmq.Dealer();
    dealer.connect(`ipc://${path}`);
    await dealer.send("to the new one");
    assert.deepEqual(text((await next.receive()).slice(1)), ["to the new one"]);
    dealer.close();
    old.close();
    next.close();
    const file = freshEndpoint("ipc").slice("ipc://".length);
    writeFileSync(file, "not a socket");
    await assert.rejects(listener().bind(`ipc://${file}`), AddressInUseError);
  });
});

for (const transport of networkTransports) {
  describe(`ZMTP listener with libzmq peers over ${transport}`, () => {
    it("routes by routing id: made-up ids for anonymous peers, a peer's own id when it sends one", T, async () => {
      const router = listener();
      const address = await router.bind(freshEndpoint(transport));
      const a = new zmq.Dealer();
      const b = new zmq.Dealer({ routingId: "bob" });
      a.connect(address);
      b.connect(address);
      await a.send(["from", "a"]);
      await b.send(["from", "b"]);
      const got = [await router.receive(), await router.receive()];
      const byText = new Map(got.map((m) => [text(m.slice(1)).join(" "), m[0] as Buffer]));
      const idA = byText.get("from a") as Buffer;
      assert.equal(idA.length, 5);
      assert.equal(idA[0], 0);
      assert.equal(byText.get("from b")?.toString(), "bob");
      await router.send([idA, Buffer.from("to"), Buffer.from("a")]);
      router.post([Buffer.from("bob"), Buffer.from("to b")], assert.fail);
      assert.deepEqual(text(await a.receive()), ["to", "a"]);
      assert.deepEqual(text(await b.receive()), ["to b"]);
      await assert.rejects(router.send([Buffer.from("nobody"), Buffer.from("x")]), { code: "EHOSTUNREACH" });
      a.close();
      b.close();
      router.close();
    });

    it("serves REQ peers (their empty delimiter frame included) and large frames both ways", T, async () => {
      const router = listener();
      const address = await router.bind(freshEndpoint(transport));
      const req = new zmq.Request();
      req.connect(address);
      const big = Buffer.alloc(3 << 20);
      for (let i = 0; i < big.length; i += 4096) big[i] = i & 0xff;
      await req.send(big);
      const [id, delimiter, body] = await router.receive();
      assert.equal(delimiter?.length, 0);
      assert.ok(body?.equals(big));
      await router.send([id as Buffer, Buffer.alloc(0), big]);
      const [reply] = await req.receive();
      assert.ok(reply?.equals(big));
      req.close();
      router.close();
    });

    it("a disconnected peer's id becomes unreachable; a close rejects the waiting receive", T, async () => {
      const router = listener();
      const address = await router.bind(freshEndpoint(transport));
      const peer = rawPeer(address);
      peer.socket.write(Buffer.concat([encodeGreeting(), ready("DEALER"), message([Buffer.from("hi")])]));
      const [id] = await router.receive();
      peer.socket.destroy();
      await peer.closed;
      // The listener hears of the close on its own next read: wait for it, not for a time.
      for (;;) {
        const error = await router.send([id as Buffer, Buffer.from("late")]).then(
          () => undefined,
          (e: unknown) => e,
        );
        if (error) {
          assert.equal((error as { code?: string }).code, "EHOSTUNREACH");
          break;
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
      const waiting = router.receive();
      router.close();
      await assert.rejects(waiting, ClosedError);
      await assert.rejects(router.receive(), ClosedError);
      await assert.rejects(router.send([id as Buffer, Buffer.from("x")]), ClosedError);
    });
  });
}

describe("ZMTP listener with hand-written peers", () => {
  it("answers PING with PONG and its context", T, async () => {
    const router = listener();
    const address = await router.bind(freshEndpoint("tcp"));
    const peer = rawPeer(address);
    peer.socket.write(Buffer.concat([encodeGreeting(), ready("DEALER")]));
    const theirs = await peer.next((input) => input.kind === "command" && input.name === "READY");
    assert.equal(theirs.kind === "command" && theirs.data.toString("latin1").includes("ROUTER"), true);
    peer.socket.write(encodeCommand("PING", Buffer.from([0, 10, 7, 8, 9])));
    const pong = await peer.next((input) => input.kind === "command" && input.name === "PONG");
    assert.deepEqual(pong.kind === "command" && [...pong.data], [7, 8, 9]);
    peer.socket.destroy();
    router.close();
  });

  it("closes only the peer at fault: a wrong socket type, a message before READY, garbage, a taken id", T, async () => {
    const router = listener();
    const address = await router.bind(freshEndpoint("tcp"));
    const good = new zmq.Dealer({ routingId: "taken" });
    good.connect(address);
    await good.send("first");
    await router.receive();
    const faults = [
      Buffer.concat([encodeGreeting(), ready("PUB")]),
      Buffer.concat([encodeGreeting(), message([Buffer.from("too early")])]),
      Buffer.concat([encodeGreeting(), ready("DEALER"), Buffer.from([0x08, 0x01, 0x02])]),
      Buffer.concat([encodeGreeting(), ready("DEALER", "taken")]),
      Buffer.alloc(64, 0xff),
    ];
    for (const bytes of faults) {
      const peer = rawPeer(address);
      peer.socket.write(bytes);
      await peer.closed;
    }
    await good.send("still served");
    assert.deepEqual(text((await router.receive()).slice(1)), ["still served"]);
    router.post([Buffer.from("taken"), Buffer.from("reply")], assert.fail);
    assert.deepEqual(text(await good.receive()), ["reply"]);
    good.close();
    router.close();
  });

  it("closes a handshake that does not finish in time, even one that trickles", T, async () => {
    const router = listener({ handshakeMs: 200 });
    const address = await router.bind(freshEndpoint("tcp"));
    const silent = rawPeer(address);
    const trickle = rawPeer(address);
    const greeting = encodeGreeting();
    let sent = 0;
    const timer = setInterval(() => trickle.socket.write(greeting.subarray(sent, ++sent)), 20);
    await Promise.all([silent.closed, trickle.closed]);
    clearInterval(timer);
    assert.ok(sent < greeting.length, `closed after ${sent} bytes`);
    router.close();
  });

  it(
    "refuses a send to a peer that does not read with back-pressure, and takes it again once it reads",
    T,
    async () => {
      const router = listener({ sendBacklogBytes: 64 * 1024 });
      const address = await router.bind(freshEndpoint("ipc"));
      const peer = rawPeer(address);
      peer.socket.write(Buffer.concat([encodeGreeting(), ready("DEALER"), message([Buffer.from("hi")])]));
      const [id] = await router.receive();
      peer.socket.pause();
      const chunk = Buffer.alloc(16 * 1024, 1);
      let sent = 0;
      let refused: unknown;
      while (refused === undefined) {
        router.post([id as Buffer, chunk], (error) => {
          refused = error;
        });
        if (refused === undefined) sent++;
      }
      assert.ok(refused instanceof QueueFullError, String(refused));
      assert.ok(sent > 0);
      peer.socket.resume();
      // Once the peer reads, the backlog drains and sends are taken again.
      for (;;) {
        const error = await router.send([id as Buffer, Buffer.from("after")]).then(
          () => undefined,
          (e: unknown) => e,
        );
        if (error === undefined) break;
        assert.ok(error instanceof QueueFullError, String(error));
        await new Promise((resolve) => setImmediate(resolve));
      }
      await peer.next((input) => input.kind === "message" && input.frames[0]?.toString() === "after");
      peer.socket.destroy();
      router.close();
    },
  );

  it("pauses a peer that floods past the inbox bound; another peer is read meanwhile; nothing is lost", T, async () => {
    const router = listener({ queuedPerPeer: 10 });
    const address = await router.bind(freshEndpoint("ipc"));
    const flooder = rawPeer(address);
    const count = 16_000;
    const body = Buffer.alloc(1000, 2);
    const frames: Buffer[] = [encodeGreeting(), ready("DEALER")];
    for (let i = 0; i < count; i++) {
      const seq = Buffer.allocUnsafe(4);
      seq.writeUInt32BE(i);
      frames.push(message([seq, body]));
    }
    flooder.socket.write(Buffer.concat(frames));
    const first = await router.receive();
    const other = rawPeer(address);
    other.socket.write(Buffer.concat([encodeGreeting(), ready("DEALER"), message([Buffer.from("other")])]));
    // Each PONG proves the listener read the other peer's bytes (and had turns to read the flood's).
    for (let i = 0; i < 50; i++) {
      other.socket.write(encodeCommand("PING", Buffer.from([0, 10, i])));
      await other.next((input) => input.kind === "command" && input.name === "PONG" && input.data[0] === i);
    }
    // The bound (10) plus what one read of the flood held, not the 16 MB the flooder wrote.
    assert.ok(router.queued < 200, `${router.queued} messages queued`);
    const { before } = await receiveUntil(router, (m) => m[1]?.toString() === "other");
    assert.ok(before.length < 200, `${before.length} flood messages came first`);
    const seen = [first, ...before];
    while (seen.length < count) seen.push(await router.receive());
    seen.forEach((m, i) => {
      assert.equal(m[1]?.readUInt32BE(0), i);
    });
    flooder.socket.destroy();
    other.socket.destroy();
    router.close();
  });
});

describe("ZMTP listener: seeded fuzz of the byte stream", () => {
  it("hostile streams close their own connection; a libzmq peer is served after each", {
    timeout: 60_000,
  }, async () => {
    const seed = fuzzSeed();
    const random = new Random(seed);
    const rounds = fuzzMessageCount(2000) / 10;
    const router = listener({ limits: { maxFrameBytes: 1 << 16, maxFrames: 8, maxMessageBytes: 1 << 17 } });
    const address = await router.bind(freshEndpoint("tcp"));
    const good = new zmq.Dealer();
    good.connect(address);
    const valid = Buffer.concat([encodeGreeting(), ready("DEALER"), message([Buffer.from("a"), Buffer.from("b")])]);
    const serveGood = async (round: number) => {
      await good.send(`round ${round}`);
      const { got } = await receiveUntil(router, (m) => m[1]?.toString() === `round ${round}`);
      await router.send([got[0] as Buffer, Buffer.from("ok")]);
      assert.deepEqual(text(await good.receive()), ["ok"], `seed ${seed} round ${round}`);
    };
    for (let round = 0; round < rounds; round++) {
      const parts: Buffer[] = [];
      const kind = random.int(4);
      if (kind === 0) parts.push(random.bytes(1 + random.int(200)));
      else {
        const start = Buffer.from(valid);
        // Flip a few bytes of a valid stream, cut it, or follow it with hostile frames.
        if (kind === 1) for (let i = random.int(4); i >= 0; i--) start[random.int(start.length)] = random.int(256);
        parts.push(kind === 2 ? start.subarray(0, random.int(start.length)) : start);
        for (let i = random.int(5); i >= 0; i--) {
          parts.push(
            random.pick([
              () => random.bytes(random.int(40)),
              () => message(Array.from({ length: 1 + random.int(12) }, () => random.bytes(random.int(300)))),
              () => frameHeader(random.int(1 << 20), random.chance(0.5), random.chance(0.2)),
              () => encodeCommand(random.pick(["READY", "PING", "ERROR", "X"]), random.bytes(random.int(20))),
            ])(),
          );
        }
      }
      const peer = rawPeer(address);
      const bytes = Buffer.concat(parts);
      for (let at = 0; at < bytes.length; ) {
        const next = Math.min(bytes.length, at + 1 + random.int(300));
        peer.socket.write(bytes.subarray(at, next));
        at = next;
      }
      peer.socket.end();
      await peer.closed;
      await serveGood(round);
    }
    good.close();
    router.close();
  });
});
