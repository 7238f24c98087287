/**
 * What one client can make the state server hold, and what a bad request can do: nothing but
 * fail itself with an InvalidArgumentError.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { packObject, packWire, unpackWire } from "../../src/core/codec.js";
import { Dealer, RemoteError } from "../../src/index.js";
import { RpcClient } from "../../src/rpc/index.js";
import { HistoryTruncatedError, State, StateServer } from "../../src/state/index.js";
import { freshEndpoint } from "../helpers.js";

const T = { timeout: 30_000 };
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
const MB = 1024 * 1024;

function external(): number {
  gc();
  gc();
  // zeromq hands received frames over as external buffers: they count here, not in arrayBuffers.
  return process.memoryUsage().external;
}

async function setup(options = {}) {
  // A long heartbeat: the raw peers below never beat, and must not be dropped as lost meanwhile.
  const server = await StateServer.start(freshEndpoint("ipc"), { heartbeat: 30_000, ...options });
  const client = new RpcClient({ timeout: 5000, heartbeat: 1000 });
  client.connect(server.address);
  const state = new State(server.address);
  return {
    server,
    client,
    state,
    async [Symbol.asyncDispose]() {
      await state[Symbol.asyncDispose]();
      await client[Symbol.asyncDispose]();
      server.close();
    },
  };
}

/** A raw peer speaking the wire protocol, to hold calls open without granting credit. */
class RawPeer {
  readonly socket = new Dealer();
  #n = 0;
  constructor(address: string) {
    this.socket.connect(address);
  }
  send(name: string, args: unknown, responseTo?: Buffer): Buffer {
    const id = Buffer.from(`raw-${++this.#n}`);
    const header: Record<string, unknown> = { message_id: id, v: 3 };
    if (responseTo) header.response_to = responseTo;
    this.socket.post([Buffer.alloc(0), packWire([header, name, args])]);
    return id;
  }
  async receive(): Promise<{ to: string; name: string; args: unknown }> {
    const frames = await this.socket.receive({ timeout: 5000 });
    const [header, name, args] = unpackWire(frames[frames.length - 1] as Buffer) as [
      { response_to: Buffer },
      string,
      unknown,
    ];
    return { to: Buffer.from(header.response_to).toString(), name, args };
  }
  close(): void {
    this.socket.close();
  }
}

describe("state server memory", () => {
  test("a small stored value does not keep its whole received message alive", T, async () => {
    await using s = await setup();
    const ignored = Buffer.alloc(MB, 7);
    // A raw peer sends: an RpcClient in this process would keep its own large frames' memory for
    // reuse (bounded), which would count here too.
    const raw = new RawPeer(s.server.address);
    let grown: number;
    try {
      const set = async (key: string, value: number) => {
        raw.send("set", ["ns", key, packObject(value), ignored]);
        assert.equal((await raw.receive()).name, "OK");
      };
      await set("warm", 0);
      const before = external();
      for (let i = 0; i < 40; i++) await set(`k${i}`, i);
      grown = external() - before;
    } finally {
      raw.close();
    }
    assert.equal(await s.state.withNamespace("ns").get("k39"), 39);
    // 40 frames of 1 MB each would be held if the values were views into them.
    assert.ok(grown < 20 * MB, `external memory grew by ${(grown / MB).toFixed(1)} MB for 40 one-byte values`);
  });

  test("the history is bounded in bytes as well as in changes", T, async () => {
    await using s = await setup({ historyBytes: 4 * MB });
    const big = Buffer.alloc(MB, 1);
    for (let i = 0; i < 12; i++) await s.state.set("big", big);
    const stats = s.server.stats();
    assert.ok(stats.historyBytes <= 5 * MB, `history holds ${stats.historyBytes} bytes`);
    assert.ok(stats.historyChanges < 12);
    const watch = s.state.watch(["big"], { since: 1 })[Symbol.asyncIterator]();
    await assert.rejects(watch.next(), HistoryTruncatedError);
  });

  test("reads do not create namespaces; a namespace emptied goes away", T, async () => {
    await using s = await setup();
    for (let i = 0; i < 200; i++) {
      const view = s.state.withNamespace(`fresh-${i}`);
      await Promise.all([view.size(), view.get("k"), view.has("k"), view.keys(), view.entries(), view.snapshot()]);
      await view.delete("k");
      await view.clear();
    }
    assert.equal(s.server.stats().namespaces, 0);
    await s.state.set("k", 1);
    assert.equal(s.server.stats().namespaces, 1);
    await s.state.delete("k");
    assert.deepEqual(
      { namespaces: s.server.stats().namespaces, keys: s.server.stats().keys },
      { namespaces: 0, keys: 0 },
    );
  });

  test("watchers without credit are parked: writes skip them, and they catch up when credit comes", T, async () => {
    await using s = await setup();
    const raw = new RawPeer(s.server.address);
    try {
      const ids: Buffer[] = [];
      for (let i = 0; i < 300; i++) ids.push(raw.send("watch", ["default", null, null, null]));
      // Each watch answers its first item (where it starts) with the one credit a call carries.
      for (let i = 0; i < 300; i++) assert.equal((await raw.receive()).name, "STREAM");
      for (let i = 0; i < 5; i++) await s.state.set("k", i);
      assert.deepEqual(
        { watchers: s.server.stats().watchers, idle: s.server.stats().idleWatchers },
        { watchers: 300, idle: 300 },
      );
      raw.send("_zpc_more", [10], ids[7]);
      const got: unknown[] = [];
      for (let i = 0; i < 5; i++) {
        const item = await raw.receive();
        assert.equal(item.to, (ids[7] as Buffer).toString());
        got.push((item.args as unknown[])[0]);
      }
      assert.deepEqual(got, [1, 2, 3, 4, 5]);
      assert.equal(s.server.stats().idleWatchers, 299, "the watcher with credit left is now fed by writes");
    } finally {
      raw.close();
    }
  });

  test("one client may hold at most maxWatchersPerPeer watches; others are unaffected", T, async () => {
    await using s = await setup({ maxWatchersPerPeer: 5 });
    const raw = new RawPeer(s.server.address);
    try {
      for (let i = 0; i < 5; i++) raw.send("watch", ["default", null, null, null]);
      for (let i = 0; i < 5; i++) assert.equal((await raw.receive()).name, "STREAM");
      raw.send("watch", ["default", null, null, null]);
      const refused = await raw.receive();
      assert.equal(refused.name, "ERR");
      assert.equal((refused.args as string[])[0], "StateLimitError");
      const seen = s.state.whenChange("k");
      await s.state.set("k", 1);
      assert.equal((await seen).after, 1);
    } finally {
      raw.close();
    }
  });
});

describe("state requests are validated", () => {
  const v = packObject(1);
  const bad: [string, unknown[], RegExp][] = [
    ["get", [1, "k"], /invalid namespace/],
    ["get", ["ns", null], /invalid key/],
    ["getv", ["ns", "k"], /invalid keys/],
    ["getseq", [1, "k"], /invalid namespace/],
    ["getseq", ["ns", ["k"]], /invalid key/],
    ["getv", ["ns", ["a", 2]], /invalid keys\[1\]/],
    ["set", ["ns", "k", 5], /invalid value/],
    ["set", ["ns", "k", Buffer.from([0xc1])], /0xc1/],
    ["set", ["ns", "k", Buffer.from([0x01, 0x02])], /bytes follow the value/],
    ["set", ["ns", "k", Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff])], /more items than/],
    ["set", ["ns", "k", Buffer.from([0xd4, 0xff, 0xff])], /timestamp/],
    ["set", ["ns", "k", Buffer.from([0xd4, 0x05, 0x01])], /Unknown extension/],
    ["set", ["ns", "k", Buffer.concat([Buffer.alloc(1001, 0x91), Buffer.from([0xc0])])], /deeper than 1000/],
    // {nil: {nil: ... nil}} 1001 maps deep.
    [
      "set",
      ["ns", "k", Buffer.concat([Buffer.from("81c0".repeat(1001), "hex"), Buffer.from([0xc0])])],
      /deeper than 1000/,
    ],
    ["del", ["ns", { toString: 1 }], /invalid key/],
    ["del", [["ns"], "k"], /invalid namespace/],
    ["has", ["ns", 1], /invalid key/],
    ["keys", [null], /invalid namespace/],
    ["entries", [{}], /invalid namespace/],
    ["size", [2], /invalid namespace/],
    ["clear", [true], /invalid namespace/],
    ["update", ["ns", { k: v }], /invalid entries/],
    ["update", ["ns", [["k", v], ["j"]]], /invalid entries\[1\]/],
    ["replace", ["ns", [["k", "text"]]], /invalid entries\[0\] value/],
    ["snapshot", [5], /invalid namespace/],
    ["op", ["ns", "k", "explode", packObject([])], /unknown atomic operation/],
    ["op", ["ns", "k", "increment", packObject(1)], /invalid arguments/],
    ["op", ["ns", "k", "increment", Buffer.from([0xc1])], /invalid arguments/],
    ["op", ["ns", "k", 3, packObject([])], /invalid operation/],
    ["commit", ["ns", "reads", []], /invalid reads/],
    ["commit", ["ns", [["k", -1]], []], /invalid reads\[0\] version/],
    ["commit", ["ns", [["k", "1"]], []], /invalid reads\[0\] version/],
    ["commit", ["ns", [], [["k", 123]]], /invalid writes\[0\] value/],
    [
      "commit",
      [
        "ns",
        [],
        [
          ["k", v],
          ["k2", { a: 1 }],
        ],
      ],
      /invalid writes\[1\] value/,
    ],
    ["commit", ["ns", [], [[1, v]]], /invalid writes\[0\] key/],
    ["mutate", ["ns", 7, packObject([])], /invalid mutation/],
    ["mutate", ["ns", "nosuch", packObject([])], /invalid mutation/],
    ["mutate", ["ns", "nosuch", "args"], /invalid arguments/],
    ["watch", ["ns", "k", null, null], /invalid keys/],
    ["watch", ["ns", null, -1, null], /invalid since/],
    ["watch", ["ns", null, 1.5, null], /invalid since/],
    ["watch", ["ns", null, null, "yesterday"], /invalid sinceTime/],
  ];

  test("every field of every request; a bad one changes nothing and others still read", T, async () => {
    await using s = await setup();
    await s.state.withNamespace("ns").set("kept", "yes");
    const seq = s.server.seq;
    for (const [method, args, message] of bad) {
      await assert.rejects(
        s.client.call(method, args),
        (e: unknown) => e instanceof RemoteError && e.remoteName === "InvalidArgumentError" && message.test(e.message),
        `${method} ${JSON.stringify(args)}`,
      );
    }
    assert.equal(s.server.seq, seq, "no bad request wrote anything");
    // As deep as allowed, and a Map in a Set in a Map: stored, and readable by everyone.
    const deep = Buffer.concat([Buffer.alloc(1000, 0x91), Buffer.from([0xc0])]);
    await s.client.call("set", ["deep", "k", deep]);
    assert.ok(Array.isArray(await s.state.withNamespace("deep").get("k")));
    const nested = new Map([["s", new Set([new Map([[1, new Date(3)]])])]]);
    await s.state.set("nested", nested);
    assert.deepEqual(await s.state.get("nested"), nested);
    const ns = s.state.withNamespace("ns");
    assert.deepEqual(await ns.entries(), [["kept", "yes"]]);
    assert.deepEqual(await ns.snapshot(), { kept: "yes" });
  });
});
