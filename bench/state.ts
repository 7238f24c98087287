/**
 * State suite: zerokit/state against the raw zeromq DEALER⇄ROUTER round trip (same window) as the
 * ceiling of every round-trip row; processes are separate, tcp loopback. Rows: set+get pairs/s
 * (one client sequential, 4 client processes, one client with 100 in flight), watcher latency
 * p50/p99 from a write in one process to the change in another (no raw ceiling: not a round trip), set
 * latency with 10 keys vs 100,000 keys in the state, and ctx.map items/s over 4 workers.
 */
import { fileURLToPath } from "node:url";
import * as zmq from "zeromq";
import { Context, State, startServer } from "../src/state/index.js";
import { Child, childMain, median, type Row, row } from "./lib.js";

const EMPTY = Buffer.alloc(0);
const now = () => Number(process.hrtime.bigint()) / 1000; // µs, CLOCK_MONOTONIC: comparable across processes

async function rawServer(_args: string[], io: { report(v: unknown): void; released: Promise<void> }): Promise<void> {
  const router = new zmq.Router({ linger: 0 });
  await router.bind("tcp://127.0.0.1:*");
  io.report({ address: router.lastEndpoint });
  const serve = (async () => {
    for await (const [id, , blob] of router) await router.send([id!, EMPTY, blob!]);
  })();
  await io.released;
  router.close();
  await serve.catch(() => undefined);
}

async function stateServer([keys]: string[], io: { report(v: unknown): void; released: Promise<void> }): Promise<void> {
  const server = await startServer("tcp://127.0.0.1:*", { inProcess: true });
  const state = new State(server.address);
  const preload = Number(keys ?? 0);
  for (let i = 0; i < preload; i += 1000) {
    const batch: Record<string, unknown> = {};
    for (let k = i; k < Math.min(preload, i + 1000); k++) batch[`key${k}`] = { k, text: "some value" };
    await state.update(batch);
  }
  state.close();
  io.report({ address: server.address });
  await io.released;
  await server.stop();
}

/** A set+get pair on the state, or two raw round trips (the ceiling of a pair). */
async function pairsClient(
  [impl, mode, countText, address]: string[],
  io: { report(v: unknown): void },
): Promise<void> {
  const count = Number(countText);
  const window = mode === "inflight" ? 100 : 1;
  let pair: (i: number) => Promise<unknown>;
  let close: () => void;
  if (impl === "zerokit") {
    const state = new State(address!);
    pair = async (i) => {
      await state.set(`k${i % 100}`, i);
      return state.get(`k${i % 100}`);
    };
    close = () => state.close();
  } else {
    const dealer = new zmq.Dealer({ linger: 0 });
    dealer.connect(address!);
    const blob = Buffer.alloc(60);
    // Raw replies come back in order on one DEALER; matching them needs no ids at window 1, and
    // at window 100 each worker awaits "a" reply, which is the same work.
    let pending: (() => void)[] = [];
    void (async () => {
      for await (const _ of dealer) pending.shift()?.();
    })().catch(() => undefined);
    const roundTrip = () =>
      new Promise<void>((resolve) => {
        pending.push(resolve);
        void dealer.send([EMPTY, blob]);
      });
    pair = async () => {
      await roundTrip();
      await roundTrip();
    };
    close = () => {
      pending = [];
      dealer.close();
    };
  }
  await pair(0);
  let started = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: window }, async () => {
      while (started < count) await pair(started++);
    }),
  );
  io.report({ rate: (count / (performance.now() - start)) * 1000 });
  close();
}

/** Set latency (µs per set, sequential) against a server preloaded with N keys. */
async function setLatency([countText, address]: string[], io: { report(v: unknown): void }): Promise<void> {
  const state = new State(address!);
  const count = Number(countText);
  await state.set("probe", 0);
  const start = performance.now();
  for (let i = 0; i < count; i++) await state.set("probe", i);
  io.report({ us: ((performance.now() - start) * 1000) / count });
  state.close();
}

async function watchReader([countText, address]: string[], io: { report(v: unknown): void }): Promise<void> {
  const count = Number(countText);
  const latencies: number[] = [];
  const state = new State(address!);
  const seq = await state.set("w", 0);
  io.report({ ready: true, since: seq + 1 });
  for await (const change of state.watch(["w"], { since: seq + 1 })) {
    latencies.push(now() - (change.after as number));
    if (latencies.length === count) break;
  }
  state.close();
  latencies.sort((a, b) => a - b);
  io.report({ p50: latencies[Math.floor(count * 0.5)], p99: latencies[Math.floor(count * 0.99)] });
}

async function watchWriter([countText, address]: string[], io: { report(v: unknown): void }): Promise<void> {
  const count = Number(countText);
  const state = new State(address!);
  for (let i = 0; i < count; i++) await state.set("w", now());
  state.close();
  io.report({ done: true });
}

childMain(import.meta.url, {
  raw: rawServer,
  server: stateServer,
  pairs: pairsClient,
  setlat: setLatency,
  reader: watchReader,
  writer: watchWriter,
});

async function withServer<T>(
  role: "raw" | "server",
  args: (string | number)[],
  body: (address: string) => Promise<T>,
): Promise<T> {
  const server = Child.spawn(import.meta.url, role, args);
  try {
    const { address } = await server.next<{ address: string }>();
    return await body(address);
  } finally {
    await server.finish().catch(() => server.kill());
  }
}

async function pairs(impl: "zerokit" | "raw", mode: string, clients: number, count: number): Promise<number> {
  return withServer(impl === "zerokit" ? "server" : "raw", [0], async (address) => {
    const children = Array.from({ length: clients }, () =>
      Child.spawn(import.meta.url, "pairs", [impl, mode, count, address]),
    );
    const rates = await Promise.all(children.map((c) => c.next<{ rate: number }>().then((r) => r.rate)));
    await Promise.all(children.map((c) => c.finish()));
    return rates.reduce((a, b) => a + b, 0);
  });
}

async function watchLatency(count: number): Promise<{ p50: number; p99: number }> {
  return withServer("server", [0], async (address) => {
    const reader = Child.spawn(import.meta.url, "reader", [count, address]);
    await reader.next();
    const writer = Child.spawn(import.meta.url, "writer", [count, address]);
    const result = await reader.next<{ p50: number; p99: number }>();
    await writer.next();
    await Promise.all([reader.finish(), writer.finish()]);
    return result;
  });
}

async function rawRoundTripUs(count: number): Promise<number> {
  const rate = await pairs("raw", "sequential", 1, count);
  return 1e6 / (rate * 2);
}

async function mapRate(items: number): Promise<number> {
  const ctx = await Context.start("tcp://127.0.0.1:1"); // map needs no server
  try {
    const module = fileURLToPath(new URL("./state-work.js", import.meta.url));
    const list = Array.from({ length: items }, (_, i) => i);
    const start = performance.now();
    const out = await ctx.map<number>(module, "square", list, { workers: 4 });
    if (out.length !== items) throw new Error("map lost items");
    return (items / (performance.now() - start)) * 1000;
  } finally {
    ctx.stopAll();
    ctx.state.close();
  }
}

const RUNS = 3;
async function med(f: () => Promise<number>): Promise<number> {
  const values: number[] = [];
  for (let i = 0; i < RUNS; i++) values.push(await f());
  return median(values);
}

export async function run(): Promise<Row[]> {
  const rows: Row[] = [];
  rows.push(
    row(
      "set+get pairs, 1 client sequential",
      "pairs/s",
      await med(() => pairs("zerokit", "sequential", 1, 5000)),
      await med(() => pairs("raw", "sequential", 1, 5000)),
    ),
  );
  rows.push(
    row(
      "set+get pairs, 4 client processes",
      "pairs/s",
      await med(() => pairs("zerokit", "sequential", 4, 3000)),
      await med(() => pairs("raw", "sequential", 4, 3000)),
    ),
  );
  rows.push(
    row(
      "set+get pairs, 100 in flight",
      "pairs/s",
      await med(() => pairs("zerokit", "inflight", 1, 30000)),
      await med(() => pairs("raw", "inflight", 1, 30000)),
    ),
  );
  // Not a round trip, so no raw ceiling beside it; compare with the set latency rows below.
  const watch = await watchLatency(3000);
  rows.push(row("watcher latency p50, write→change (raw: n/a)", "µs", watch.p50, 0));
  rows.push(row("watcher latency p99, write→change (raw: n/a)", "µs", watch.p99, 0));
  const rt = await rawRoundTripUs(3000);
  const small = await med(() => withServer("server", [10], (address) => oneSetLatency(address)));
  const large = await med(() => withServer("server", [100_000], (address) => oneSetLatency(address)));
  rows.push(row("set latency, 10 keys (raw: one round trip; lower is better)", "µs", small, rt));
  rows.push(row("set latency, 100,000 keys (raw: one round trip)", "µs", large, rt));
  rows.push(row("ctx.map small items, 4 workers (raw: n/a)", "items/s", await med(() => mapRate(200_000)), 0));
  return rows;
}

async function oneSetLatency(address: string): Promise<number> {
  const child = Child.spawn(import.meta.url, "setlat", [3000, address]);
  const { us } = await child.next<{ us: number }>();
  await child.finish();
  return us;
}
