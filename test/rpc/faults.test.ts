import assert from "node:assert/strict";
import { once } from "node:events";
import { describe, test } from "node:test";
import { packWire } from "../../src/core/codec.js";
import { Dealer } from "../../src/index.js";
import { currentCall, LostRemoteError, RpcClient, RpcServer } from "../../src/rpc/index.js";
import { freshEndpoint, kill, networkTransports, startChild } from "../helpers.js";

const T = { timeout: 20_000 };
const HB = 200;

for (const transport of networkTransports) {
  describe(`faults over ${transport}`, () => {
    test("malformed input, wrong shapes and unknown channels never stop the server", T, async () => {
      const problems: Error[] = [];
      await using server = new RpcServer(
        { echo: (x: unknown) => x },
        { heartbeat: HB, onProtocolError: (e) => void problems.push(e) },
      );
      const address = await server.bind(freshEndpoint(transport));
      await using raw = new Dealer();
      raw.connect(address);
      const empty = Buffer.alloc(0);
      const id = Buffer.from("0123456789abcdef0123456789abcdef");
      const bad = [
        Buffer.from([0xc1]), // never-used msgpack byte
        Buffer.from([0x93, 0xa1]), // truncated
        packWire("not an array"),
        packWire([1, 2]),
        packWire(["header", "echo", []]), // header not a map
        packWire([{ v: 3 }, "echo", []]), // no message_id
        packWire([{ message_id: id, v: 3 }, 42, []]), // name not a string
        packWire([{ message_id: id, v: 3, response_to: Buffer.from("nobody") }, "_zpc_hb", [0]]), // unknown channel
        packWire([{ message_id: id, v: 3, response_to: Buffer.from("nobody") }, "_zpc_more", [10]]),
      ];
      for (const blob of bad) await raw.send([empty, blob]);
      // Wrong args type gets an answer, not silence.
      await raw.send([empty, packWire([{ message_id: id, v: 3 }, "echo", "not-a-list"])]);
      const [, reply] = await raw.receive({ timeout: 5000 });
      const { unpackWire } = await import("../../src/core/codec.js");
      const [, name, args] = unpackWire(reply as Buffer) as [unknown, string, string[]];
      assert.equal(name, "ERR");
      assert.equal(args[0], "ProtocolError");
      await using client = new RpcClient({ heartbeat: HB });
      client.connect(address);
      assert.equal(await client.call("echo", ["alive"]), "alive");
      assert.ok(problems.length >= 7, `protocol errors reported: ${problems.length}`);
    });

    test("a huge request is refused with a clear error and the server goes on", T, async () => {
      // Not a heartbeat test: a slow heartbeat keeps a loaded machine's 8 MiB copy from looking like a loss.
      const slowBeat = 5000;
      await using server = new RpcServer(
        { echo: (x: unknown) => x },
        { heartbeat: slowBeat, maxMessageSize: 1024 * 1024 },
      );
      const address = await server.bind(freshEndpoint(transport));
      await using client = new RpcClient({ heartbeat: slowBeat });
      client.connect(address);
      await assert.rejects(client.call("echo", [Buffer.alloc(8 * 1024 * 1024)]), /MessageTooLargeError/);
      assert.equal(await client.call("echo", [1]), 1);
    });

    test("a server killed mid-call: the client sees LostRemoteError within about 2 heartbeats", T, async () => {
      const { child, line: address } = await startChild("rpc/child-server.js", [freshEndpoint(transport), String(HB)]);
      try {
        await using client = new RpcClient({ heartbeat: HB });
        client.connect(address);
        assert.equal(await client.call("echo", ["up"]), "up");
        const call = client.call("slow", [60_000]);
        await kill(child);
        const killedAt = performance.now();
        await assert.rejects(call, LostRemoteError);
        const elapsed = performance.now() - killedAt;
        assert.ok(elapsed < 4 * HB, `lost after ${elapsed.toFixed(0)} ms`);
      } finally {
        await kill(child);
      }
    });

    test("a server restarted on the same endpoint answers the client's next call", T, async () => {
      const fixed = transport === "tcp" ? await freeTcpEndpoint() : freshEndpoint("ipc");
      const first = await startChild("rpc/child-server.js", [fixed, String(HB)]);
      await using client = new RpcClient({ heartbeat: HB, timeout: 5000 });
      client.connect(first.line);
      const pid1 = await client.call("whoami");
      await kill(first.child);
      const second = await startChild("rpc/child-server.js", [fixed, String(HB)]);
      try {
        const pid2 = await client.call("whoami");
        assert.notEqual(pid1, pid2);
      } finally {
        await kill(second.child);
      }
    });

    test("a client that vanishes mid-stream: the handler is aborted and the server keeps serving", T, async () => {
      let aborted!: () => void;
      const wasAborted = new Promise<void>((r) => {
        aborted = r;
      });
      const service = {
        *forever() {
          currentCall()!.signal.addEventListener("abort", () => aborted());
          for (let i = 0; ; i++) yield i;
        },
        echo: (x: unknown) => x,
      };
      await using server = new RpcServer(service, { heartbeat: HB });
      const address = await server.bind(freshEndpoint(transport));
      const { child } = await startChild("rpc/child-client.js", [address, String(HB)]);
      await kill(child);
      await wasAborted;
      await using client = new RpcClient({ heartbeat: HB });
      client.connect(address);
      assert.equal(await client.call("echo", ["still here"]), "still here");
    });
  });
}

describe("several servers", () => {
  test("a missing server does not block calls a live one can serve", T, async () => {
    await using live = new RpcServer({ who: () => "live" }, { heartbeat: HB });
    const address = await live.bind(freshEndpoint("tcp"));
    const missing = await freeTcpEndpoint();
    await using client = new RpcClient({ heartbeat: HB, timeout: 3000 });
    client.connect(missing);
    client.connect(address);
    await waitConnected(client);
    const answers = await Promise.all(Array.from({ length: 20 }, () => client.call("who")));
    assert.deepEqual(new Set(answers), new Set(["live"]));
  });

  test("calls spread over two live servers and streams stay with theirs", T, async () => {
    const make = (name: string) => ({
      who: () => name,
      *items(n: number) {
        for (let i = 0; i < n; i++) yield name;
      },
    });
    await using a = new RpcServer(make("a"), { heartbeat: HB });
    await using b = new RpcServer(make("b"), { heartbeat: HB });
    await using client = new RpcClient({ heartbeat: HB });
    client.connect(await a.bind(freshEndpoint("tcp")));
    client.connect(await b.bind(freshEndpoint("ipc")));
    await waitConnected(client);
    // Both handshakes may not be done yet: call until both answered (bounded), no sleeping.
    const who = new Set<unknown>();
    for (let i = 0; i < 200 && who.size < 2; i++) who.add(await client.call("who"));
    assert.deepEqual(who, new Set(["a", "b"]));
    for (let k = 0; k < 4; k++) {
      const items = (await client.call("items", [500])) as string[];
      assert.equal(items.length, 500);
      assert.equal(new Set(items).size, 1, "every item of one stream comes from one server");
    }
  });
});

/** Waits until every connect() of the client has completed a handshake, by calling until both answer. */
async function waitConnected(client: RpcClient): Promise<void> {
  // A handshake shows up as the first successful call; retry a short call until it succeeds.
  for (let i = 0; i < 50; i++) {
    try {
      await client.call("_zerorpc_ping", [], { timeout: 200 });
      return;
    } catch {
      // not yet connected
    }
  }
}

async function freeTcpEndpoint(): Promise<string> {
  const { createServer } = await import("node:net");
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, "close");
  return `tcp://127.0.0.1:${port}`;
}
