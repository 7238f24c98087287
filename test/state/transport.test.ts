/**
 * How a State's messages travel: plain-JavaScript ZMTP to a NULL server on tcp and ipc,
 * zeromq.js for CURVE and inproc, and the fall back to zeromq.js, before anything is sent, when
 * the first handshake finds a server the plain connection does not speak. The State suites in
 * state.test.ts run on both transports; these are the cases where the two differ.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { connect, createServer, type Socket } from "node:net";
import { join } from "node:path";
import { describe, test } from "node:test";
import { pathToFileURL } from "node:url";
import type { PendingWork } from "../../src/core/peers.js";
import { Authenticator, generateKeyPair, Router } from "../../src/index.js";
import { State, StateServer } from "../../src/state/index.js";
import { StateLink } from "../../src/state/link.js";
import { type LinkTransport, openTransport } from "../../src/state/transport.js";
import { distDir, freshEndpoint, networkTransports } from "../helpers.js";

const T = { timeout: 20_000 };

/** A transport that nobody listens on for messages (the choice is all these look at). */
/** The calls open on each quiet transport, as a link would keep them. */
const openCalls = new WeakMap<LinkTransport, Set<PendingWork>>();

function quiet(address: string, choice: "auto" | "zeromq", security?: Parameters<typeof openTransport>[1]) {
  const open = new Set<PendingWork>();
  const transport = openTransport(address, security, choice, {
    message: () => {},
    busy: () => false,
    open: () => open,
  });
  openCalls.set(transport, open);
  return transport;
}

/** Resolves when `transport` fails the work it tracks (a refused handshake). */
function refusal(transport: LinkTransport): Promise<Error> {
  return new Promise((resolve) => {
    const work = { fail: resolve };
    openCalls.get(transport)?.add(work);
    transport.track(work);
  });
}

describe("the State's transport", () => {
  test("auto picks plain-JavaScript ZMTP for NULL on tcp and ipc, zeromq.js for the rest", T, async () => {
    const serverKey = generateKeyPair().publicKey;
    // Bound: a zeromq.js socket closed with an inproc connection still pending keeps the process alive.
    await using inproc = new Router({ linger: 0 });
    const inprocAddress = await inproc.bind(freshEndpoint("inproc"));
    const cases: [string, "auto" | "zeromq", Parameters<typeof openTransport>[1], string][] = [
      ["tcp://127.0.0.1:1", "auto", undefined, "zmtp"],
      [freshEndpoint("ipc"), "auto", undefined, "zmtp"],
      ["tcp://localhost:1", "auto", undefined, "zmtp"],
      [inprocAddress, "auto", undefined, "zeromq"],
      ["ipc://@zerokit-abstract-test", "auto", undefined, "zeromq"],
      ["tcp://127.0.0.1:1", "auto", { curve: { serverKey } }, "zeromq"],
      ["tcp://127.0.0.1:1", "zeromq", undefined, "zeromq"],
    ];
    for (const [address, choice, security, kind] of cases) {
      const transport = quiet(address, choice, security);
      assert.equal(transport.kind, kind, `${address} ${choice}`);
      transport.close();
    }
  });

  test("State rejects a transport it does not know, naming the option", T, () => {
    assert.throws(
      () => new State("tcp://127.0.0.1:1", { transport: "udp" as never }),
      (error: Error) => error.name === "InvalidArgumentError" && /transport/.test(error.message),
    );
  });

  for (const transport of networkTransports) {
    test(`over ${transport}: a State without keys to a CURVE server falls back and gets EAUTH`, T, async () => {
      const keys = generateKeyPair();
      await using server = await StateServer.start(freshEndpoint(transport), { security: { curve: keys } });
      const link = quiet(server.address, "auto");
      assert.equal(link.kind, "zmtp");
      const failed = refusal(link);
      link.post(Buffer.from("never sent over ZMTP"));
      assert.equal((await failed).name, "AuthenticationError");
      assert.equal(link.kind, "zeromq");
      link.close();
      await using state = new State(server.address, { timeout: 5000 });
      await assert.rejects(state.get("k"), { name: "AuthenticationError" });
    });
  }

  for (const transport of networkTransports) {
    test(`over ${transport}: a NULL server stays on plain-JavaScript ZMTP through its calls`, T, async () => {
      await using server = await StateServer.start(freshEndpoint(transport));
      await using link = new StateLink(server.address, { timeout: 5000, heartbeat: 500 });
      const replies = await Promise.all([link.call("ping", [""]), link.call("ping", [""]), link.call("ping", [""])]);
      assert.deepEqual(
        replies.map((reply) => (reply as unknown[])[0]),
        ["pong", "pong", "pong"],
      );
      assert.equal(link.transportKind, "zmtp");
    });
  }

  test("a server replaced by one whose authenticator denies us: EAUTH at once, not time-outs", T, async () => {
    // Behind a proxy, so the server "restarts" at the same address without waiting for libzmq
    // to release a closed listener's port.
    await using server = await StateServer.start(freshEndpoint("tcp"));
    await using auth = new Authenticator({ deny: ["127.0.0.1"], onRefusal: () => {} });
    await using denying = await StateServer.start(freshEndpoint("tcp"), { security: { authenticator: auth } });
    const proxy = await tcpProxy(portOf(server.address));
    try {
      await using state = new State(proxy.address, { timeout: 3000, heartbeat: false });
      await state.set("k", 1);
      proxy.retarget(portOf(denying.address));
      const reconnected = proxy.nextConnection();
      proxy.cut();
      await reconnected;
      const started = performance.now();
      await assert.rejects(state.get("k"), { name: "AuthenticationError" });
      assert.ok(performance.now() - started < 2500, `${performance.now() - started} ms`);
    } finally {
      proxy.close();
    }
  });

  test("a NULL server whose authenticator denies the address: the State gets EAUTH", T, async () => {
    await using auth = new Authenticator({ deny: ["127.0.0.1"], onRefusal: () => {} });
    await using server = await StateServer.start(freshEndpoint("tcp"), { security: { authenticator: auth } });
    await using state = new State(server.address, { timeout: 5000 });
    await assert.rejects(state.get("k"), { name: "AuthenticationError" });
  });

  for (const transport of networkTransports) {
    test(`over ${transport}: a call made before the server binds goes out when it does`, T, async () => {
      const address = await unboundEndpoint(transport);
      await using state = new State(address, { timeout: 10_000 });
      const reply = state.set("early", 1);
      // The call waits in the transport's queue while connections are refused.
      await using server = await StateServer.start(address);
      await reply;
      assert.equal(await state.get("early"), 1);
      assert.equal(server.stats().keys, 1);
    });

    test(`over ${transport}: after the server restarts, calls reconnect`, T, async () => {
      const address = await unboundEndpoint(transport);
      const proxy = transport === "tcp" ? await tcpProxy(0) : undefined;
      // Over tcp a proxy stands for the address, so the new server need not wait for libzmq to
      // release the old one's port; over ipc the new server binds the same path.
      const target = proxy?.address ?? address;
      await using state = new State(target, { timeout: 500, heartbeat: false });
      {
        await using server = await StateServer.start(transport === "tcp" ? freshEndpoint("tcp") : address);
        proxy?.retarget(portOf(server.address));
        await state.set("k", 1);
        server.close();
        proxy?.cut();
      }
      await using again = await StateServer.start(transport === "tcp" ? freshEndpoint("tcp") : address);
      proxy?.retarget(portOf(again.address));
      try {
        // A call written before this process saw the old connection close is lost with it (as
        // with libzmq), and times out: the State reconnects on its own, and a later call succeeds.
        for (let tries = 0; ; tries++) {
          try {
            await state.set("k", 2);
            break;
          } catch (error) {
            assert.equal((error as Error).name, "TimeoutError");
            assert.ok(tries < 10, "the State never reconnected");
          }
        }
        assert.equal(await state.get("k"), 2);
        assert.equal(again.stats().keys, 1);
      } finally {
        proxy?.close();
      }
    });
  }

  test("what waits for a connection is bounded: past 100,000 messages a post fails with EQUEUEFULL", T, async () => {
    const link = quiet(await unboundEndpoint("tcp"), "auto");
    try {
      const errors: Error[] = [];
      for (let i = 0; i < 100_001; i++) link.post(Buffer.from([i & 0xff]), (error) => errors.push(error));
      assert.deepEqual(
        errors.map((error) => (error as Error & { code: string }).code),
        ["EQUEUEFULL"],
      );
    } finally {
      link.close();
    }
  });

  test("connections cut under a State: the next call reconnects and finds the same server", T, async () => {
    await using server = await StateServer.start(freshEndpoint("tcp"));
    const proxy = await tcpProxy(portOf(server.address));
    try {
      await using state = new State(proxy.address, { timeout: 10_000 });
      await state.set("k", 1);
      assert.equal(proxy.connections(), 1);
      const reconnected = proxy.nextConnection();
      proxy.cut();
      // Once the State has reconnected, its call waits for the handshake rather than going to the old connection.
      await reconnected;
      assert.equal(await state.get("k"), 1);
      assert.equal(proxy.connections(), 2);
    } finally {
      proxy.close();
    }
  });

  test("an idle State does not keep its process alive (plain-JavaScript ZMTP)", T, async () => {
    await using server = await StateServer.start(freshEndpoint("tcp"));
    for (const address of [server.address, server.address.replace("127.0.0.1", "dual.test")]) {
      const idle = await runScript(CHILD, [address, "auto", "idle"], 10_000);
      assert.equal(idle.killed, false, `${address}: ${idle.output}`);
      assert.equal(idle.code, 0, idle.output);
      assert.match(idle.output, /^set\n$/);
      // Never used: its connection is made while nothing holds it.
      const unused = await runScript(CHILD, [address, "auto", "unused"], 10_000);
      assert.equal(unused.killed, false, `${address}: ${unused.output}`);
      assert.match(unused.output, /^unused\n$/);
    }
  });

  for (const via of ["auto", "zeromq"] as const) {
    test(`${via}: a call waiting for its reply keeps the process alive until its timeout`, T, async () => {
      // A server that takes requests and never answers.
      await using mute = new Router({ linger: 0 });
      const muted = await mute.bind("tcp://127.0.0.1:*");
      const waiting = await runScript(CHILD, [muted, via, "wait"], 10_000);
      assert.equal(waiting.killed, false, waiting.output);
      assert.match(waiting.output, /^TimeoutError\n$/);
      assert.ok(waiting.elapsedMs >= 1000, `exited after ${waiting.elapsedMs} ms`);
    });
  }
});

/** The child of the lifetime tests: one write then nothing, or one read nobody answers. */
const CHILD = `
  const [address, transport, mode] = process.argv.slice(1);
  if (address.includes("dual.test")) {
    // A host name with an IPv6 and an IPv4 address, as localhost has on most systems: node:net
    // tries them one socket handle after another.
    const dns = (await import("node:dns")).default;
    const lookup = dns.lookup;
    dns.lookup = function (host, options, callback) {
      if (host !== "dual.test") return lookup.apply(this, arguments);
      if (typeof options === "function") [callback, options] = [options, {}];
      const all = [{ address: "::1", family: 6 }, { address: "127.0.0.1", family: 4 }];
      process.nextTick(() => (options.all ? callback(null, all) : callback(null, "127.0.0.1", 4)));
    };
  }
  const { State } = await import(${JSON.stringify(pathToFileURL(join(distDir, "src", "state", "index.js")).href)});
  const state = new State(address, { transport, timeout: 1000 });
  if (mode === "idle") {
    await state.set("k", 1);
    console.log("set");
  } else if (mode === "unused") {
    console.log("unused");
  } else {
    // Nothing but the waiting call holds the process here (the State is closed once it ends).
    state.get("k").catch((error) => console.log(error.name)).finally(() => state.close());
  }
`;

async function runScript(code: string, args: string[], limitMs: number) {
  const started = performance.now();
  const child = spawn(process.execPath, ["--input-type=module", "-e", code, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk;
  });
  child.stderr.on("data", (chunk: Buffer) => {
    output += chunk;
  });
  let killed = false;
  const killer = setTimeout(() => {
    killed = true;
    child.kill("SIGKILL");
  }, limitMs);
  const code_ = await new Promise<number | null>((resolve) => child.on("close", resolve));
  clearTimeout(killer);
  return { code: code_, output, killed, elapsedMs: performance.now() - started };
}

/** An endpoint nothing is bound to yet (tcp: a port the kernel just handed out and took back). */
async function unboundEndpoint(transport: "tcp" | "ipc"): Promise<string> {
  if (transport === "ipc") return freshEndpoint("ipc");
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return `tcp://127.0.0.1:${port}`;
}

function portOf(address: string): number {
  return Number(address.slice(address.lastIndexOf(":") + 1));
}

/** A TCP proxy on loopback to `port` (`retarget` changes it); `cut()` destroys every connection through it. */
async function tcpProxy(port: number) {
  const pairs = new Set<[Socket, Socket]>();
  let connections = 0;
  let onConnection: (() => void) | undefined;
  let upstreamPort = port;
  const server = createServer((client) => {
    connections++;
    onConnection?.();
    const upstream = connect(upstreamPort, "127.0.0.1");
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port: own } = server.address() as { port: number };
  return {
    address: `tcp://127.0.0.1:${own}`,
    connections: () => connections,
    retarget(to: number) {
      upstreamPort = to;
    },
    nextConnection: () =>
      new Promise<void>((resolve) => {
        onConnection = resolve;
      }),
    cut() {
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
    },
    close() {
      this.cut();
      server.close();
    },
  };
}
