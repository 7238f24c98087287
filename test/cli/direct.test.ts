/**
 * The plain call's direct path (src/cli/direct.ts, ZMTP without zeromq.js): it prints what the
 * zeromq.js path prints, case by case, run in-process side by side against the same servers
 * (real zerokit servers, and raw zeromq.js ROUTERs playing a silent, dying or hostile server);
 * it hands a server it cannot speak to back before sending anything; Ctrl-C cancels the call.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as zmq from "zeromq";
import { directCall, directTarget, FALLBACK } from "../../src/cli/direct.js";
import { quickRpcArgs } from "../../src/cli/quick.js";
import { type Io, type RpcArgs, runRpc } from "../../src/cli/rpc.js";
import { encodeCommand, encodeGreeting, encodeProperties } from "../../src/core/zmtp.js";
import { currentCall } from "../../src/rpc/context.js";
import { DEFAULT_MAX_MESSAGE, decodeEvent, encodeEvent, type RpcEvent } from "../../src/rpc/protocol.js";
import { RpcServer } from "../../src/rpc/server.js";
import { anchorTs, Cli, distDir, freshEndpoint, networkTransports, runNode, startServer } from "../helpers.js";

/** What a call printed, and its exit status. */
interface Printed {
  status: number | typeof FALLBACK;
  stdout: string;
  stderr: string;
}

function capture(interrupt?: Promise<void>): { io: Io; printed: () => { stdout: string; stderr: string } } {
  let stdout = "";
  let stderr = "";
  const io: Io = {
    prog: "zerokit rpc",
    stdout: (text, newline = true) => {
      stdout += newline ? `${text}\n` : text;
    },
    stderr: (text) => {
      stderr += `${text}\n`;
    },
    stdoutIsTty: false,
    usage: () => "usage",
    interrupted: () => (interrupt ? interrupt.then(() => "SIGINT" as const) : new Promise(() => {})),
  };
  return { io, printed: () => ({ stdout, stderr }) };
}

function plain(words: string[], overrides: Partial<RpcArgs> = {}): RpcArgs {
  return { ...(quickRpcArgs(words) as RpcArgs), ...overrides };
}

async function direct(args: RpcArgs, interrupt?: Promise<void>): Promise<Printed> {
  const target = directTarget(args);
  assert.ok(target, `the direct path takes ${args.address}`);
  const { io, printed } = capture(interrupt);
  const status = await directCall(target, args, io);
  return { status, ...printed() };
}

async function viaZeromq(args: RpcArgs): Promise<Printed> {
  const { io, printed } = capture();
  const status = await runRpc(args, io);
  return { status, ...printed() };
}

/** Runs the call on both paths, one after the other; asserts they printed the same. */
async function same(args: RpcArgs): Promise<Printed> {
  const one = await direct(args);
  const other = await viaZeromq(args);
  assert.deepEqual(one, other, "the direct path prints what the zeromq.js path prints");
  return one;
}

const EMPTY = Buffer.alloc(0);

/** How a {@link rawServer} answers one request: a reply on the call's channel, or any frames. */
interface Answer {
  event: RpcEvent;
  reply: (name: string, args: unknown, responseTo?: unknown) => Promise<void>;
  send: (frames: Buffer[]) => Promise<void>;
}

/** A raw zeromq.js ROUTER playing a zerorpc server; without `answer` it never answers. */
async function rawServer(answer?: (request: Answer) => Promise<void>) {
  const router = new zmq.Router({ linger: 0 });
  await router.bind("tcp://127.0.0.1:*");
  if (answer) {
    void (async () => {
      for await (const [identity, , request] of router) {
        const event = decodeEvent(request as Buffer);
        const send = (frames: Buffer[]) => router.send([identity as Buffer, ...frames]);
        const reply = (name: string, args: unknown, responseTo: unknown = event.header.message_id) =>
          send([
            EMPTY,
            encodeEvent({ message_id: Buffer.from("x"), v: 3, response_to: responseTo as Buffer }, name, args),
          ]);
        await answer({ event, reply, send });
      }
    })().catch(() => {});
  }
  return { endpoint: router.lastEndpoint as string, close: () => router.close() };
}

/**
 * A peer like a proxy in front of a restarting server: the first connection completes its
 * handshake, takes the request and drops; every later one is closed as soon as our greeting
 * arrives. One per call made, so that no late connection of another call takes the first.
 */
async function proxyLike() {
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    if (connections > 1) {
      socket.once("data", () => socket.destroy());
      return;
    }
    const ready = encodeCommand("READY", encodeProperties(new Map([["Socket-Type", Buffer.from("ROUTER")]])));
    const greeting = encodeGreeting();
    greeting[32] = 1;
    socket.write(Buffer.concat([greeting, ready]));
    let received = 0;
    socket.on("data", (chunk: Buffer) => {
      received += chunk.length;
      if (received > 64 + 43) socket.destroy(); // past our greeting and READY: the request
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const endpoint = `tcp://127.0.0.1:${(server.address() as { port: number }).port}`;
  return { server, endpoint, connections: () => connections };
}

describe("the plain call's direct path", { timeout: 30_000 }, () => {
  const servers: RpcServer[] = [];
  const endpoints = new Map<string, string>();
  let started = 0;

  before(async () => {
    for (const transport of networkTransports) {
      const server = new RpcServer(
        {
          echo: (x: unknown) => x,
          count: function* (n: string) {
            for (let i = 0; i < Number(n); i++) yield i;
          },
          fail: (message: string) => {
            throw new TypeError(message);
          },
          started: () => ++started,
        },
        { name: "direct" },
      );
      servers.push(server);
      endpoints.set(transport, await server.bind(freshEndpoint(transport)));
    }
  });

  after(() => {
    for (const server of servers) server.close();
  });

  for (const transport of networkTransports) {
    it(`${transport}: a reply, a stream past the credit window, a remote error, an unknown method`, async () => {
      const endpoint = endpoints.get(transport) as string;
      assert.deepEqual(await same(plain([endpoint, "echo", "hello"])), {
        status: 0,
        stdout: "'hello'\n",
        stderr: `connecting to "${endpoint}"\n`,
      });
      const counted = await same(plain([endpoint, "count", "250"]));
      assert.equal(counted.stdout, `${Array.from({ length: 250 }, (_, i) => i).join("\n")}\n`);
      const failed = await same(plain([endpoint, "fail", "no luck"]));
      assert.equal(failed.status, 1);
      assert.match(failed.stderr, /^TypeError: no luck$/m);
      const unknown = await same(plain([endpoint, "nosuch"]));
      assert.equal(unknown.status, 1);
      assert.match(unknown.stderr, /^NameError: nosuch$/m);
    });
  }

  it("a server that never answers: the call times out (as TimeoutExpired, after the call's timeout)", async () => {
    const silent = await rawServer();
    try {
      const printed = await same(plain([silent.endpoint, "anything"], { timeout: 0.3 }));
      assert.equal(printed.status, 1);
      assert.match(printed.stderr, /^TimeoutExpired: timeout after 0\.3s, when calling remote method anything$/m);
    } finally {
      silent.close();
    }
  });

  it("a server that stops beating after its first beat: LostRemote after two periods", async () => {
    const dying = await rawServer(({ reply }) => reply("_zpc_hb", [0]));
    try {
      const printed = await same(plain([dying.endpoint, "slow"], { heartbeat: 0.1 }));
      assert.equal(printed.status, 1);
      assert.match(
        printed.stderr,
        /^LostRemote: lost remote after 0\.2s without heartbeat, when calling remote method slow$/m,
      );
    } finally {
      dying.close();
    }
  });

  it("a hostile server: garbage and replies to other calls are passed over; a malformed reply fails the call", async () => {
    const hostile = await rawServer(async ({ event, reply, send }) => {
      if (event.name === "_zpc_hb" || event.name === "_zpc_more") return;
      await send([Buffer.from([0xc1, 0xc1])]);
      await send([EMPTY, Buffer.from([0xde, 0xad, 0xbe])]);
      await reply("OK", ["for someone else"], Buffer.from("zk-0000deadbeef"));
      await reply("OK", ["for nobody"], Buffer.from("nobody"));
      await reply("OK", "not a tuple");
    });
    try {
      const printed = await same(plain([hostile.endpoint, "evil"], { timeout: 5 }));
      assert.equal(printed.status, 1);
      assert.match(printed.stderr, /^ProtocolError: OK must carry \[result\], got /m);
    } finally {
      hostile.close();
    }
  });

  it("a reply over the client's message limit fails the call with MessageTooLargeError", async () => {
    const generous = await rawServer(async ({ event, reply }) => {
      if (!event.name.startsWith("_zpc")) await reply("OK", [Buffer.alloc(DEFAULT_MAX_MESSAGE + 1)]);
    });
    try {
      const printed = await same(plain([generous.endpoint, "big"], { timeout: 10 }));
      assert.equal(printed.status, 1);
      assert.match(
        printed.stderr,
        /^MessageTooLargeError: message of \d+ bytes exceeds the limit of 104857600 bytes$/m,
      );
    } finally {
      generous.close();
    }
  });

  it("a connection lost after the request, then refused in its handshakes, ends in TimeoutExpired", async () => {
    const inProcess = await proxyLike();
    const ownProcess = await proxyLike();
    try {
      const printed = await direct(plain([inProcess.endpoint, "hello"], { timeout: 0.5 }));
      assert.deepEqual(printed, {
        status: 1,
        stdout: "",
        stderr: `connecting to "${inProcess.endpoint}"\nTimeoutExpired: timeout after 0.5s, when calling remote method hello\n`,
      });
      assert.ok(inProcess.connections() >= 3, `it kept reconnecting (${inProcess.connections()} connections)`);
      // In a process of its own: while the call waits, nothing may let the process end early.
      const child = await runNode(
        join(distDir, "test", "fixtures", "direct-call.js"),
        [ownProcess.endpoint, "hello", "0.5"],
        20_000,
      );
      assert.equal(child.code, 1, child.output);
      assert.match(child.output, /^TimeoutExpired: timeout after 0\.5s/m);
    } finally {
      inProcess.server.close();
      ownProcess.server.close();
    }
  });

  it("Ctrl-C on the direct path cancels the call on the server and exits 130", async () => {
    let started: () => void = () => {};
    const running = new Promise<void>((resolve) => {
      started = resolve;
    });
    let aborted: Promise<unknown> | undefined;
    const server = new RpcServer(
      {
        hang: async () => {
          const signal = currentCall()?.signal as AbortSignal;
          aborted = once(signal, "abort");
          started();
          await aborted;
        },
      },
      { heartbeat: 30_000 },
    );
    try {
      const endpoint = await server.bind("tcp://127.0.0.1:*");
      const call = direct(plain([endpoint, "hang"]), running);
      const printed = await call;
      assert.deepEqual(printed, { status: 130, stdout: "", stderr: `connecting to "${endpoint}"\ninterrupted\n` });
      await aborted; // the handler's signal aborted: the cancel reached it (heartbeats are 30 s apart)
    } finally {
      server.close();
    }
  });

  it("a server it cannot speak to (CURVE, a PUB) goes back to zeromq.js before anything is sent", async () => {
    const keys = zmq.curveKeyPair();
    const curve = new RpcServer({ started: () => ++started }, { security: { curve: { secretKey: keys.secretKey } } });
    const pub = new zmq.Publisher({ linger: 0 });
    try {
      const before = started;
      const curveEndpoint = await curve.bind("tcp://127.0.0.1:*");
      await pub.bind("tcp://127.0.0.1:*");
      for (const endpoint of [curveEndpoint, pub.lastEndpoint as string]) {
        const printed = await direct(plain([endpoint, "started"]));
        assert.deepEqual(printed, { status: FALLBACK, stdout: "", stderr: `connecting to "${endpoint}"\n` });
      }
      assert.equal(started, before, "the method never ran");
    } finally {
      curve.close();
      pub.close();
    }
  });

  it("takes tcp and ipc addresses only; a listing, NODE/PORT or a bad address go to zeromq.js", () => {
    assert.deepEqual(directTarget(plain(["tcp://127.0.0.1:4242", "m"])), { host: "127.0.0.1", port: 4242 });
    assert.deepEqual(directTarget(plain(["tcp://[::1]:4242", "m"])), { host: "::1", port: 4242 });
    assert.deepEqual(directTarget(plain(["tcp://localhost:4242", "m"])), { host: "localhost", port: 4242 });
    assert.deepEqual(directTarget(plain(["ipc:///tmp/x.sock", "m"])), { path: "/tmp/x.sock" });
    for (const words of [
      ["tcp://127.0.0.1:4242"],
      ["calc-node/calc", "m"],
      ["inproc://x", "m"],
      ["ipc://@abstract", "m"],
      ["nonsense", "m"],
      ["tcp://127.0.0.1:*", "m"],
    ]) {
      assert.equal(directTarget(plain(words)), undefined, words.join(" "));
    }
  });
});

describe("the plain call's direct path from the command line", { timeout: 30_000 }, () => {
  it("Ctrl-C cancels the running call on the server and exits 130", async () => {
    const server = await startServer(["-d", "--bind", "tcp://127.0.0.1:0", anchorTs]);
    try {
      const client = new Cli(["rpc", server.address, "sleep", "30"]);
      await client.waitFor("stderr", /^connecting to /m);
      await server.cli.waitFor("stderr", /^<-- sleep /m);
      client.child.kill("SIGINT");
      const { code } = await client.exited;
      assert.equal(code, 130, client.stderr);
      assert.match(client.stderr, /^interrupted$/m);
      await server.cli.waitFor("stderr", /^<-- _zerokit_cancel /m);
    } finally {
      await server.cli.stop();
    }
  });
});
