/**
 * The plain-JavaScript ZMTP 3 connection of the command line's plain call (src/core/zmtp.ts):
 * its reader against byte streams cut at every point and against seeded garbage, and the
 * connection against real libzmq peers (zeromq.js sockets) on tcp and ipc, plus a few
 * hand-written peers on real sockets for what libzmq never sends (PING with a context, ERROR,
 * garbage after the handshake).
 */
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { after, describe, it } from "node:test";
import * as zmq from "zeromq";
import { ProtocolError } from "../../src/core/errors.js";
import {
  decodeProperties,
  encodeCommand,
  encodeGreeting,
  encodeProperties,
  frameHeader,
  type ZmtpAddress,
  ZmtpConnection,
  type ZmtpEvents,
  type ZmtpInput,
  ZmtpReader,
} from "../../src/core/zmtp.js";
import { fuzzMessageCount, fuzzSeed, Random } from "../fuzz/random.js";
import { freshEndpoint, networkTransports } from "../helpers.js";

const LIMITS = { maxFrameBytes: 1 << 20, maxFrames: 8, maxMessageBytes: 1536 * 1024 };

/** A peer's greeting (libzmq's shape: ZMTP 3.1, as a server). */
function greeting(mechanism = "NULL", major = 3): Buffer {
  const bytes = encodeGreeting();
  bytes[10] = major;
  bytes.fill(0, 12, 32);
  bytes.write(mechanism, 12, "latin1");
  bytes[32] = 1;
  return bytes;
}

function ready(socketType: string): Buffer {
  return encodeCommand("READY", encodeProperties(new Map([["Socket-Type", Buffer.from(socketType)]])));
}

function message(frames: Buffer[]): Buffer {
  return Buffer.concat(frames.flatMap((frame, i) => [frameHeader(frame.length, i < frames.length - 1), frame]));
}

/** What a reader makes of `stream` fed in the given pieces, in a comparable form. */
function readAll(stream: Buffer, cuts: number[]): unknown[] {
  const reader = new ZmtpReader(LIMITS);
  const out: ZmtpInput[] = [];
  let at = 0;
  for (const cut of [...cuts, stream.length]) {
    out.push(...reader.push(stream.subarray(at, cut)));
    at = cut;
  }
  return out.map((input) =>
    input.kind === "message"
      ? { kind: "message", frames: input.frames.map((f) => f.toString("hex")) }
      : input.kind === "command"
        ? { kind: "command", name: input.name, data: input.data.toString("hex") }
        : input,
  );
}

describe("ZMTP reader", () => {
  const long = Buffer.alloc(70_000, 7);
  const stream = Buffer.concat([
    greeting(),
    ready("ROUTER"),
    message([Buffer.alloc(0), Buffer.from("hello")]),
    message([long]),
    encodeCommand("PING", Buffer.from([0, 10, 1, 2, 3])),
    message([Buffer.from("a"), Buffer.alloc(0), Buffer.alloc(300, 1)]),
  ]);
  const whole = readAll(stream, []);

  it("reads a greeting, commands and messages, short and long frames", () => {
    assert.deepEqual(whole, [
      { kind: "greeting", major: 3, minor: 1, mechanism: "NULL" },
      {
        kind: "command",
        name: "READY",
        data: encodeProperties(new Map([["Socket-Type", Buffer.from("ROUTER")]])).toString("hex"),
      },
      { kind: "message", frames: ["", Buffer.from("hello").toString("hex")] },
      { kind: "message", frames: [long.toString("hex")] },
      { kind: "command", name: "PING", data: "000a010203" },
      { kind: "message", frames: ["61", "", Buffer.alloc(300, 1).toString("hex")] },
    ]);
  });

  it("reads the same whatever the chunks: cut once at every byte, and cut at every byte", () => {
    for (let cut = 1; cut < stream.length; cut += cut < 200 ? 1 : 997) {
      assert.deepEqual(readAll(stream, [cut]), whole, `cut at ${cut}`);
    }
    const everyByte = Array.from({ length: 400 }, (_, i) => i + 1);
    assert.deepEqual(readAll(stream.subarray(0, 400), everyByte), readAll(stream.subarray(0, 400), []));
  });

  it("refuses what is not ZMTP 3 or is beyond its limits, with a ProtocolError", () => {
    const refuse = (bytes: Buffer, pattern: RegExp) =>
      assert.throws(
        () => new ZmtpReader(LIMITS).push(bytes),
        (error: unknown) => {
          assert.ok(error instanceof ProtocolError, String(error));
          assert.match(error.message, pattern);
          return true;
        },
      );
    refuse(Buffer.alloc(64), /ZMTP 1\.0 \(no signature\)/);
    refuse(Buffer.concat([greeting(), Buffer.from([0x08, 0])]), /unknown flags/);
    const huge = Buffer.alloc(9);
    huge[0] = 0x02;
    huge.writeBigUInt64BE(BigInt(LIMITS.maxFrameBytes + 1), 1);
    refuse(Buffer.concat([greeting(), huge]), /frame of 1048577 bytes/);
    const absurd = Buffer.alloc(9, 0xff);
    absurd[0] = 0x02;
    refuse(Buffer.concat([greeting(), absurd]), /the limit is/);
    refuse(
      Buffer.concat([greeting(), message(Array.from({ length: 9 }, () => Buffer.from("x")))]),
      /more than 8 frames/,
    );
    refuse(Buffer.concat([greeting(), Buffer.from([0x01, 0]), encodeCommand("PING")]), /command inside a message/);
    refuse(Buffer.concat([greeting(), Buffer.from([0x05, 0])]), /command with the MORE flag/);
    refuse(Buffer.concat([greeting(), Buffer.from([0x04, 3, 9, 65, 66])]), /shorter than its name/);
    const half = Buffer.alloc(900_000);
    refuse(Buffer.concat([greeting(), message([half, half])]), /message of more than 1572864 bytes/);
  });

  it("knows an older ZMTP from the first bytes, as libzmq does (such a peer then waits for ours)", () => {
    // ZMTP 1.0: a frame length and flags, no signature.
    assert.throws(() => new ZmtpReader(LIMITS).push(Buffer.from([0x01, 0x00])), /ZMTP 1\.0/);
    // ZMTP 2.0 (libzmq 3.x): the signature, revision 1 and its socket type, then nothing more.
    const zmtp2 = Buffer.concat([greeting().subarray(0, 10), Buffer.from([0x01, 0x05])]);
    assert.throws(() => new ZmtpReader(LIMITS).push(zmtp2), /older ZMTP \(revision 1\)/);
    // A ZMTP 3 greeting cut anywhere is no error, only incomplete.
    for (let cut = 1; cut < 64; cut++) assert.deepEqual(new ZmtpReader(LIMITS).push(greeting().subarray(0, cut)), []);
  });

  it("properties round-trip, names looked up case-insensitively; cut-short ones are refused", () => {
    const data = encodeProperties(
      new Map([
        ["Socket-Type", Buffer.from("DEALER")],
        ["Identity", Buffer.alloc(0)],
      ]),
    );
    const properties = decodeProperties(data);
    assert.equal(properties.get("socket-type")?.toString(), "DEALER");
    assert.equal(properties.get("identity")?.length, 0);
    assert.throws(() => decodeProperties(data.subarray(0, data.length - 3)), ProtocolError);
    assert.throws(() => decodeProperties(Buffer.from([5, 65])), ProtocolError);
  });

  it("seeded garbage after a greeting: only ProtocolErrors, and messages within the frame bound", () => {
    const seed = fuzzSeed();
    const random = new Random(seed);
    const rounds = fuzzMessageCount(2000);
    for (let round = 0; round < rounds; round++) {
      const reader = new ZmtpReader(LIMITS);
      const parts = [greeting()];
      for (let i = random.int(6); i >= 0; i--) {
        parts.push(
          random.pick([
            () => random.bytes(random.int(40)),
            () => message([random.bytes(random.int(300))]),
            () => frameHeader(random.int(1 << 21), random.chance(0.5), random.chance(0.2)),
            () => encodeCommand(random.pick(["READY", "PING", "ERROR", "X"]), random.bytes(random.int(20))),
          ])(),
        );
      }
      const bytes = Buffer.concat(parts);
      try {
        let at = 0;
        while (at < bytes.length) {
          const next = Math.min(bytes.length, at + 1 + random.int(100));
          for (const input of reader.push(bytes.subarray(at, next))) {
            if (input.kind === "message") assert.ok(input.frames.length <= LIMITS.maxFrames);
          }
          at = next;
        }
      } catch (error) {
        assert.ok(error instanceof ProtocolError, `seed ${seed} round ${round}: ${String(error)}`);
      }
    }
  });
});

/** A connection whose events are promises to wait on (`persistent`: as the State's transport makes it). */
function watched(
  address: ZmtpAddress,
  persistent = false,
  onMessage?: (link: ZmtpConnection) => void,
  handshakeMs?: number,
) {
  const seen: { kind: string; detail?: unknown }[] = [];
  let wake: (() => void) | undefined;
  const record = (kind: string, detail?: unknown) => {
    seen.push({ kind, detail });
    wake?.();
  };
  const events: ZmtpEvents = {
    ready: () => record("ready"),
    message: (frames) => {
      record("message", frames);
      onMessage?.(link);
    },
    unsupported: (reason) => record("unsupported", reason),
    dropped: () => record("dropped"),
  };
  const options = handshakeMs === undefined ? { persistent } : { persistent, handshakeMs };
  const link: ZmtpConnection = new ZmtpConnection(address, LIMITS, 20, events, options);
  /** Resolves with the next event of `kind` not yet taken. */
  let taken = 0;
  async function next(kind: string): Promise<{ kind: string; detail?: unknown }> {
    for (;;) {
      const index = seen.findIndex((event, i) => i >= taken && event.kind === kind);
      if (index >= 0) {
        taken = index + 1;
        return seen[index] as { kind: string; detail?: unknown };
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  }
  return { link, next, seen };
}

function addressOf(endpoint: string): ZmtpAddress {
  if (endpoint.startsWith("ipc://")) return { path: endpoint.slice(6) };
  const url = new URL(endpoint.replace("tcp://", "http://"));
  return { host: url.hostname, port: Number(url.port) };
}

describe("ZMTP connection to libzmq peers", { timeout: 20_000 }, () => {
  for (const transport of networkTransports) {
    it(`${transport}: a ROUTER answers a DEALER's message; messages both ways keep their frames`, async () => {
      const router = new zmq.Router({ linger: 0 });
      try {
        await router.bind(freshEndpoint(transport));
        const { link, next } = watched(addressOf(router.lastEndpoint as string));
        try {
          await next("ready");
          const big = Buffer.alloc(300_000, 3);
          assert.equal(link.send([Buffer.alloc(0), Buffer.from("request"), big]), true);
          const [identity, empty, body, large] = await router.receive();
          assert.equal(empty?.length, 0);
          assert.equal(body?.toString(), "request");
          assert.ok(large?.equals(big));
          await router.send([identity as Buffer, Buffer.alloc(0), Buffer.from("reply"), big]);
          const reply = (await next("message")).detail as Buffer[];
          assert.deepEqual(
            reply.map((frame) => frame.length),
            [0, 5, big.length],
          );
          assert.ok(reply[2]?.equals(big));
          // A message of one frame: small ones go with their header in one write, larger apart.
          for (const size of [0, 1, 255, 256, 2048, 2049, 70_000]) {
            const frame = Buffer.alloc(size, size & 0xff);
            assert.equal(link.send(frame), true);
            const [, only, extra] = await router.receive();
            assert.equal(extra, undefined, `${size}: one frame`);
            assert.ok(only?.equals(frame), `${size} bytes arrive as sent`);
          }
        } finally {
          link.close();
        }
      } finally {
        router.close();
      }
    });
  }

  it("connects to a peer that binds later, and again after the peer went away (as libzmq does)", async () => {
    // ipc: a path is free again at once once its socket closes (a tcp port may be held a while).
    const endpoint = freshEndpoint("ipc");
    const { link, next } = watched(addressOf(endpoint));
    try {
      let router = new zmq.Router({ linger: 0 });
      await router.bind(endpoint);
      await next("ready");
      router.close();
      await next("dropped");
      router = new zmq.Router({ linger: 0 });
      await router.bind(endpoint);
      await next("ready");
      link.send([Buffer.alloc(0), Buffer.from("again")]);
      const [, , body] = await router.receive();
      assert.equal(body?.toString(), "again");
      router.close();
    } finally {
      link.close();
    }
  });

  it("answers libzmq's heartbeats: a silent connection outlives a 100 ms PING and 1 s timeout", async () => {
    // The timeout is long enough that a busy test machine stalling this loop cannot cause a drop.
    const router = new zmq.Router({ linger: 0, heartbeatInterval: 100, heartbeatTimeout: 1000 });
    const disconnects: string[] = [];
    router.events.on("disconnect", (event) => disconnects.push(event.type));
    try {
      await router.bind("tcp://127.0.0.1:*");
      const { link, next, seen } = watched(addressOf(router.lastEndpoint as string));
      try {
        await next("ready");
        // What is tested is time passing with no message: libzmq drops a peer that does not
        // answer its PINGs within the timeout. Two and a half timeouts of silence.
        await new Promise<void>((resolve) => setTimeout(resolve, 2500));
        link.send([Buffer.alloc(0), Buffer.from("still here")]);
        const [, , body] = await router.receive();
        assert.equal(body?.toString(), "still here");
        assert.deepEqual(disconnects, []);
        assert.deepEqual(
          seen.map((event) => event.kind),
          ["ready"],
        );
      } finally {
        link.close();
      }
    } finally {
      router.close();
    }
  });

  it("a CURVE server, or a socket a DEALER cannot talk to, is unsupported: nothing is sent", async () => {
    const keys = zmq.curveKeyPair();
    const curve = new zmq.Router({ linger: 0, curveServer: true, curveSecretKey: keys.secretKey });
    const pub = new zmq.Publisher({ linger: 0 });
    try {
      await curve.bind("tcp://127.0.0.1:*");
      await pub.bind("tcp://127.0.0.1:*");
      const toCurve = watched(addressOf(curve.lastEndpoint as string));
      // libzmq closes a NULL client at once, after its signature alone: the mechanism is never seen.
      assert.match(String((await toCurve.next("unsupported")).detail), /closed the connection in the handshake/);
      const toPub = watched(addressOf(pub.lastEndpoint as string));
      assert.match(String((await toPub.next("unsupported")).detail), /the peer is a PUB/);
      assert.equal(toPub.link.ready, false);
      assert.equal(toPub.link.send([Buffer.from("x")]), false);
      assert.deepEqual(
        [...toCurve.seen, ...toPub.seen].map((event) => event.kind),
        ["unsupported", "unsupported"],
      );
    } finally {
      curve.close();
      pub.close();
    }
  });
});

/** A hand-written ZMTP peer on a real tcp socket: `script` gets each connection. */
async function handWritten(script: (socket: Socket) => void): Promise<{ server: Server; address: ZmtpAddress }> {
  const server = createServer(script);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return { server, address: { host: "127.0.0.1", port } };
}

describe("ZMTP connection to hand-written peers", { timeout: 20_000 }, () => {
  const servers: Server[] = [];
  after(() => {
    for (const server of servers) server.close();
  });

  it("answers PING with a PONG carrying the PING's context", async () => {
    let pong: Promise<Buffer> | undefined;
    const { server, address } = await handWritten((socket) => {
      socket.write(Buffer.concat([greeting(), ready("ROUTER"), encodeCommand("PING", Buffer.from("\x00\x0actx-42"))]));
      const reader = new ZmtpReader(LIMITS);
      pong = new Promise((resolve) => {
        socket.on("data", (chunk: Buffer) => {
          for (const input of reader.push(chunk))
            if (input.kind === "command" && input.name === "PONG") resolve(input.data);
        });
      });
    });
    servers.push(server);
    const { link, next } = watched(address);
    try {
      await next("ready");
      while (!pong) await new Promise<void>((resolve) => setImmediate(resolve));
      assert.equal((await pong).toString(), "ctx-42");
    } finally {
      link.close();
    }
  });

  it("an ERROR in the handshake (a refusal) is unsupported, with its reason", async () => {
    const { server, address } = await handWritten((socket) => {
      socket.write(Buffer.concat([greeting(), encodeCommand("ERROR", Buffer.from("\x06denied"))]));
    });
    servers.push(server);
    const { next } = watched(address);
    assert.match(String((await next("unsupported")).detail), /refused the handshake: denied/);
  });

  it("garbage after the handshake drops the connection, which is made again", async () => {
    let connections = 0;
    const { server, address } = await handWritten((socket) => {
      connections++;
      socket.write(Buffer.concat([greeting(), ready("ROUTER")]));
      if (connections === 1) socket.write(Buffer.from([0xf0, 0xf0, 0xf0]));
      else socket.write(message([Buffer.alloc(0), Buffer.from("fine")]));
    });
    servers.push(server);
    const { link, next } = watched(address);
    try {
      // The first READY may come in the chunk with the garbage: that connection is never ready.
      await next("dropped");
      await next("ready");
      const frames = (await next("message")).detail as Buffer[];
      assert.equal(frames[1]?.toString(), "fine");
      assert.equal(connections, 2);
    } finally {
      link.close();
    }
  });

  it("a READY that comes in one chunk with bad bytes is never announced: the first event is the drop", async () => {
    let connections = 0;
    const { server, address } = await handWritten((socket) => {
      connections++;
      const garbage = connections === 1 ? Buffer.from([0xf0, 0xf0, 0xf0]) : Buffer.alloc(0);
      socket.write(Buffer.concat([greeting(), ready("ROUTER"), garbage]));
    });
    servers.push(server);
    const { link, next, seen } = watched(address);
    try {
      await next("ready");
      // An owner told "ready" on the first connection would send into a connection already dying.
      assert.deepEqual(
        seen.map((event) => event.kind),
        ["dropped", "ready"],
      );
      assert.equal(connections, 2);
    } finally {
      link.close();
    }
  });

  it("the handshake deadline is fixed: a peer that trickles its greeting a byte at a time is dropped", async () => {
    let connections = 0;
    let firstClosed: Promise<boolean> | undefined;
    const { server, address } = await handWritten((socket) => {
      connections++;
      if (connections > 1) {
        socket.write(Buffer.concat([greeting(), ready("ROUTER")]));
        return;
      }
      // 64 bytes 20 ms apart: 1.3 s of steady progress, against a 200 ms deadline.
      const bytes = greeting();
      let sent = 0;
      socket.on("error", () => {}); // our close: the next write meets EPIPE
      const timer = setInterval(() => {
        if (sent < bytes.length) socket.write(bytes.subarray(sent, ++sent));
      }, 20);
      firstClosed = new Promise((resolve) =>
        socket.on("close", () => {
          clearInterval(timer);
          resolve(sent < bytes.length);
        }),
      );
    });
    servers.push(server);
    const { link, next, seen } = watched(address, true, undefined, 200);
    try {
      await next("ready");
      assert.equal(await firstClosed, true, "closed before the greeting was all sent");
      assert.equal(connections, 2);
      assert.ok(!seen.some((event) => event.kind === "unsupported"));
    } finally {
      link.close();
    }
  });

  it("ZMTP 1.0 and 2.0 peers (which wait after their first bytes) and a PING before READY are unsupported", async () => {
    const zmtp1 = await handWritten((socket) => socket.write(Buffer.from([0x01, 0x00])));
    const zmtp2 = await handWritten((socket) =>
      socket.write(Buffer.concat([greeting().subarray(0, 10), Buffer.from([0x01, 0x05])])),
    );
    const early = await handWritten((socket) => socket.write(Buffer.concat([greeting(), encodeCommand("PING")])));
    servers.push(zmtp1.server, zmtp2.server, early.server);
    assert.match(String((await watched(zmtp1.address).next("unsupported")).detail), /ZMTP 1\.0/);
    assert.match(String((await watched(zmtp2.address).next("unsupported")).detail), /revision 1/);
    assert.match(String((await watched(early.address).next("unsupported")).detail), /PING command in the handshake/);
  });

  it("once a handshake completed, a refused one later is a drop: it keeps reconnecting", async () => {
    let connections = 0;
    const { server, address } = await handWritten((socket) => {
      connections++;
      if (connections === 1 || connections >= 4) {
        socket.write(Buffer.concat([greeting(), ready("ROUTER")]));
        if (connections === 1) {
          // Dropped once our READY is in (our greeting is 64 bytes, our READY 43).
          let received = 0;
          socket.on("data", (chunk: Buffer) => {
            received += chunk.length;
            if (received >= 64 + 43) setImmediate(() => socket.destroy());
          });
        }
      } else {
        socket.once("data", () => socket.destroy()); // closed after our greeting, as a proxy might
      }
    });
    servers.push(server);
    const { link, next, seen } = watched(address);
    try {
      await next("ready");
      await next("dropped");
      await next("ready");
      assert.ok(connections >= 4, `${connections} connections`);
      assert.ok(!seen.some((event) => event.kind === "unsupported"));
    } finally {
      link.close();
    }
  });

  it("a message that comes with bad bytes: a send its handler makes is refused, not written to the dying connection", async () => {
    let connections = 0;
    const { server, address } = await handWritten((socket) => {
      connections++;
      socket.write(Buffer.concat([greeting(), ready("ROUTER")]));
      // A reply and garbage in one write: the reply's handler runs before the connection closes.
      if (connections === 1) {
        socket.write(Buffer.concat([message([Buffer.from("reply")]), Buffer.from([0x80, 0x00])]));
      }
    });
    servers.push(server);
    const sends: boolean[] = [];
    // In the handler, and in what its promise's continuation does (a microtask, before "close").
    const { link, next } = watched(address, false, (connection) => {
      sends.push(connection.send([Buffer.from("next")]));
      queueMicrotask(() => sends.push(connection.send([Buffer.from("later")])));
    });
    try {
      await next("message");
      await new Promise<void>((resolve) => queueMicrotask(resolve));
      assert.deepEqual(sends, [false, false]);
      await next("dropped");
      await next("ready");
      assert.equal(connections, 2);
    } finally {
      link.close();
    }
  });

  it("persistent: a close before the peer sent a byte is a drop (a proxy with its backend down), retried", async () => {
    let connections = 0;
    const { server, address } = await handWritten((socket) => {
      connections++;
      if (connections < 3) socket.destroy();
      else socket.write(Buffer.concat([greeting(), ready("ROUTER")]));
    });
    servers.push(server);
    const { link, next, seen } = watched(address, true);
    try {
      await next("ready");
      assert.equal(connections, 3);
      assert.ok(!seen.some((event) => event.kind === "unsupported"));
    } finally {
      link.close();
    }
  });

  it("persistent: a refusal with a reason after a completed handshake is unsupported (the owner moves on)", async () => {
    let connections = 0;
    const { server, address } = await handWritten((socket) => {
      connections++;
      if (connections === 1) {
        socket.write(Buffer.concat([greeting(), ready("ROUTER")]));
        setImmediate(() => socket.destroy());
      } else {
        socket.write(Buffer.concat([greeting(), encodeCommand("ERROR", Buffer.from("\x06denied"))]));
      }
    });
    servers.push(server);
    const { next } = watched(address, true);
    await next("ready");
    await next("dropped");
    assert.match(String((await next("unsupported")).detail), /refused the handshake: denied/);
    // A CURVE server restarted in its place: libzmq sends its signature and closes.
    let curveConnections = 0;
    const curve = await handWritten((socket) => {
      curveConnections++;
      if (curveConnections === 1) {
        socket.write(Buffer.concat([greeting(), ready("ROUTER")]));
        setImmediate(() => socket.destroy());
      } else socket.end(greeting().subarray(0, 10));
    });
    servers.push(curve.server);
    const restarted = watched(curve.address, true);
    await restarted.next("ready");
    assert.match(String((await restarted.next("unsupported")).detail), /closed the connection in the handshake/);
  });
});
