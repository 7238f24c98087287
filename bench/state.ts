/**
 * State suite: zerokit/state against raw zeromq DEALER⇄ROUTER (the ceiling) over tcp loopback,
 * processes separate. Rows: set+get pairs/s (one client sequential and one client with 100 in
 * flight, each alternating zerokit and raw bursts against one server process hosting both, like
 * the rpc suite; 4 client processes, run one implementation at a time), watcher latency p50/p99
 * from a write in one process to the change in another (writes paced 1 ms apart; raw: the same
 * write relayed by a ROUTER to a subscribed DEALER), set latency with 10 keys vs 100,000 keys in
 * the state, and ctx.map items/s over 4 workers. A CURVE row repeats the sequential pairs with
 * encryption on both sides (the same server key, client key and ZAP allowlist for zerokit and
 * raw), a 16-process row shows many clients, and two map rows time a cold map (processes started
 * by the call) and a map on a warm pool.
 */
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import * as zmq from "zeromq";
import { Authenticator, type ClientSecurity, generateKeyPair, publicKeyOf } from "../src/core/security/index.js";
import { Context, State, startServer } from "../src/state/index.js";
import { Child, childMain, median, type Row, repoRoot, row, runProcess, wanted } from "./lib.js";

const now = () => Number(process.hrtime.bigint()) / 1000; // µs, CLOCK_MONOTONIC: comparable across processes

/**
 * The raw ceiling's server: a ROUTER that echoes every request, except that a request whose
 * first byte is "S" subscribes the sender to relayed writes, and one starting with "W" is echoed
 * and also relayed to the subscriber (the raw form of write → server → watcher). Messages are
 * `[blob]` from the DEALER, `[identity, blob]` here, the framing the State client uses (no empty
 * delimiter), so the ceiling does the same wire work.
 */
async function rawServe(router: zmq.Router): Promise<void> {
  let watcher: Buffer | undefined;
  for await (const [id, blob] of router) {
    const kind = blob![0];
    if (kind === 0x53) watcher = id;
    await router.send([id!, blob!]);
    if (kind === 0x57 && watcher) await router.send([watcher, blob!]);
  }
}

async function rawServer(_args: string[], io: { report(v: unknown): void; released: Promise<void> }): Promise<void> {
  const router = new zmq.Router({ linger: 0 });
  await router.bind("tcp://127.0.0.1:*");
  io.report({ address: router.lastEndpoint });
  const serve = rawServe(router);
  await io.released;
  router.close();
  await serve.catch(() => undefined);
}

/**
 * Both servers in one process, so interleaved bursts compare them on the same machine state.
 * With `serverSecret clientPublic`, both are CURVE servers behind one ZAP authenticator that
 * allows only that client key.
 */
async function bothServers(
  [serverSecret, clientPublic]: string[],
  io: { report(v: unknown): void; released: Promise<void> },
): Promise<void> {
  const auth = serverSecret && clientPublic ? new Authenticator({ curve: { keys: [clientPublic] } }) : undefined;
  await auth?.start();
  const server = await startServer("tcp://127.0.0.1:*", {
    inProcess: true,
    ...(auth && serverSecret ? { security: { curve: { secretKey: serverSecret }, authenticator: auth } } : {}),
  });
  const curve =
    auth && serverSecret
      ? { curveServer: true, curveSecretKey: serverSecret, zapDomain: auth.domain, zapEnforceDomain: true }
      : {};
  const router = new zmq.Router({ linger: 0, ...curve });
  await router.bind("tcp://127.0.0.1:*");
  io.report({ zerokit: server.address, raw: router.lastEndpoint });
  const serve = rawServe(router);
  await io.released;
  router.close();
  await serve.catch(() => undefined);
  await server.stop();
  auth?.close();
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

interface PairRunner {
  pair(i: number): Promise<unknown>;
  close(): void;
}

/** A set+get pair on the state. */
function statePairs(address: string, security?: ClientSecurity): PairRunner {
  const state = new State(address, security ? { security } : {});
  return {
    pair: async (i) => {
      await state.set(`k${i % 100}`, i);
      return state.get(`k${i % 100}`);
    },
    close: () => state.close(),
  };
}

/** Two raw round trips (the ceiling of a pair), with the same CURVE keys as the State when given. */
function rawPairs(address: string, security?: ClientSecurity): PairRunner {
  const keys = security?.curve;
  const curve = keys
    ? { curveServerKey: keys.serverKey, curvePublicKey: keys.publicKey, curveSecretKey: keys.secretKey }
    : {};
  const dealer = new zmq.Dealer({ linger: 0, ...(curve as object) });
  dealer.connect(address);
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
      void dealer.send(blob);
    });
  return {
    pair: async () => {
      await roundTrip();
      await roundTrip();
    },
    close: () => {
      pending = [];
      dealer.close();
    },
  };
}

/** Runs `count` pairs with `window` in flight; resolves with pairs/s. */
async function pairRate(runner: PairRunner, count: number, window: number): Promise<number> {
  let started = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: window }, async () => {
      while (started < count) await runner.pair(started++);
    }),
  );
  return (count / (performance.now() - start)) * 1000;
}

/**
 * Pairs each client process runs before it reports ready. Measured per 100-pair window from a
 * fresh process, a zerokit client's CPU per pair settles only after ~1500 pairs (the optimizing
 * compiles of its code and msgpackr's come that late), raw zeromq.js's after ~500; with 100, the
 * 16-process row measured little else (each client runs ~100 pairs in its 2 s window).
 */
const WARM_PAIRS = 2000;

/**
 * One client process of the many-process rows: once connected and warm it reports ready and runs
 * sequential pairs, noting when each completed (monotonic µs, comparable across processes),
 * until the parent creates the file `stopFile`; then it reports the times.
 */
async function pairsClient([impl, stopFile, address]: string[], io: { report(v: unknown): void }): Promise<void> {
  const runner = impl === "zerokit" ? statePairs(address!) : rawPairs(address!);
  for (let i = 0; i < WARM_PAIRS; i++) await runner.pair(i); // connect and warm up
  io.report({ ready: true });
  const times: number[] = [];
  // A stat every 20 pairs costs far less than the pairs it spaces.
  while (times.length % 20 !== 0 || !existsSync(stopFile!)) {
    await runner.pair(times.length);
    times.push(Math.round(now()));
  }
  io.report({ times });
  runner.close();
}

/**
 * Alternates zerokit and raw bursts against {@link bothServers} (who goes first swaps each
 * round) and reports the median rate of each, like the rpc suite.
 */
async function alternatingClient(
  [window, burst, rounds, zkAddress, rawAddress, serverKey, publicKey, secretKey]: string[],
  io: { report(v: unknown): void },
): Promise<void> {
  const security: ClientSecurity | undefined =
    serverKey && publicKey && secretKey ? { curve: { serverKey, publicKey, secretKey } } : undefined;
  const runners = { zerokit: statePairs(zkAddress!, security), raw: rawPairs(rawAddress!, security) };
  const size = Number(burst);
  for (const runner of Object.values(runners)) await pairRate(runner, Math.min(size, 500), Number(window)); // warm up
  const rates: Record<"zerokit" | "raw", number[]> = { zerokit: [], raw: [] };
  for (let round = 0; round < Number(rounds); round++) {
    const order = round % 2 === 0 ? (["zerokit", "raw"] as const) : (["raw", "zerokit"] as const);
    for (const impl of order) rates[impl].push(await pairRate(runners[impl], size, Number(window)));
  }
  io.report({ zerokit: median(rates.zerokit), raw: median(rates.raw) });
  for (const runner of Object.values(runners)) runner.close();
}

/** Set latency (µs per set, sequential) against a server preloaded with N keys. */
async function setLatency([countText, address]: string[], io: { report(v: unknown): void }): Promise<void> {
  const state = new State(address!);
  const count = Number(countText);
  for (let i = 0; i < 500; i++) await state.set("probe", i); // warm up (JIT, connection)
  const start = performance.now();
  for (let i = 0; i < count; i++) await state.set("probe", i);
  io.report({ us: ((performance.now() - start) * 1000) / count });
  state.close();
}

// Writes are paced (one per PACE_MS) so the rows measure the latency of one change, not the
// queueing of a writer flooding the server.
const PACE_MS = 1;
/** Untimed writes before the warm watcher rows time theirs. */
const WATCH_WARMUP = 4000;

/**
 * The watcher: times `count` changes after `warmup` untimed ones (the same writes 1 ms apart).
 * The warm rows exist because a cold Node process spends its first seconds compiling the hot
 * path on the same two cores (CPython has no JIT to warm): both shapes are reported, on every side.
 */
async function watchReader(
  [countText, address, warmupText]: string[],
  io: { report(v: unknown): void },
): Promise<void> {
  const count = Number(countText);
  let skip = Number(warmupText ?? 0);
  const latencies: number[] = [];
  const state = new State(address!);
  const seq = await state.set("w", 0);
  io.report({ ready: true, since: seq + 1 });
  for await (const change of state.watch(["w"], { since: seq + 1 })) {
    if (skip > 0 && skip--) continue;
    latencies.push(now() - (change.after as number));
    if (latencies.length === count) break;
  }
  state.close();
  io.report(percentiles(latencies));
}

async function watchWriter(
  [countText, address, warmupText]: string[],
  io: { report(v: unknown): void },
): Promise<void> {
  const count = Number(countText) + Number(warmupText ?? 0);
  const state = new State(address!);
  for (let i = 0; i < count; i++) {
    await state.set("w", now());
    await delay(PACE_MS);
  }
  state.close();
  io.report({ done: true });
}

/** The raw watcher: subscribes, then times each relayed write (its timestamp is in the blob). */
async function rawReader([countText, address, warmupText]: string[], io: { report(v: unknown): void }): Promise<void> {
  const count = Number(countText);
  let skip = Number(warmupText ?? 0);
  const dealer = new zmq.Dealer({ linger: 0 });
  dealer.connect(address!);
  await dealer.send(Buffer.from("S"));
  await dealer.receive();
  io.report({ ready: true });
  const latencies: number[] = [];
  while (latencies.length < count) {
    const [blob] = await dealer.receive();
    if (skip > 0 && skip--) continue;
    latencies.push(now() - blob!.readDoubleLE(1));
  }
  dealer.close();
  io.report(percentiles(latencies));
}

async function rawWriter([countText, address, warmupText]: string[], io: { report(v: unknown): void }): Promise<void> {
  const count = Number(countText) + Number(warmupText ?? 0);
  const dealer = new zmq.Dealer({ linger: 0 });
  dealer.connect(address!);
  for (let i = 0; i < count; i++) {
    const blob = Buffer.alloc(60);
    blob[0] = 0x57;
    blob.writeDoubleLE(now(), 1);
    await dealer.send(blob);
    await dealer.receive();
    await delay(PACE_MS);
  }
  dealer.close();
  io.report({ done: true });
}

function percentiles(latencies: number[]): { p50: number; p99: number } {
  latencies.sort((a, b) => a - b);
  return { p50: latencies[Math.floor(latencies.length * 0.5)]!, p99: latencies[Math.floor(latencies.length * 0.99)]! };
}

childMain(import.meta.url, {
  raw: rawServer,
  both: bothServers,
  alternating: alternatingClient,
  rawreader: rawReader,
  rawwriter: rawWriter,
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

/**
 * Pairs/s of `clients` processes running at once: from when the last one is warm, for
 * `durationMs`, the pairs completed in that window over its length (see {@link pairsClient}).
 */
async function pairs(impl: "zerokit" | "raw", clients: number, durationMs: number): Promise<number> {
  return withServer(impl === "zerokit" ? "server" : "raw", [0], async (address) => {
    const stopFile = join(tmpdir(), `zk-state-bench-${process.pid}-${++stopFiles}`);
    const children = Array.from({ length: clients }, () =>
      Child.spawn(import.meta.url, "pairs", [impl, stopFile, address]),
    );
    try {
      await Promise.all(children.map((c) => c.next()));
      const from = now();
      await delay(durationMs);
      const to = now();
      writeFileSync(stopFile, "");
      const reports = await Promise.all(children.map((c) => c.next<{ times: number[] }>()));
      await Promise.all(children.map((c) => c.finish()));
      let count = 0;
      for (const { times } of reports) for (const t of times) if (t >= from && t <= to) count++;
      return (count / (to - from)) * 1e6;
    } finally {
      rmSync(stopFile, { force: true });
    }
  });
}
let stopFiles = 0;

async function watchLatency(impl: "zerokit" | "raw", count: number, warmup = 0): Promise<{ p50: number; p99: number }> {
  return withServer(impl === "zerokit" ? "server" : "raw", [0], async (address) => {
    const reader = Child.spawn(import.meta.url, impl === "zerokit" ? "reader" : "rawreader", [count, address, warmup]);
    await reader.next();
    const writer = Child.spawn(import.meta.url, impl === "zerokit" ? "writer" : "rawwriter", [count, address, warmup]);
    const result = await reader.next<{ p50: number; p99: number }>();
    await writer.next();
    await Promise.all([reader.finish(), writer.finish()]);
    return result;
  });
}

/**
 * zerokit and raw pairs/s from one client process alternating bursts against one server process
 * (the medians of its bursts); with `curve`, fresh CURVE keys for this pair of processes.
 */
async function alternatingPairs(
  window: number,
  burst: number,
  curve = false,
): Promise<{ zerokit: number; raw: number }> {
  const serverKeys = generateKeyPair();
  const clientKeys = generateKeyPair();
  const server = Child.spawn(
    import.meta.url,
    "both",
    curve ? [serverKeys.secretKey as string, clientKeys.publicKey as string] : [],
  );
  try {
    const addresses = await server.next<{ zerokit: string; raw: string }>();
    const keys = curve ? [publicKeyOf(serverKeys.secretKey), clientKeys.publicKey, clientKeys.secretKey] : [];
    const client = Child.spawn(import.meta.url, "alternating", [
      window,
      burst,
      8,
      addresses.zerokit,
      addresses.raw,
      ...(keys as string[]),
    ]);
    const rates = await client.next<{ zerokit: number; raw: number }>();
    await client.finish();
    return rates;
  } finally {
    await server.finish().catch(() => server.kill());
  }
}

async function rawRoundTripUs(durationMs: number): Promise<number> {
  const rate = await pairs("raw", 1, durationMs);
  return 1e6 / (rate * 2);
}

const workModule = fileURLToPath(new URL("./state-work.js", import.meta.url));

/** A cold map: `ctx.map` starts its 4 worker processes, maps, and stops them; timed end to end. */
async function mapRate(items: number): Promise<number> {
  const ctx = await Context.start("tcp://127.0.0.1:1"); // map needs no server
  try {
    const list = Array.from({ length: items }, (_, i) => i);
    const start = performance.now();
    const out = await ctx.map<number>(workModule, "square", list, { workers: 4 });
    if (out.length !== items) throw new Error("map lost items");
    return (items / (performance.now() - start)) * 1000;
  } finally {
    ctx.stopAll();
    ctx.state.close();
  }
}

/** Maps on a warm pool of 4 (started, and warmed by one map, before the timing): the median of 5 maps. */
async function warmMapRate(items: number): Promise<number> {
  const ctx = await Context.start("tcp://127.0.0.1:1");
  const pool = ctx.pool({ workers: 4 });
  try {
    const list = Array.from({ length: items }, (_, i) => i);
    await pool.ready();
    await pool.map(workModule, "square", list);
    const rates: number[] = [];
    for (let i = 0; i < 5; i++) {
      const start = performance.now();
      const out = await pool.map<number>(workModule, "square", list);
      if (out.length !== items) throw new Error("map lost items");
      rates.push((items / (performance.now() - start)) * 1000);
    }
    return median(rates);
  } finally {
    pool.close();
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

/**
 * {@link RUNS} rounds of `measure` (zerokit and raw), each followed by a run of `zproc` when
 * given, so all three see the same machine state; the medians of each.
 */
async function sideBySide(
  measure: () => Promise<{ zerokit: number; raw: number }>,
  zproc?: () => Promise<number>,
): Promise<{ zerokit: number; raw: number; zproc: number }> {
  const zk: number[] = [];
  const rw: number[] = [];
  const zp: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const { zerokit, raw } = await measure();
    zk.push(zerokit);
    rw.push(raw);
    if (zproc) zp.push(await zproc());
  }
  return { zerokit: median(zk), raw: median(rw), zproc: zproc ? median(zp) : 0 };
}

// --- ZProc beside zerokit ----------------------------------------------------------------------

/**
 * The Python that runs ZProc's side (bench/python/zproc_state.py, the same workloads on ZProc's
 * own code). ZProc is not a dependency: when this Python cannot import `zproc`, its rows are left
 * out and the suite says so.
 */
const PYTHON = process.env.ZK_BENCH_PYTHON ?? "python3";
const ZPROC_SCRIPT = join(repoRoot, "bench", "python", "zproc_state.py");

/** Runs one role of the ZProc script and resolves with the JSON object it printed last. */
async function zprocRun<T>(args: readonly (string | number)[]): Promise<T> {
  const { code, stdout, stderr } = await runProcess(PYTHON, [ZPROC_SCRIPT, ...args.map(String)]);
  // ZProc's exit handler prints to stdout too: the result is the last JSON line.
  const last = stdout.split("\n").findLast((line) => line.startsWith("{")) ?? "";
  if (code !== 0 || !last.startsWith("{")) {
    throw new Error(`${PYTHON} zproc_state.py ${args.join(" ")} exited with ${code}\n${stderr}`);
  }
  return JSON.parse(last) as T;
}

async function zprocRate(args: readonly (string | number)[]): Promise<number> {
  return (await zprocRun<{ rate: number }>(args)).rate;
}

async function zprocAvailable(): Promise<boolean> {
  try {
    const { zproc } = await zprocRun<{ zproc: string }>(["probe"]);
    console.log(`state: ZProc ${zproc} (${PYTHON}) runs beside zerokit; its rows have ZProc in the raw column`);
    return true;
  } catch {
    console.log(`state: ${PYTHON} cannot import zproc (set ZK_BENCH_PYTHON); the ZProc rows are left out`);
    return false;
  }
}

export async function run(): Promise<Row[]> {
  const rows: Row[] = [];
  const zp = await zprocAvailable();
  /** A row of zerokit against ZProc, measured in the same rounds. */
  const vsZproc = (name: string, unit: string, zerokit: number, zproc: number) => {
    if (zp) rows.push(row(`${name} (raw column: ZProc)`, unit, zerokit, zproc));
  };
  const pairRows = [
    ["set+get pairs, 1 client sequential", () => alternatingPairs(1, 1000), ["seq", 1000, 8]],
    ["set+get pairs, 4 client processes", () => both((impl) => pairs(impl, 4, 2000)), ["many", 4, 2000]],
    ["set+get pairs, 16 client processes", () => both((impl) => pairs(impl, 16, 2000)), ["many", 16, 2000]],
  ] as const;
  for (const [name, measure, zprocArgs] of pairRows) {
    if (!wanted(name)) continue;
    const r = await sideBySide(measure, zp ? () => zprocRate(zprocArgs) : undefined);
    rows.push(row(name, "pairs/s", r.zerokit, r.raw));
    vsZproc(`ZProc: ${name}`, "pairs/s", r.zerokit, r.zproc);
  }
  const curveName = "CURVE: set+get pairs, 1 client sequential (raw: same keys)";
  if (wanted(curveName)) {
    const curve = await sideBySide(() => alternatingPairs(1, 1000, true));
    rows.push(row(curveName, "pairs/s", curve.zerokit, curve.raw));
  }
  if (wanted("set+get pairs, 100 in flight")) {
    const inflight = await sideBySide(() => alternatingPairs(100, 5000));
    rows.push(row("set+get pairs, 100 in flight", "pairs/s", inflight.zerokit, inflight.raw));
  }
  if (wanted("watcher latency")) {
    const watch = await watchLatency("zerokit", 2000);
    const rawWatch = await watchLatency("raw", 2000);
    const zprocWatch = zp ? await zprocRun<{ p50: number; p99: number }>(["watch", 2000]) : undefined;
    const lower = "write→change (raw: relayed write; lower is better)";
    rows.push(row(`watcher latency p50, ${lower}`, "µs", watch.p50, rawWatch.p50));
    rows.push(row("watcher latency p99, write→change (raw: relayed write)", "µs", watch.p99, rawWatch.p99));
    vsZproc("ZProc: watcher latency p50, write→change (lower is better)", "µs", watch.p50, zprocWatch?.p50 ?? 0);
    vsZproc("ZProc: watcher latency p99, write→change", "µs", watch.p99, zprocWatch?.p99 ?? 0);
  }
  if (wanted("watcher latency, warm")) {
    const warm = await watchLatency("zerokit", 2000, WATCH_WARMUP);
    const rawWarm = await watchLatency("raw", 2000, WATCH_WARMUP);
    const zprocWarm = zp ? await zprocRun<{ p50: number; p99: number }>(["watch", 2000, WATCH_WARMUP]) : undefined;
    const after = `after ${WATCH_WARMUP} untimed writes`;
    rows.push(row(`watcher latency, warm, p50 (${after}; raw: relayed write)`, "µs", warm.p50, rawWarm.p50));
    rows.push(row("watcher latency, warm, p99 (raw: relayed write)", "µs", warm.p99, rawWarm.p99));
    vsZproc(`ZProc: watcher latency, warm, p50 (${after})`, "µs", warm.p50, zprocWarm?.p50 ?? 0);
    vsZproc("ZProc: watcher latency, warm, p99", "µs", warm.p99, zprocWarm?.p99 ?? 0);
  }
  if (wanted("set latency")) {
    const rt = await rawRoundTripUs(1500);
    const small = await med(() => withServer("server", [10], (address) => oneSetLatency(address)));
    const large = await med(() => withServer("server", [100_000], (address) => oneSetLatency(address)));
    rows.push(row("set latency, 10 keys (raw: one round trip; lower is better)", "µs", small, rt));
    rows.push(row("set latency, 100,000 keys (raw: one round trip)", "µs", large, rt));
  }
  for (const items of [10_000, 200_000]) {
    const name = `ctx.map ${items / 1000}k small items, 4 workers, cold`;
    if (!wanted(name)) continue;
    const cold = await sideBySide(
      async () => ({ zerokit: await mapRate(items), raw: 0 }),
      zp ? () => zprocRate(["map", items]) : undefined,
    );
    rows.push(row(`${name} (raw: n/a)`, "items/s", cold.zerokit, 0));
    vsZproc(`ZProc: ${name} (ZProc: a swarm of 4 started by the call)`, "items/s", cold.zerokit, cold.zproc);
  }
  const warmName = "pool.map 200k small items, 4 warm workers";
  if (wanted(warmName)) {
    const warm = await warmMapRate(200_000);
    rows.push(row(`${warmName} (raw: n/a)`, "items/s", warm, 0));
    vsZproc(
      `ZProc: ${warmName} (ZProc: a warm swarm of 4)`,
      "items/s",
      warm,
      zp ? await zprocRate(["warm", 200_000]) : 0,
    );
  }
  return rows;
}

/** zerokit's run, then raw's. */
async function both(measure: (impl: "zerokit" | "raw") => Promise<number>): Promise<{ zerokit: number; raw: number }> {
  return { zerokit: await measure("zerokit"), raw: await measure("raw") };
}

async function oneSetLatency(address: string): Promise<number> {
  const child = Child.spawn(import.meta.url, "setlat", [3000, address]);
  const { us } = await child.next<{ us: number }>();
  await child.finish();
  return us;
}
