/**
 * RPC by name: servers announced as a port of a node, a client connected by node/port name to
 * every one of them, servers joining and leaving (cleanly, by going offline, and SIGKILLed) while
 * calls keep going round-robin over the live ones; in one process and across processes.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { RpcClient } from "../../src/rpc/index.js";
import { ClosedError, connectByName, InvalidArgumentError, Peer, type PortChange } from "../../src/zio/index.js";
import { JsonLinesChild } from "../helpers.js";
import { loNode, nextChange, online, randomPort, SHORT_CLOCKS } from "./util.js";

/** One server node in its own process (test/zio/service-child.ts). */
class Server extends JsonLinesChild<Record<string, unknown> & { type: string }> {
  constructor(
    readonly id: string,
    beacon: number,
  ) {
    super("zio/service-child.js", [id, String(beacon)]);
  }
  line(type: string, from = 0): Promise<Record<string, unknown>> {
    return this.waitLine((l) => l.type === type, from);
  }
}

/**
 * Calls whoami until every id in `ids` replied (a server announced a moment ago may still be in
 * its handshake: the client sends to connected servers first), at most 1000 calls.
 */
async function reachesAll(client: RpcClient, ids: string[]): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < 1000 && !ids.every((id) => seen.has(id)); i++) {
    for (const id of await whoami(client, 1)) seen.add(id);
  }
  return seen;
}

/** Calls whoami until `count` replies came; retries a call only when its server left under it. */
async function whoami(client: RpcClient, count: number): Promise<string[]> {
  const seen: string[] = [];
  while (seen.length < count) {
    try {
      seen.push(await client.call<string>("whoami", [], { timeout: 10_000 }));
    } catch (error) {
      if (!(error instanceof ClosedError)) throw error;
    }
  }
  return seen;
}

describe("zio RPC by name", () => {
  test("in one process: serve and connect by name, servers before and after the client", {
    timeout: 20_000,
  }, async () => {
    const beacon = randomPort();
    await using a = loNode("calc-node", beacon);
    const server = a.serve("calc", { whoami: () => "a", add: (x: number, y: number) => x + y }, { heartbeat: false });
    assert.throws(() => a.port("calc", "PUSH"), InvalidArgumentError);
    assert.throws(() => a.serve("calc", {}), InvalidArgumentError);
    await online(a);
    assert.deepEqual(server.methods, ["add", "whoami"]);
    const published = a.peer!.peers(); // nobody else yet
    assert.deepEqual(published, []);

    await using peer = new Peer("caller", {
      discovery: { mode: "beacon", interface: "lo", port: beacon },
      interval: 100,
    });
    await peer.start();
    await using client = new RpcClient({ heartbeat: false });
    await using link = connectByName(client, { node: "calc-node", port: "calc" }, { peer });
    const changes = link.changes();
    await link.ready({ timeout: 10_000 });
    await using other = new RpcClient();
    await using nobody = connectByName(other, { node: "nobody", port: "calc" }, { peer });
    await assert.rejects(nobody.ready({ timeout: 50 }), /no server nobody\/calc within 50 ms/);
    assert.equal(await client.call("add", [1, 2]), 3);

    await using b = loNode("calc-node", beacon);
    b.serve("calc", { whoami: () => "b" }, { heartbeat: false });
    await online(b);
    await nextChange(changes, (c) => c.type === "connect" && c.uuid === b.peer!.uuid);
    assert.deepEqual(await reachesAll(client, ["a", "b"]), new Set(["a", "b"]));
    assert.equal(link.connections.length, 2);

    await a.offline();
    await nextChange(changes, (c) => c.type === "disconnect");
    assert.deepEqual(await whoami(client, 3), ["b", "b", "b"]);
    await a.online(); // the same server, announced again
    await nextChange(changes, (c) => c.type === "connect");
    assert.deepEqual(await reachesAll(client, ["a", "b"]), new Set(["a", "b"]));
    assert.throws(() => connectByName(client, { node: "", port: "calc" }, { peer }), InvalidArgumentError);
    assert.throws(() => connectByName(client, { node: "n", port: "calc" }, {} as never), InvalidArgumentError);
  });

  test("across processes: servers join and leave mid-run, calls go round-robin over the live ones", {
    timeout: 40_000,
  }, async () => {
    const beacon = randomPort();
    await using peer = new Peer("caller", {
      discovery: { mode: "beacon", interface: "lo", port: beacon },
      ...SHORT_CLOCKS,
    });
    await peer.start();
    await using client = new RpcClient({ heartbeat: false });
    await using link = connectByName(client, { node: "calc-node", port: "calc" }, { peer });
    const changes = link.changes();
    const servers: Server[] = [];
    const connected = async (server: Server): Promise<PortChange> => {
      const { uuid } = await server.line("ONLINE");
      return nextChange(changes, (c) => c.type === "connect" && c.uuid === uuid);
    };
    const left = async (server: Server): Promise<PortChange> => {
      const { uuid } = await server.line("ONLINE");
      return nextChange(changes, (c) => c.type === "disconnect" && c.uuid === uuid);
    };
    try {
      const a = new Server("a", beacon);
      servers.push(a);
      await connected(a);
      // From now on calls run in the background while servers come and go.
      let running = true;
      const replies: string[] = [];
      const caller = (async () => {
        while (running) {
          try {
            replies.push(await client.call<string>("whoami", [], { timeout: 10_000 }));
          } catch (error) {
            // a call sent to a server as it left
            if (!(error instanceof ClosedError)) throw error;
            await new Promise((resolve) => setImmediate(resolve));
          }
        }
      })();

      const b = new Server("b", beacon);
      servers.push(b);
      await connected(b);
      assert.deepEqual(await reachesAll(client, ["a", "b"]), new Set(["a", "b"]));

      a.send({ op: "stop" }); // a clean leave: EXIT at once
      await left(a);
      const c = new Server("c", beacon);
      servers.push(c);
      await connected(c);
      assert.deepEqual(await reachesAll(client, ["b", "c"]), new Set(["b", "c"]));

      b.process.kill("SIGKILL"); // a crash: dropped after its EXIT (short clocks)
      await left(b);
      assert.deepEqual(await whoami(client, 3), ["c", "c", "c"]);
      running = false;
      await caller;
      for (const id of ["a", "b", "c"]) assert.ok(replies.includes(id), `the background caller reached ${id}`);

      c.send({ op: "offline" });
      await left(c);
      c.send({ op: "online" });
      await c.line(
        "ONLINE",
        c.lines.findIndex((l) => l.type === "OFFLINE"),
      );
      await nextChange(changes, (ch) => ch.type === "connect");
      assert.deepEqual(await whoami(client, 2), ["c", "c"]);
      assert.deepEqual(link.connections.length, 1);
    } finally {
      for (const server of servers) server.process.kill("SIGKILL");
    }
  });
});
