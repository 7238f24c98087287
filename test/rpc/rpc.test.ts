import assert from "node:assert/strict";
import { once } from "node:events";
import { describe, test } from "node:test";
import { Dealer, Router } from "../../src/index.js";
import {
  AbortError,
  BusyError,
  currentCall,
  MessageTooLargeError,
  PushStream,
  RemoteError,
  RpcClient,
  RpcServer,
  type StreamSink,
  TimeoutError,
  TooManyItemsError,
} from "../../src/rpc/index.js";
import { BATCH_MARKER, decodeEvent, encodeFast, isBatchMarker, nextIdNumber } from "../../src/rpc/protocol.js";
import * as anchor from "../fixtures/anchor.js";
import { freshEndpoint, networkTransports } from "../helpers.js";

const T = { timeout: 15_000 };

async function pair(target: object, transport: "tcp" | "ipc", serverOptions = {}, clientOptions = {}) {
  const server = new RpcServer(target, { name: "anchor", heartbeat: 200, ...serverOptions });
  const address = await server.bind(freshEndpoint(transport));
  const client = new RpcClient({ heartbeat: 200, timeout: 5000, ...clientOptions });
  client.connect(address);
  return {
    server,
    client,
    address,
    async [Symbol.asyncDispose]() {
      await client[Symbol.asyncDispose]();
      await server[Symbol.asyncDispose]();
    },
  };
}

for (const transport of networkTransports) {
  describe(`rpc over ${transport}`, () => {
    test("sync and async methods answer OK; the typed proxy calls them", T, async () => {
      await using p = await pair(anchor, transport);
      assert.equal(await p.client.call("add", [1, 2]), 3);
      const api = p.client.proxy<typeof anchor>();
      assert.equal(await api.add(40, 2), 42);
      assert.deepEqual(await api.echo({ a: [1, 2.5, null], b: Buffer.from([0, 1, 255]) }), {
        a: [1, 2.5, null],
        b: Buffer.from([0, 1, 255]),
      });
      assert.equal(await api.sleep(0.01), 0.01);
    });

    test("the proxy is not a thenable and can be returned from async code", T, async () => {
      await using p = await pair(anchor, transport);
      const api = p.client.proxy<typeof anchor>();
      assert.equal((api as unknown as { then?: unknown }).then, undefined);
      const same = await (async () => api)();
      assert.equal(await same.add(1, 1), 2);
    });

    test("generators stream: iterate item by item, or await to collect", T, async () => {
      await using p = await pair(anchor, transport);
      const api = p.client.proxy<typeof anchor>();
      const seen: number[] = [];
      for await (const n of api.range(5)) seen.push(n);
      assert.deepEqual(seen, [0, 1, 2, 3, 4]);
      assert.deepEqual(await api.range(6, 2), [0, 2, 4]);
      assert.equal((await api.range(1000)).length, 1000);
      const async = {
        async *ticks(n: number) {
          for (let i = 0; i < n; i++) yield { i };
        },
      };
      await using q = await pair(async, transport);
      assert.deepEqual(await q.client.call("ticks", [2]), [{ i: 0 }, { i: 1 }]);
    });

    test("awaiting an endless stream fails at maxCollectedItems and stops the server's producer", T, async () => {
      let stopped: Promise<unknown> | undefined;
      const service = {
        *forever() {
          stopped = once(currentCall()!.signal, "abort");
          for (let i = 0; ; i++) yield i;
        },
      };
      // Heartbeats far apart: the producer's abort must come from the cancel, not a lost peer.
      await using p = await pair(
        service,
        transport,
        { heartbeat: 30_000 },
        { maxCollectedItems: 500, heartbeat: 30_000 },
      );
      await assert.rejects(p.client.call("forever"), (error: unknown) => {
        assert.ok(error instanceof TooManyItemsError, String(error));
        assert.equal(error.code, "ETOOMANYITEMS");
        return true;
      });
      await stopped;
      assert.throws(() => new RpcClient({ maxCollectedItems: 0 }), /maxCollectedItems/);
    });

    test("breaking out of a stream ends it cleanly and the server stops producing", T, async () => {
      let produced = 0;
      let stopped: Promise<unknown> | undefined;
      const service = {
        *forever() {
          stopped = once(currentCall()!.signal, "abort");
          while (true) {
            produced++;
            yield produced;
          }
        },
      };
      await using p = await pair(service, transport);
      for await (const n of p.client.call<number>("forever")) if (n >= 250) break;
      await stopped; // the server handler sees its signal abort (explicit cancel to a zerokit peer)
      const after = produced;
      assert.ok(after < 250 + 200, `producer ran ahead by at most the credit window (${after})`);
      // The server still serves: a second stream runs the producer again.
      let first = 0;
      for await (const n of p.client.call<number>("forever")) {
        first = n;
        break;
      }
      assert.ok(first > after, `a second stream starts (${first})`);
    });

    test("a PushStream sends what is pushed, never past the client's credit, and ends or fails", T, async () => {
      const WINDOW = 4;
      let received = 0;
      let maxAhead = 0;
      let refused = 0;
      let ended: StreamSink | undefined;
      const service = {
        count: (total: number) =>
          new PushStream((sink) => {
            let next = 0;
            const pump = () => {
              while (next < total) {
                if (!sink.push(next)) {
                  refused++;
                  return;
                }
                next++;
                maxAhead = Math.max(maxAhead, next - received);
              }
              sink.end();
              ended = sink;
            };
            sink.onCredit = pump;
            pump();
          }),
        broken: () => new PushStream((sink) => sink.fail(new RangeError("no more"))),
      };
      await using p = await pair(service, transport, {}, { streamWindow: WINDOW });
      const seen: number[] = [];
      for await (const n of p.client.call<number>("count", [50])) {
        seen.push(n);
        received++;
      }
      assert.deepEqual(
        seen,
        Array.from({ length: 50 }, (_, i) => i),
      );
      assert.ok(maxAhead <= WINDOW, `at most the window was sent ahead (${maxAhead})`);
      assert.ok(refused > 0, "the producer was held back by credit at least once");
      assert.equal(ended?.push(99), false, "nothing is sent after end()");
      assert.deepEqual(await p.client.call("count", [3]), [0, 1, 2]);
      await assert.rejects(
        p.client.call("broken"),
        (e: unknown) => e instanceof RemoteError && e.remoteName === "RangeError" && e.remoteMessage === "no more",
      );
    });

    test("a PushStream's signal aborts when the consumer stops", T, async () => {
      let aborted: Promise<unknown> | undefined;
      const service = {
        forever: () =>
          new PushStream((sink) => {
            aborted = once(sink.signal, "abort");
            let i = 0;
            sink.onCredit = () => {
              while (sink.push(i)) i++;
            };
            sink.onCredit();
          }),
      };
      await using p = await pair(service, transport);
      for await (const n of p.client.call<number>("forever")) if (n >= 20) break;
      await aborted;
    });

    test("zerokit framing: no delimiter, and calls of one turn travel (and are answered) as one batch", T, async () => {
      let peer = "";
      const service = {
        whoami: () => {
          peer = currentCall()!.peer;
          return "me";
        },
        add: (a: number, b: number) => a + b,
        slow: async (x: number) => {
          await new Promise((r) => setImmediate(r));
          return x;
        },
        *range(n: number) {
          for (let i = 0; i < n; i++) yield i;
        },
      };
      await using p = await pair(service, transport, {}, { framing: "zerokit" });
      assert.equal(await p.client.call("whoami"), "me");
      assert.ok(peer.length > 0, "the peer is the routing id in either framing");
      const sums = await Promise.all(Array.from({ length: 600 }, (_, i) => p.client.call<number>("add", [i, 1])));
      assert.deepEqual(
        sums,
        Array.from({ length: 600 }, (_, i) => i + 1),
      );
      // Replies that come after the batch (async handlers) and streams with their credit events.
      assert.deepEqual(await Promise.all([1, 2, 3].map((x) => p.client.call("slow", [x]))), [1, 2, 3]);
      assert.equal((await p.client.call<number[]>("range", [300])).length, 300);

      // On the wire: the first call of a turn goes alone as [blob]; the rest follow as one batch.
      await using router = new Router();
      const address = await router.bind(freshEndpoint(transport));
      await using client = new RpcClient({ framing: "zerokit", heartbeat: false });
      client.connect(address);
      const calls = [client.call("add", [1, 1]), client.call("add", [2, 2]), client.call("add", [3, 3])];
      const single = await router.receive({ timeout: 5000 });
      assert.equal(single.length, 2, "[identity, blob]");
      const batch = await router.receive({ timeout: 5000 });
      assert.equal(batch.length, 4, "[identity, marker, blob, blob]");
      assert.ok(isBatchMarker(batch[1]));
      const ids = [single[1], batch[2], batch[3]].map((blob) => decodeEvent(blob as Buffer).header.message_id);
      const reply = (i: number) => encodeFast(nextIdNumber(), ids[i] as Buffer, "OK", [i]);
      await router.send([single[0] as Buffer, BATCH_MARKER, reply(2), reply(0)]);
      await router.send([single[0] as Buffer, reply(1)]);
      assert.deepEqual(await Promise.all(calls), [0, 1, 2]);

      // A zerokit server answers a batch with a batch, and a lone event with a lone reply.
      await using raw = new Dealer();
      raw.connect(p.address);
      const request = (x: number) => encodeFast(nextIdNumber(), undefined, "add", [x, 0]);
      await raw.send([BATCH_MARKER, request(1), request(2)]);
      const answers = await raw.receive({ timeout: 5000 });
      assert.ok(isBatchMarker(answers[0]));
      assert.deepEqual(
        answers.slice(1).map((blob) => decodeEvent(blob).args),
        [[1], [2]],
      );
      await raw.send(request(7));
      const lone = await raw.receive({ timeout: 5000 });
      assert.equal(lone.length, 1, "no delimiter back either");
      assert.deepEqual(decodeEvent(lone[0] as Buffer).args, [7]);
    });

    test("a thrown error answers ERR [name, message, stack] as RemoteError", T, async () => {
      await using p = await pair(anchor, transport);
      const error = await p.client.call("fail", ["bad"]).then(
        () => assert.fail("should throw"),
        (e: unknown) => e,
      );
      assert.ok(error instanceof RemoteError);
      assert.equal(error.remoteName, "ValueError");
      assert.equal(error.remoteMessage, "bad");
      assert.match(error.remoteStack, /ValueError: bad/);
      assert.equal(error.code, "EREMOTE");
    });

    test("an unknown method answers NameError", T, async () => {
      await using p = await pair(anchor, transport);
      await assert.rejects(
        p.client.call("nosuch"),
        (e: unknown) => e instanceof RemoteError && e.remoteName === "NameError" && e.remoteMessage === "nosuch",
      );
      await assert.rejects(p.client.call("_private"), RemoteError);
    });

    test("introspection: ping, name, list, help, args, inspect", T, async () => {
      await using p = await pair(anchor, transport);
      const c = p.client;
      assert.deepEqual(await c.call("_zerorpc_ping"), ["pong", "anchor"]);
      assert.equal(await c.call("_zerorpc_name"), "anchor");
      assert.deepEqual(await c.call("_zerorpc_list"), ["add", "echo", "fail", "kw", "range", "sleep"]);
      assert.equal(await c.call("_zerorpc_help", ["add"]), "Return a + b.");
      assert.deepEqual(await c.call("_zerorpc_args", ["kw"]), [["a", "b"], null, null, [2]]);
      const inspect = (await c.call("_zerorpc_inspect")) as {
        name: string;
        methods: Record<string, { args: unknown; doc: unknown }>;
      };
      assert.equal(inspect.name, "anchor");
      assert.deepEqual(inspect.methods.range, {
        args: [{ name: "n" }, { name: "step", default: 1 }],
        doc: "Stream 0..n-1 (STREAM events followed by STREAM_DONE).",
      });
      assert.deepEqual(inspect.methods.fail?.args, [{ name: "msg", default: "boom" }]);
    });

    test("context headers reach the handler and propagate to calls it makes", T, async () => {
      const inner = { trace: () => currentCall()?.headers.trace_id };
      await using back = await pair(inner, transport);
      const front = {
        async relay() {
          const ctx = currentCall()!;
          assert.equal(ctx.method, "relay");
          assert.ok(ctx.peer.length > 0);
          return back.client.call("trace");
        },
      };
      await using p = await pair(front, transport);
      assert.equal(await p.client.call("relay", [], { headers: { trace_id: "abc-123" } }), "abc-123");
    });

    test("asyncContext: false shows the call to the synchronous part of a handler only", T, async () => {
      const service = {
        sync: () => currentCall()?.headers.trace_id,
        async later() {
          const before = currentCall()?.method;
          await new Promise((resolve) => setImmediate(resolve));
          return [before, currentCall()?.method ?? null];
        },
      };
      await using p = await pair(service, transport, { asyncContext: false });
      assert.equal(await p.client.call("sync", [], { headers: { trace_id: "t1" } }), "t1");
      assert.deepEqual(await p.client.call("later"), ["later", null]);
      assert.equal(currentCall(), undefined, "nothing leaks out of the handler");
    });

    test(
      "by default async and generator methods keep their call across awaits, plain ones while they run",
      T,
      async () => {
        const methodLater = () =>
          new Promise<unknown>((resolve) => setImmediate(() => resolve(currentCall()?.method ?? null)));
        const service = {
          plain: () => currentCall()?.method,
          plainLeavesBehind: methodLater,
          async later() {
            await new Promise((resolve) => setImmediate(resolve));
            return currentCall()?.method;
          },
          *gen() {
            yield currentCall()?.method;
            yield currentCall()?.method;
          },
          async *agen() {
            await new Promise((resolve) => setImmediate(resolve));
            yield currentCall()?.method;
          },
        };
        {
          await using p = await pair(service, transport);
          assert.equal(await p.client.call("plain"), "plain");
          assert.equal(await p.client.call("later"), "later");
          assert.deepEqual(await p.client.call("gen"), ["gen", "gen"]);
          assert.deepEqual(await p.client.call("agen"), ["agen"]);
          assert.equal(
            await p.client.call("plainLeavesBehind"),
            null,
            "a plain function's callbacks run outside its call",
          );
        }
        await using always = await pair(service, transport, { asyncContext: true });
        assert.equal(await always.client.call("plainLeavesBehind"), "plainLeavesBehind");
        assert.equal(currentCall(), undefined, "nothing leaks out of the handler");
      },
    );

    test("a headers object reused across calls sends its current entries each time", T, async () => {
      await using p = await pair({ seen: () => ({ ...currentCall()?.headers }) }, transport);
      const headers: Record<string, unknown> = { trace_id: "one" };
      assert.deepEqual(await p.client.call("seen", [], { headers }), { trace_id: "one" });
      headers.trace_id = "two";
      assert.deepEqual(await p.client.call("seen", [], { headers }), { trace_id: "two" });
      headers.extra = 7;
      assert.deepEqual(await p.client.call("seen", [], { headers }), { trace_id: "two", extra: 7 });
      delete headers.trace_id;
      assert.deepEqual(await p.client.call("seen", [], { headers }), { extra: 7 });
      const nested = { user: { id: 1 } };
      assert.deepEqual(await p.client.call("seen", [], { headers: nested }), nested);
      nested.user.id = 2;
      assert.deepEqual(await p.client.call("seen", [], { headers: nested }), { user: { id: 2 } });
    });

    test("a call without a first reply in time fails with TimeoutError", T, async () => {
      await using p = await pair(anchor, transport);
      const started = performance.now();
      await assert.rejects(
        p.client.call("sleep", [5], { timeout: 150 }),
        (e: unknown) => e instanceof TimeoutError && e.code === "ETIMEDOUT",
      );
      assert.ok(performance.now() - started < 2000);
      assert.equal(await p.client.call("add", [2, 2]), 4); // the client keeps working
    });

    test("aborting a call stops waiting at once and aborts the handler's signal", T, async () => {
      let aborted: Promise<unknown> | undefined;
      let started!: () => void;
      const running = new Promise<void>((r) => {
        started = r;
      });
      const service = {
        async wait() {
          aborted = once(currentCall()!.signal, "abort");
          started();
          await aborted;
          return "aborted";
        },
      };
      await using p = await pair(service, transport);
      const controller = new AbortController();
      const call = p.client.call("wait", [], { signal: controller.signal });
      await running;
      controller.abort();
      await assert.rejects(call, AbortError);
      await aborted;
    });

    test("pool size: reject policy answers BusyError, queue policy runs calls in turn", T, async () => {
      let release!: () => void;
      const gate = new Promise<void>((r) => {
        release = r;
      });
      let entered!: () => void;
      const inside = new Promise<void>((r) => {
        entered = r;
      });
      const service = {
        async hold() {
          entered();
          await gate;
          return "held";
        },
        quick: () => "quick",
      };
      await using r = await pair(service, transport, { poolSize: 1, overflow: "reject" });
      const held = r.client.call("hold");
      await inside;
      await assert.rejects(
        r.client.call("quick"),
        (e: unknown) => e instanceof RemoteError && e.remoteName === BusyError.name,
      );
      release();
      assert.equal(await held, "held");
      assert.equal(await r.client.call("quick"), "quick");

      await using q = await pair({ n: async (i: number) => i }, transport, { poolSize: 2 });
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => q.client.call("n", [i])));
      assert.deepEqual(
        results,
        Array.from({ length: 50 }, (_, i) => i),
      );
    });

    test("message size limits: oversized requests and replies get a clear error", T, async () => {
      const service = { big: (n: number) => Buffer.alloc(n), echo: (x: unknown) => x };
      await using p = await pair(service, transport, { maxMessageSize: 64 * 1024 }, { maxMessageSize: 32 * 1024 });
      await assert.rejects(p.client.call("echo", [Buffer.alloc(40 * 1024)]), MessageTooLargeError);
      await assert.rejects(p.client.call("big", [40 * 1024]), MessageTooLargeError);
      await using q = await pair(service, transport, { maxMessageSize: 16 * 1024 });
      await assert.rejects(
        q.client.call("echo", [Buffer.alloc(20 * 1024)]),
        (e: unknown) => e instanceof RemoteError && e.remoteName === "MessageTooLargeError",
      );
      assert.equal(await q.client.call("echo", ["still serving"]), "still serving");
    });

    test("hooks see calls, results and errors", T, async () => {
      const seen: string[] = [];
      await using p = await pair(anchor, transport, {
        hooks: {
          beforeCall: (c: { method: string }) => void seen.push(`before ${c.method}`),
          afterCall: (c: { method: string }, r: unknown) => void seen.push(`after ${c.method} ${String(r)}`),
          onError: (c: { method: string }, e: unknown) => {
            seen.push(`error ${c.method}`);
            return e;
          },
        },
      });
      await p.client.call("add", [1, 2]);
      await p.client.call("fail").catch(() => undefined);
      assert.deepEqual(seen, ["before add", "after add 3", "before fail", "error fail"]);
    });

    test("many concurrent calls from many callers all get their own answer", T, async () => {
      await using p = await pair(anchor, transport);
      const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => p.client.call("add", [i, 1])));
      assert.deepEqual(
        results,
        Array.from({ length: 1000 }, (_, i) => i + 1),
      );
    });

    test("heartbeats keep a long call alive past two periods", T, async () => {
      await using p = await pair(anchor, transport);
      assert.equal(await p.client.call("sleep", [0.7]), 0.7); // 3.5 heartbeat periods
    });
  });
}
