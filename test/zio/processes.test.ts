/**
 * Ports of every pattern across processes, over tcp and over ipc, connected by node/port name;
 * two nodes with the same nickname (a name connect reaches both); a node killed with SIGKILL (its
 * connections are dropped after its EXIT; clocks shortened).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { XSub } from "../../src/index.js";
import { Message, type Port, type SocketType } from "../../src/zio/index.js";
import { freshEndpoint } from "../helpers.js";
import type { ChildPortConfig } from "./child.js";
import { ChildNode, loNode, nextChange, online, randomPort, SHORT_CLOCKS } from "./util.js";

/** Each pattern: the child's port (type, role) and the parent's port that talks to it. */
const PATTERNS: { child: SocketType; role: ChildPortConfig["role"]; parent: SocketType }[] = [
  { child: "REP", role: "echo", parent: "REQ" },
  { child: "ROUTER", role: "echo", parent: "DEALER" },
  { child: "SERVER", role: "echo", parent: "CLIENT" },
  { child: "PAIR", role: "echo", parent: "PAIR" },
  { child: "DEALER", role: "echo", parent: "ROUTER" },
  { child: "PULL", role: "sink", parent: "PUSH" },
  { child: "SUB", role: "sink", parent: "PUB" },
  { child: "PUB", role: "source", parent: "SUB" },
  { child: "XPUB", role: "source", parent: "SUB" },
  { child: "PUB", role: "source", parent: "XSUB" },
  { child: "RADIO", role: "source", parent: "DISH" },
];

const text = (label: string) => new Message({ form: "TEXT", label, payload: [label] });

describe("zio ports across processes", () => {
  for (const transport of ["tcp", "ipc"] as const) {
    test(`every pattern over ${transport}, connected by name`, { timeout: 30_000 }, async () => {
      const beacon = randomPort();
      const ports: ChildPortConfig[] = PATTERNS.map((p, i) => ({
        name: `p${i}`,
        type: p.child,
        role: p.role,
        binds: [transport === "tcp" ? [] : [freshEndpoint("ipc")]],
        ...(p.child === "RADIO" ? { group: "g" } : {}),
      }));
      // A ROUTER parent sends first, so the child's DEALER (echo) connects to it instead.
      const dealerIndex = PATTERNS.findIndex((p) => p.child === "DEALER");
      ports[dealerIndex] = { ...ports[dealerIndex]!, binds: [], connects: [["parent", "p4"]] };
      const child = new ChildNode({ name: "child", origin: 7, beaconPort: beacon, ports });
      await using node = loNode("parent", beacon, { origin: 42 });
      try {
        const mine = new Map<number, Port>();
        for (const [i, p] of PATTERNS.entries()) {
          const port = node.port(`p${i}`, p.parent, p.parent === "DISH" ? { group: "g" } : {});
          if (i === dealerIndex) port.bind(transport === "tcp" ? undefined : freshEndpoint("ipc"));
          else port.connect("child", `p${i}`);
          if (p.parent === "SUB") port.subscribe();
          mine.set(i, port);
        }
        const { headers } = await child.online();
        const changes = [...mine.values()].map((port) => port.changes());
        await online(node);
        for (const [i, stream] of changes.entries()) {
          if (i === dealerIndex) continue;
          const change = await nextChange(stream, (c) => c.type === "connect");
          assert.equal(change.address, headers[`zio.port.p${i}.address`]);
          assert.ok(change.address.startsWith(`${transport}://`), change.address);
        }
        for (const [i, p] of PATTERNS.entries()) {
          const port = mine.get(i)!;
          const label = `${p.parent}->${p.child} ${transport}`;
          if (p.child === "DEALER") {
            // The child's DEALER says hello first (ZIO framing, its origin), then this ROUTER replies.
            child.send({ op: "send", port: `p${i}`, label: "hello" });
            const hello = (await port.recv({ timeout: 10_000 }))!;
            assert.equal(hello.origin, 7);
            await port.send(hello);
            continue;
          }
          if (p.role === "echo") {
            await port.send(text(label));
            const reply = (await port.recv({ timeout: 10_000 }))!;
            assert.equal(reply.label, label);
            assert.equal(reply.origin, 7, label); // the child's port stamps its node's origin
          } else if (p.role === "sink") {
            // A SUB hears only after its subscription arrived: send again every 50 ms until it prints.
            const received = child.waitLine((l) => l.type === "RECV" && l.port === `p${i}`);
            let printed: Record<string, unknown> | undefined;
            while (!printed) {
              await port.send(text(label));
              printed = await Promise.race([
                received,
                new Promise<undefined>((r) => setTimeout(() => r(undefined), 50)),
              ]);
            }
            assert.equal(printed.label, label);
            assert.equal(printed.origin, 42);
          } else {
            // An XSUB subscribes by sending the subscription itself (`\x01` + prefix: everything).
            if (p.parent === "XSUB") await (port.socket as unknown as XSub).send([Buffer.from([1])]);
            let m: Message | null = null;
            while (!m) {
              child.send({ op: "send", port: `p${i}`, label });
              m = await port.recv({ timeout: 100 });
            }
            assert.equal(m.label, label);
            assert.equal(m.origin, 7);
          }
        }
        // The child's DEALER got the reply to its hello (echoed back to this ROUTER again).
        const echoed = (await mine.get(dealerIndex)!.recv({ timeout: 10_000 }))!;
        assert.equal(echoed.label, "hello");
        await child.stop();
      } finally {
        child.kill();
      }
    });
  }

  test("two nodes with the same nickname: a name connect reaches both", { timeout: 30_000 }, async () => {
    const beacon = randomPort();
    const twin = (origin: number) =>
      new ChildNode({
        name: "twin",
        origin,
        beaconPort: beacon,
        ports: [{ name: "echo", type: "ROUTER", role: "echo", binds: [[]] }],
      });
    const twins = [twin(1), twin(2)];
    await using node = loNode("parent", beacon);
    try {
      const port = node.port("out", "DEALER");
      port.connect("twin", "echo");
      const changes = port.changes();
      await online(node);
      const uuids = new Set<string>();
      while (uuids.size < 2) uuids.add((await nextChange(changes, (c) => c.type === "connect")).uuid!);
      const origins = new Set<number>();
      // DEALER round-robins over the connections whose handshake is done: both, soon.
      for (let i = 0; i < 1000 && origins.size < 2; i++) {
        await port.send(text(`m${i}`));
        origins.add(Number((await port.recv({ timeout: 10_000 }))!.origin));
      }
      assert.deepEqual([...origins].sort(), [1, 2]);
      await Promise.all(twins.map((t) => t.stop()));
    } finally {
      for (const t of twins) t.kill();
    }
  });

  test("a node killed with SIGKILL: its connections are dropped after its EXIT", { timeout: 30_000 }, async () => {
    const beacon = randomPort();
    const victim = new ChildNode({
      name: "victim",
      beaconPort: beacon,
      clocks: SHORT_CLOCKS,
      ports: [{ name: "echo", type: "ROUTER", role: "echo", binds: [[]] }],
    });
    await using node = loNode("parent", beacon, { peer: SHORT_CLOCKS });
    try {
      const port = node.port("out", "DEALER");
      port.connect("victim", "echo");
      const changes = port.changes();
      await online(node);
      const { uuid } = await victim.online();
      const connected = await nextChange(changes, (c) => c.type === "connect");
      assert.equal(connected.uuid, uuid);
      await port.send(text("ping"));
      assert.equal((await port.recv({ timeout: 10_000 }))?.label, "ping");
      const events = node.peer!.events();
      victim.kill();
      for (;;) {
        const { value } = await events.next();
        if (value?.type === "EXIT" && value.uuid === uuid) break;
      }
      const dropped = await nextChange(changes, (c) => c.type === "disconnect");
      assert.deepEqual(dropped, { type: "disconnect", address: connected.address, uuid });
      assert.deepEqual(port.connections, []);
    } finally {
      victim.kill();
    }
  });
});
