import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { packWire } from "../../src/core/codec.js";
import { AbortError, Dealer, RemoteError, Router } from "../../src/index.js";
import { RpcClient } from "../../src/rpc/index.js";
import { HistoryTruncatedError, ping, State, StateServer, TimeoutError } from "../../src/state/index.js";
import { freshEndpoint, networkTransports } from "../helpers.js";

const T = { timeout: 20_000 };
const mutations = fileURLToPath(new URL("./mutations.js", import.meta.url));

/**
 * Who speaks ZMTP on each side: the client's transport (plain-JavaScript ZMTP, the default, or
 * zeromq.js) and the server's (its plain-JavaScript listener, the default on tcp and ipc, or a
 * zeromq.js ROUTER). Every pair but two zeromq.js sides, which the CURVE tests cover.
 */
const links = [
  { client: "auto", server: "auto", name: "plain-JavaScript ZMTP" },
  { client: "zeromq", server: "auto", name: "a zeromq.js client, the plain listener" },
  { client: "auto", server: "zeromq", name: "a plain client, a zeromq.js server" },
] as const;
type Link = (typeof links)[number];

async function setup(transport: "tcp" | "ipc", link: Link, options = {}) {
  const server = await StateServer.start(freshEndpoint(transport), {
    heartbeat: 500,
    mutations,
    mutationTimeout: 300,
    transport: link.server,
    ...options,
  });
  // biome-ignore lint/suspicious/noExplicitAny: the tests store values of every type.
  const state = new State<Record<string, any>>(server.address, { heartbeat: 500, transport: link.client });
  return {
    server,
    state,
    async [Symbol.asyncDispose]() {
      await state[Symbol.asyncDispose]();
      server.close();
    },
  };
}

for (const transport of networkTransports)
  for (const via of links) {
    describe(`state over ${transport}, ${via.name}`, () => {
      test("the dict API and rich values", T, async () => {
        await using s = await setup(transport, via);
        const { state } = s;
        const value = {
          when: new Date(1234),
          tags: new Set(["a"]),
          index: new Map([[1, "one"]]),
          big: 2n ** 70n,
          data: new Float32Array([1.5, 2]),
        };
        await state.set("rich", value);
        assert.deepEqual(await state.get("rich"), value);
        assert.equal(await state.get("missing"), undefined);
        assert.equal(await state.has("rich"), true);
        await state.update({ a: 1, b: [2] });
        assert.deepEqual((await state.keys()).sort(), ["a", "b", "rich"]);
        assert.equal(await state.size(), 3);
        assert.deepEqual(Object.fromEntries(await state.entries()).b, [2]);
        assert.equal(await state.delete("a"), true);
        assert.equal(await state.delete("a"), false);
        const snap = await state.snapshot();
        (snap.b as number[]).push(99); // a deep copy: changing it changes nothing on the server
        assert.deepEqual(await state.get("b"), [2]);
        await state.replace({ only: true });
        assert.deepEqual(await state.snapshot(), { only: true });
        assert.equal(await state.clear(), 1);
        assert.equal(await state.size(), 0);
      });

      test("namespaces are independent dicts on one server", T, async () => {
        await using s = await setup(transport, via);
        const other = s.state.withNamespace("other");
        await s.state.set("k", "default");
        await other.set("k", "other");
        assert.equal(await s.state.get("k"), "default");
        assert.equal(await other.get("k"), "other");
        assert.equal(other.namespace, "other");
      });

      test("every atomic operation", T, async () => {
        await using s = await setup(transport, via);
        const { state } = s;
        assert.equal(await state.increment("n"), 1);
        assert.equal(await state.increment("n", 10), 11);
        assert.equal(await state.decrement("n", 2), 9);
        assert.equal(await state.increment("big", 2n ** 64n), 2n ** 64n);
        assert.deepEqual(await state.append("list", 1, 2), [1, 2]);
        assert.deepEqual(await state.append("list", { x: 3 }), [1, 2, { x: 3 }]);
        assert.equal(await state.remove("list", { x: 3 }), true);
        assert.equal(await state.remove("list", 42), false);
        assert.deepEqual(await state.merge("obj", { a: 1 }), { a: 1 });
        assert.deepEqual(await state.merge("obj", { b: 2 }), { a: 1, b: 2 });
        assert.equal(await state.compareAndSet("n", 9, 100), true);
        assert.equal(await state.compareAndSet("n", 9, 200), false);
        assert.equal(await state.get("n"), 100);
        assert.equal(await state.setIfAbsent("fresh", "first"), "first");
        assert.equal(await state.setIfAbsent("fresh", "second"), "first");
        assert.equal(await state.pop("fresh"), "first");
        assert.equal(await state.pop("fresh", "fallback"), "fallback");
        await state.set("text", "abc");
        await assert.rejects(
          state.increment("text"),
          (e: unknown) => e instanceof RemoteError && e.remoteName === "TypeError",
        );
        assert.equal(await state.get("n"), 100, "the server keeps serving after a bad operation");
      });

      test("transactions: commit, abort on throw, retry on conflict", T, async () => {
        await using s = await setup(transport, via);
        const { state } = s;
        await state.set("n", 1);
        await state.transaction(async (tx) => tx.set("n", (await tx.get("n")) + 1));
        assert.equal(await state.get("n"), 2);
        await assert.rejects(
          state.transaction(async (tx) => {
            tx.set("n", 1000);
            throw new Error("abort");
          }),
          /abort/,
        );
        assert.equal(await state.get("n"), 2);
        let runs = 0;
        await state.transaction(async (tx) => {
          runs++;
          const n = await tx.get("n");
          if (runs === 1) await state.set("n", 50); // a concurrent writer changes what we read
          tx.set("n", n + 1);
        });
        assert.equal(runs, 2);
        assert.equal(await state.get("n"), 51);
        const writers = Array.from({ length: 20 }, () =>
          state.transaction(async (tx) => tx.set("c", ((await tx.get("c")) ?? 0) + 1)),
        );
        await Promise.all(writers);
        assert.equal(await state.get("c"), 20);
      });

      test("named mutations run atomically; a throw or a time-out leaves the state unchanged", T, async () => {
        await using s = await setup(transport, via);
        const { state } = s;
        await state.update({ alice: 10, bob: 0 });
        assert.equal(await state.mutate("transfer", "alice", "bob", 4), 6);
        assert.deepEqual([await state.get("alice"), await state.get("bob")], [6, 4]);
        await assert.rejects(state.mutate("transfer", "bob", "alice", 100), /insufficient funds/);
        await assert.rejects(state.mutate("halfThenFail"), /changed my mind/);
        assert.equal(await state.has("touched"), false);
        await assert.rejects(state.mutate("slow"), /longer than 300 ms/);
        assert.equal(await state.has("slow"), false);
        await assert.rejects(state.mutate("nosuch"), /invalid mutation: "nosuch"/);
        assert.equal(await state.get("alice"), 6);
      });

      test("watch: live changes in order, with before/after/seq/time/origin", T, async () => {
        await using s = await setup(transport, via);
        const { state } = s;
        const start = await state.set("x", 0);
        const seen: unknown[] = [];
        const done = (async () => {
          for await (const change of state.watch(["x"], { since: start + 1 })) {
            seen.push([change.key, change.before, change.after]);
            assert.equal(change.origin, state.origin);
            assert.equal(typeof change.time, "number");
            if (seen.length === 3) return;
          }
        })();
        await state.set("x", 1);
        await state.set("other", 1); // filtered out by key
        await state.set("x", 2);
        await state.delete("x");
        await done;
        assert.deepEqual(seen, [
          ["x", 0, 1],
          ["x", 1, 2],
          ["x", 2, undefined],
        ]);
      });

      test("every kind of write records the writer's origin (set, update, op, transaction, mutation)", T, async () => {
        await using s = await setup(transport, via);
        const { state } = s;
        await state.update({ alice: 10, bob: 0 });
        const start = await state.set("probe", 0);
        await state.increment("probe");
        await state.transaction(async (tx) => tx.set("probe", ((await tx.get("probe")) as number) + 1));
        await state.mutate("transfer", "alice", "bob", 1);
        const origins: (string | null)[] = [];
        for await (const change of state.watch(undefined, { since: start })) {
          origins.push(change.origin);
          if (origins.length === 5) break; // set, increment, transaction, transfer's two keys
        }
        assert.deepEqual(origins, Array(5).fill(state.origin));
      });

      test("watch: replay with since (seq or time), and excludeOwn", T, async () => {
        await using s = await setup(transport, via);
        const { state } = s;
        const t0 = new Date();
        const first = await state.set("a", 1);
        await state.set("a", 2);
        await state.set("a", 3);
        const bySeq: number[] = [];
        for await (const c of state.watch(["a"], { since: first })) {
          bySeq.push(c.after as number);
          if (bySeq.length === 3) break;
        }
        assert.deepEqual(bySeq, [1, 2, 3]);
        const byTime: number[] = [];
        for await (const c of state.watch(["a"], { since: t0 })) {
          byTime.push(c.after as number);
          if (byTime.length === 3) break;
        }
        assert.deepEqual(byTime, [1, 2, 3]);
        const other = new State(s.server.address, { transport: via.client });
        try {
          const mark = await state.set("a", 4);
          const seen: unknown[] = [];
          const watching = (async () => {
            for await (const c of state.watch(["a"], { since: mark + 1, excludeOwn: true })) {
              seen.push(c.after);
              return;
            }
          })();
          await state.set("a", 5); // own write: skipped
          await other.set("a", 6);
          await watching;
          assert.deepEqual(seen, [6]);
        } finally {
          other.close();
        }
      });

      test("a watcher that falls behind the history gets HistoryTruncatedError, never a gap", T, async () => {
        await using s = await setup(transport, via, { historyLimit: 20 });
        const { state } = s;
        const start = await state.set("k", 0);
        const iterator = state.watch(["k"], { since: start })[Symbol.asyncIterator]();
        assert.equal((await iterator.next()).value?.after, 0);
        for (let i = 1; i <= 300; i++) await state.set("k", i);
        const seen: number[] = [];
        await assert.rejects(
          (async () => {
            for (let r = await iterator.next(); !r.done; r = await iterator.next()) seen.push(r.value.after as number);
          })(),
          HistoryTruncatedError,
        );
        // What arrived before the error is gap-free.
        for (const [i, v] of seen.entries()) assert.equal(v, i + 1);
        await assert.rejects(
          (async () => {
            for await (const _ of state.watch(["k"], { since: 1 })) break;
          })(),
          HistoryTruncatedError,
        );
      });

      test("conditions: when, whenChange, whenEqual/NotEqual/Truthy/Falsy/Defined/Undefined/Available", T, async () => {
        await using s = await setup(transport, via);
        const { state } = s;
        await state.set("ready", false);
        const when = state.when((st) => st.count === 3);
        const change = state.whenChange("ready");
        const equal = state.whenEqual("count", 2);
        const notEqual = state.whenNotEqual("ready", false);
        const truthy = state.whenTruthy("ready");
        const falsy = state.whenFalsy("gone");
        const defined = state.whenDefined("later");
        const available = state.whenAvailable("later");
        for (let i = 1; i <= 3; i++) await state.set("count", i);
        await state.set("ready", true);
        await state.set("later", "here");
        assert.deepEqual((await when).count, 3);
        assert.equal((await change).after, true);
        assert.equal(await equal, 2);
        assert.equal(await notEqual, true);
        assert.equal(await truthy, true);
        assert.equal(await falsy, undefined, "already falsy: resolves at once");
        assert.equal(await defined, "here");
        assert.equal(await available, "here");
        const undef = state.whenUndefined("later");
        await state.delete("later");
        assert.equal(await undef, undefined);
        await assert.rejects(state.whenEqual("count", 99, { timeout: 100 }), TimeoutError);
        const controller = new AbortController();
        const aborted = state.whenEqual("count", 99, { signal: controller.signal });
        controller.abort();
        await assert.rejects(aborted, AbortError);
      });

      test("a wait on one key reads that key alone, with the seq to watch from", T, async () => {
        await using s = await setup(transport, via);
        const { state } = s;
        await state.update({ big: "x".repeat(100_000), count: 1 });
        const client = new RpcClient({ timeout: 3000 });
        client.connect(s.server.address);
        try {
          const [seq, bytes] = (await client.call("getseq", ["default", "count"])) as [number, Buffer];
          assert.equal(seq, (await state.set("other", 0)) - 1);
          assert.equal(packWire(1).equals(bytes), true);
          assert.deepEqual(await client.call("getseq", ["default", "missing"]), [seq + 1, null]);
        } finally {
          client.close();
        }
        // The change right after the read is not missed, and undefined is a value it can wait for.
        const equal = state.whenEqual("count", 2);
        const gone = state.whenUndefined("count");
        await state.set("count", 2);
        assert.equal(await equal, 2);
        await state.delete("count");
        assert.equal(await gone, undefined);
        assert.equal(await state.whenUndefined("count", { timeout: 0 }), undefined);
      });

      test("bad requests get errors and the server keeps serving", T, async () => {
        await using s = await setup(transport, via);
        await using raw = new Dealer();
        raw.connect(s.server.address);
        await raw.send([Buffer.alloc(0), Buffer.from([0xc1, 0x00])]);
        await raw.send([Buffer.alloc(0), packWire(["not", "an", "event", "shape"])]);
        const client = new RpcClient({ timeout: 3000 });
        client.connect(s.server.address);
        try {
          await assert.rejects(
            client.call("nosuch", ["default"]),
            (e: unknown) => e instanceof RemoteError && e.remoteName === "NameError",
          );
          await assert.rejects(
            client.call("set", ["default", "k", 123]),
            (e: unknown) => e instanceof RemoteError && e.remoteName === "InvalidArgumentError",
          );
          await assert.rejects(
            client.call("set", ["default", 5, Buffer.from([1])]),
            /invalid key: 5; expected a string/,
          );
          await assert.rejects(
            client.call("op", ["default", "k", "explode", packWire([])]),
            /unknown atomic operation/,
          );
        } finally {
          client.close();
        }
        await s.state.set("k", "fine");
        assert.equal(await s.state.get("k"), "fine");
      });
    });
  }

describe("a condition wait against a server that never answers", () => {
  test("the first read (getseq, or the snapshot of when()) stops at the wait's signal and deadline", T, async () => {
    // A ROUTER that reads requests and answers none: the State's own call timeout is far off,
    // so only the condition's signal or timeout can end the wait.
    await using mute = new Router({ linger: 0 });
    const address = freshEndpoint("ipc");
    await mute.bind(address);
    await using state = new State(address, { timeout: 600_000, heartbeat: false });
    for (const wait of [
      (signal: AbortSignal) => state.whenEqual("k", 1, { signal }),
      (signal: AbortSignal) => state.when(() => false, { signal }),
    ]) {
      const controller = new AbortController();
      const waiting = wait(controller.signal);
      await mute.receive(); // the read reached the server
      controller.abort();
      await assert.rejects(waiting, AbortError);
      const timed = state.whenTruthy("k", { timeout: 50 });
      await mute.receive();
      await assert.rejects(timed, TimeoutError);
    }
  });
});

describe("state server addresses", () => {
  test("ping tells whether a server is there; a missing server times out, never hangs", T, async () => {
    await using server = await StateServer.start(freshEndpoint("ipc"));
    assert.equal(await ping(server.address, { timeout: 2000 }), true);
    const missing = freshEndpoint("ipc");
    assert.equal(await ping(missing, { timeout: 200 }), false);
    const state = new State(missing, { timeout: 200 });
    try {
      await assert.rejects(
        state.get("x"),
        (e: unknown) => e instanceof TimeoutError && /no state server answered/.test((e as Error).message),
      );
    } finally {
      state.close();
    }
  });
});
