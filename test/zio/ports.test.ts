/**
 * Ports and nodes in one process: binds and connects of every form and the headers they publish,
 * ZIO's ROUTER/DEALER framing, origin stamping and replies routed back, malformed messages (the
 * port keeps working), connect by name before and after the other node is online, offline then
 * online again.
 */
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { describe, test } from "node:test";
import * as zmq from "zeromq";
import {
  InvalidArgumentError,
  Message,
  NotSupportedError,
  Port,
  PortStateError,
  ProtocolError,
} from "../../src/zio/index.js";
import { freshEndpoint } from "../helpers.js";
import { loNode, nextChange, online, randomPort } from "./util.js";

const text = (label: string, payload = label) => new Message({ form: "TEXT", label, payload: [payload] });

describe("zio Port binds and connects", () => {
  test("every bind form, and the headers published", { timeout: 10_000 }, async () => {
    await using port = new Port("spigot", "PULL", { hostname: "127.0.0.1" });
    const ipc = freshEndpoint("ipc");
    const inproc = freshEndpoint("inproc");
    port.bind(); // ephemeral TCP on the hostname
    port.bind(ipc);
    port.bind("127.0.0.1", 0);
    port.bind(inproc);
    port.addHeaders({ greeting: "hi", n: 3 });
    port.addHeaders(new Map([["other", "x"]]));
    const headers = await port.doBinds();
    const addresses = port.addresses;
    assert.equal(addresses.length, 4);
    assert.match(addresses[0]!, /^tcp:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(addresses[1], ipc);
    assert.match(addresses[2]!, /^tcp:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(addresses[3], inproc);
    assert.deepEqual(Object.fromEntries(headers), {
      "zio.port.spigot.greeting": "hi",
      "zio.port.spigot.n": "3",
      "zio.port.spigot.other": "x",
      "zio.port.spigot.address": addresses[0],
      "zio.port.spigot.addresses": JSON.stringify(addresses),
      "zio.port.spigot.socket": "PULL",
    });
    await port.online();
    // Every bound address takes messages.
    for (const address of addresses) {
      const push = new zmq.Push({ linger: 0 });
      push.connect(address);
      await push.send(text(address).encode());
      const m = await port.recv({ timeout: 5000 });
      assert.equal(m?.label, address);
      push.close();
    }
  });

  test("one bind publishes address and socket only; a fixed host:port binds there", { timeout: 10_000 }, async () => {
    // A port the OS just handed out and took back (a ZeroMQ socket frees its port only later).
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const taken = (server.address() as { port: number }).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await using port = new Port("tap", "REP");
    port.bind("127.0.0.1", taken);
    const headers = await port.doBinds();
    assert.deepEqual(Object.fromEntries(headers), {
      "zio.port.tap.address": `tcp://127.0.0.1:${taken}`,
      "zio.port.tap.socket": "REP",
    });
  });

  test("every connect form: tcp, ipc, inproc and by name, mixed on one port", { timeout: 15_000 }, async () => {
    const beacon = randomPort();
    await using server = loNode("srv", beacon);
    const pulls = [new zmq.Pull({ linger: 0 }), new zmq.Pull({ linger: 0 }), new zmq.Pull({ linger: 0 })];
    const endpoints = [freshEndpoint("tcp"), freshEndpoint("ipc"), freshEndpoint("inproc")];
    for (const [i, pull] of pulls.entries()) await pull.bind(endpoints[i]!);
    const named = server.port("sink", "PULL");
    named.bind();
    await online(server);

    await using client = loNode("cli", beacon);
    const port = client.port("out", "PUSH");
    for (const pull of pulls) port.connect(pull.lastEndpoint!);
    port.connect("srv", "sink");
    const changes = port.changes();
    await online(client);
    await nextChange(changes, (c) => c.type === "connect" && c.uuid === server.peer!.uuid);
    assert.equal(port.connections.length, 4);
    // PUSH round-robins over the connections whose handshake is done: one message at a time,
    // each waited for where it lands, until all four destinations got one.
    const got = new Map<string, string[]>();
    let arrived: () => void = () => {};
    const land = (where: string, label: string) => {
      got.set(where, [...(got.get(where) ?? []), label]);
      arrived();
    };
    for (const [i, pull] of pulls.entries()) {
      void (async () => {
        for await (const frames of pull) land(endpoints[i]!, Message.decode(frames).label);
      })();
    }
    void (async () => {
      for (;;) {
        const m = await named.recv().catch(() => null);
        if (!m) return;
        land("named", m.label);
      }
    })();
    for (let i = 0; i < 1000 && got.size < 4; i++) {
      const landed = new Promise<void>((resolve) => {
        arrived = resolve;
      });
      await port.send(text(`m${i}`));
      await landed;
    }
    assert.equal(got.size, 4);
    assert.deepEqual(new Set([...got.values()].flat()).size, [...got.values()].flat().length); // each once
    for (const pull of pulls) pull.close();
  });

  test("malformed requests and calls are refused with typed errors", { timeout: 5000 }, async () => {
    assert.throws(() => new Port("a.b", "PUSH"), InvalidArgumentError);
    assert.throws(() => new Port("p", "STREAM" as never), InvalidArgumentError);
    assert.throws(() => new Port("p", "PUSH", { origin: -1 }), InvalidArgumentError);
    assert.throws(() => new Port("p", "PUSH", { socket: { linger: 1.5 } }), InvalidArgumentError);
    const port = new Port("p", "PUSH");
    assert.throws(() => port.bind("nope"), /invalid endpoint/);
    assert.throws(() => port.bind("127.0.0.1", 70000), InvalidArgumentError);
    assert.throws(() => port.connect("tcp://"), /invalid endpoint/);
    assert.throws(() => port.connect("node", "a.b"), InvalidArgumentError);
    assert.throws(() => port.subscribe("x"), NotSupportedError);
    await assert.rejects(port.send(text("x")), PortStateError);
    await assert.rejects(port.recv(), PortStateError);
    port.connect("node", "p");
    await assert.rejects(port.online(), PortStateError); // a name connect needs a discovery peer
    await port.close();
    await using pull = new Port("q", "PULL");
    pull.bind();
    await pull.online();
    await assert.rejects(pull.send(text("x")), NotSupportedError);
    await assert.rejects(pull.recv({ timeout: -1 }), InvalidArgumentError);
    assert.equal(await pull.recv({ timeout: 10 }), null);
  });
});

describe("zio Port messages", () => {
  test("ROUTER/DEALER frame as ZIO (empty delimiter), stamp origins, and route replies back", {
    timeout: 10_000,
  }, async () => {
    await using server = new Port("s", "ROUTER", { origin: 42 });
    server.bind();
    await server.online();
    await using a = new Port("a", "DEALER", { origin: 1 });
    await using b = new Port("b", "DEALER", { origin: 2 });
    for (const client of [a, b]) {
      client.connect(server.addresses[0]!);
      await client.online();
    }
    // What a ZIO DEALER puts on the wire, seen by a raw ROUTER: ['', prefix, coord, payload].
    const raw = new zmq.Router({ linger: 0 });
    await raw.bind("tcp://127.0.0.1:*");
    await using c = new Port("c", "DEALER", { origin: 3 });
    c.connect(raw.lastEndpoint!);
    await c.online();
    const m = text("wire");
    await c.send(m);
    const [, delimiter, ...parts] = await raw.receive();
    assert.equal(delimiter!.length, 0);
    assert.deepEqual(
      parts.map((p) => p.toString("hex")),
      m.encode().map((p) => p.toString("hex")),
    );
    assert.equal(Message.decode(parts).origin, 3);
    raw.close();

    await a.send(text("from a"));
    await b.send(text("from b"));
    for (let i = 0; i < 2; i++) {
      const request = (await server.recv({ timeout: 5000 }))!;
      assert.ok(Buffer.isBuffer(request.routingId));
      assert.equal(request.origin, request.label === "from a" ? 1 : 2);
      await server.send(request); // back to whoever sent it, stamped 42
    }
    for (const [client, label] of [
      [a, "from a"],
      [b, "from b"],
    ] as const) {
      const reply = (await client.recv({ timeout: 5000 }))!;
      assert.equal(reply.label, label);
      assert.equal(reply.origin, 42);
    }
    await assert.rejects(server.send(text("nobody")), InvalidArgumentError); // no routing id
  });

  test("SERVER/CLIENT carry the single-part form and route replies back", { timeout: 10_000 }, async () => {
    await using server = new Port("s", "SERVER");
    server.bind();
    await server.online();
    await using client = new Port("c", "CLIENT", { origin: 5 });
    client.connect(server.addresses[0]!);
    await client.online();
    const m = new Message({ form: "JSON", label: "{}", payload: ["x", Buffer.alloc(300, 1)] });
    await client.send(m);
    const request = (await server.recv({ timeout: 5000 }))!;
    assert.equal(typeof request.routingId, "number");
    assert.equal(request.origin, 5);
    assert.equal(request.payload[1]!.length, 300);
    await server.send(request);
    const reply = (await client.recv({ timeout: 5000 }))!;
    assert.deepEqual(reply.encode(), m.encode());
  });

  test("malformed messages are ProtocolErrors and the port keeps working", { timeout: 10_000 }, async () => {
    await using router = new Port("r", "ROUTER");
    router.bind();
    await using pull = new Port("p", "PULL");
    pull.bind();
    await using server = new Port("s", "SERVER");
    server.bind();
    for (const port of [router, pull, server]) await port.online();
    const dealer = new zmq.Dealer({ linger: 0 });
    dealer.connect(router.addresses[0]!);
    const push = new zmq.Push({ linger: 0 });
    push.connect(pull.addresses[0]!);
    const draft = await import("zeromq/draft.js");
    const client = new draft.Client({ linger: 0 });
    client.connect(server.addresses[0]!);
    const good = text("good");

    await dealer.send(good.encode()); // no empty delimiter: ZIO's ROUTER refuses it
    await dealer.send(["", "ZIO4TEXT"]); // no coord
    await dealer.send(["", "garbage", Buffer.alloc(24)]);
    await dealer.send(["", ...good.encode()]);
    await push.send(["ZIO4TEXT", Buffer.alloc(23)]);
    await push.send(good.encode());
    await client.send(good.pack().subarray(0, 20)); // truncated
    await client.send(good.pack());
    for (const port of [router, router, router, pull, server]) {
      await assert.rejects(port.recv({ timeout: 5000 }), ProtocolError);
    }
    for (const port of [router, pull, server]) assert.equal((await port.recv({ timeout: 5000 }))?.label, "good");
    assert.equal(router.stats.malformed, 3);
    dealer.close();
    push.close();
    client.close();
  });

  test("PUB/SUB with prefix subscriptions, RADIO/DISH with groups", { timeout: 10_000 }, async () => {
    await using pub = new Port("pub", "PUB");
    pub.bind();
    await using sub = new Port("sub", "SUB");
    sub.subscribe("ZIO4TEXT");
    await pub.online();
    sub.connect(pub.addresses[0]!);
    await sub.online();
    const debug = new Message({ level: "debug", form: "TEXT", label: "skip" });
    for (;;) {
      await pub.send(debug);
      await pub.send(new Message({ level: "info", form: "TEXT", label: "take" }));
      const m = await sub.recv({ timeout: 50 });
      if (m) {
        assert.equal(m.label, "take");
        break;
      }
    }
    await using radio = new Port("radio", "RADIO", { group: "g1" });
    radio.bind();
    await using dish = new Port("dish", "DISH", { group: "g1" });
    dish.join("g1"); // already joined (its option): nothing to do
    await radio.online();
    dish.connect(radio.addresses[0]!);
    await dish.online();
    dish.join("g1"); // online too
    const receive = async () => {
      for (;;) {
        await radio.send(text("other group"), { group: "g2" });
        await radio.send(text("mine"));
        const m = await dish.recv({ timeout: 50 });
        if (m) {
          assert.equal(m.label, "mine");
          break;
        }
      }
    };
    await receive();
    // Its groups are joined again on a new socket, once each.
    await dish.offline();
    await dish.online();
    await receive();
  });
});

describe("zio Node", () => {
  test("connect by name before the other node is online, then offline and online again", {
    timeout: 20_000,
  }, async () => {
    const beacon = randomPort();
    await using client = loNode("client", beacon, { origin: 9 });
    const port = client.port("req", "DEALER");
    port.connect("server", "rep");
    const changes = port.changes();
    await online(client); // nobody named "server" yet

    await using server = loNode("server", beacon, { origin: 42 });
    const rep = server.port("rep", "ROUTER");
    rep.bind();
    rep.addHeaders({ greeting: "hi" });
    await online(server);
    const first = await nextChange(changes, (c) => c.type === "connect");
    assert.equal(first.address, rep.addresses[0]);
    const seen = client.peer!.peers().find((p) => p.name === "server")!;
    assert.equal(seen.headers.get("zio.port.rep.greeting"), "hi");
    assert.equal(seen.headers.get("zio.port.rep.socket"), "ROUTER");

    const echo = async () => {
      const m = (await rep.recv({ timeout: 5000 }))!;
      assert.equal(m.origin, 9);
      await rep.send(m);
    };
    await port.send(text("one"));
    await echo();
    assert.equal((await port.recv({ timeout: 5000 }))?.origin, 42);

    // Offline: the client sees the server leave and drops the connection; online again: a new one.
    const oldAddress = rep.addresses[0];
    await server.offline();
    assert.equal(server.peer, undefined);
    assert.equal(rep.isOnline, false);
    await nextChange(changes, (c) => c.type === "disconnect" && c.address === oldAddress);
    assert.deepEqual(port.connections, []);
    await online(server);
    const again = await nextChange(changes, (c) => c.type === "connect");
    assert.equal(again.address, rep.addresses[0]);
    await port.send(text("two"));
    await echo();
    assert.equal((await port.recv({ timeout: 5000 }))?.label, "two");
  });

  test("node.port returns the same port, refuses other types and new ports while online", {
    timeout: 10_000,
  }, async () => {
    await using node = loNode("n", randomPort());
    const port = node.port("p", "PUSH");
    assert.equal(node.port("p"), port);
    assert.equal(node.port("p", "PUSH"), port);
    assert.throws(() => node.port("p", "PULL"), InvalidArgumentError);
    assert.throws(() => node.port("q"), InvalidArgumentError);
    assert.equal(port.origin, 0); // ZIO's default node origin, stamped by every port
    port.bind();
    await online(node);
    assert.throws(() => node.port("q", "PULL"), PortStateError);
    await node.online(); // online already: nothing
    assert.equal(node.peer!.name, "n");
    await node.close();
    await node.close();
    assert.throws(() => node.port("p"), PortStateError);
  });

  test("a failed bind leaves the node offline", { timeout: 10_000 }, async () => {
    const holder = new zmq.Pull({ linger: 0 });
    await holder.bind("tcp://127.0.0.1:*");
    await using node = loNode("n", randomPort());
    node.port("p", "PULL").bind(holder.lastEndpoint!);
    await assert.rejects(node.online(), /address already in use/);
    assert.equal(node.isOnline, false);
    assert.equal(node.peer, undefined);
    holder.close();
  });
});
