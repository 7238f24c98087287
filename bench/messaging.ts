/**
 * Messaging suite: zerokit against raw zeromq.js v6 in the same run, sender and receiver in
 * separate processes over tcp loopback. PUSH→PULL msgs/s (64 B, 1 KiB Buffers), MB/s for
 * 1 MiB Float64Arrays (zerokit: sendArray/receiveArray; raw: header + data frames), and REQ→REP
 * round trips/s (64 B). Each figure is the median of 3 runs, zerokit and raw interleaved.
 * The last two rows time the send() and receive() fast paths alone in one process (inproc,
 * messages already queued): on a small, noisy VM they show the wrapper's overhead when the
 * cross-process rows swing by ±30% from run to run.
 */
import * as zmq from "zeromq";
import { Pull, Push, Rep, Req } from "../src/index.js";
import { Child, childMain, median, type Row, row, runInChild } from "./lib.js";

const RUNS = 3;
const ENDPOINT = "tcp://127.0.0.1:*";

type Impl = "zerokit" | "raw";
type Kind = "bytes" | "array";

interface Throughput {
  count: number;
  bytes: number;
  elapsedMs: number;
}

// --- Roles (run in child processes) -------------------------------------------------------------

/** A 1 MiB Float64Array's header as pyzmq's recipe writes it. */
function arrayHeader(length: number): Buffer {
  return Buffer.from(JSON.stringify({ dtype: "<f8", shape: [length] }));
}

/** Receives `count` messages and reports the time from the first to the last. */
async function pullRole([impl, kind, countText]: string[], io: { report(v: unknown): void }): Promise<void> {
  const count = Number(countText);
  let bytes = 0;
  let first = 0;
  if (impl === "raw") {
    const pull = new zmq.Pull();
    const address = await bindRaw(pull);
    io.report({ address });
    for (let i = 0; i < count; i++) {
      const message = await pull.receive();
      if (i === 0) first = performance.now();
      if (kind === "array") {
        const [header, data] = message;
        JSON.parse(header!.toString());
        bytes += new Float64Array(data!.buffer, data!.byteOffset, data!.byteLength / 8).byteLength;
      } else {
        bytes += message[0]!.length;
      }
    }
    pull.close();
  } else {
    await using pull = new Pull();
    io.report({ address: await pull.bind(ENDPOINT) });
    for (let i = 0; i < count; i++) {
      if (kind === "array") {
        const { data } = await pull.receiveArray();
        if (i === 0) first = performance.now();
        bytes += data.byteLength;
      } else {
        const message = await pull.receive();
        if (i === 0) first = performance.now();
        bytes += message[0]!.length;
      }
    }
  }
  const result: Throughput = { count: count - 1, bytes, elapsedMs: performance.now() - first };
  io.report(result);
}

/** Sends `count` messages of `size` bytes, then waits to be released before closing. */
async function pushRole(
  [impl, kind, countText, sizeText, address]: string[],
  io: { report(v: unknown): void; released: Promise<void> },
): Promise<void> {
  const count = Number(countText);
  const size = Number(sizeText);
  const payload = Buffer.alloc(size, 7);
  const array = new Float64Array(size / 8).fill(Math.PI);
  if (impl === "raw") {
    const push = new zmq.Push();
    push.connect(address!);
    if (kind === "array") {
      const header = arrayHeader(array.length);
      const data = new Uint8Array(array.buffer);
      for (let i = 0; i < count; i++) await push.send([header, data]);
    } else {
      for (let i = 0; i < count; i++) await push.send(payload);
    }
    io.report({ sent: count });
    await io.released;
    push.close();
  } else {
    await using push = new Push();
    push.connect(address!);
    if (kind === "array") {
      for (let i = 0; i < count; i++) await push.sendArray(array);
    } else {
      for (let i = 0; i < count; i++) await push.send(payload);
    }
    io.report({ sent: count });
    await io.released;
  }
}

/** Echoes requests until released. */
async function repRole([impl]: string[], io: { report(v: unknown): void; released: Promise<void> }): Promise<void> {
  if (impl === "raw") {
    const rep = new zmq.Reply();
    io.report({ address: await bindRaw(rep) });
    void (async () => {
      try {
        for (;;) {
          const [request] = await rep.receive();
          await rep.send(request!);
        }
      } catch {
        // closed
      }
    })();
    await io.released;
    rep.close();
  } else {
    await using rep = new Rep();
    io.report({ address: await rep.bind(ENDPOINT) });
    void (async () => {
      try {
        for (;;) {
          const [request] = await rep.receive();
          await rep.send(request!);
        }
      } catch {
        // closed
      }
    })();
    await io.released;
  }
}

/** Times `count` round trips of `size` bytes after a warm-up. */
async function reqRole(
  [impl, countText, sizeText, address]: string[],
  io: { report(v: unknown): void },
): Promise<void> {
  const count = Number(countText);
  const payload = Buffer.alloc(Number(sizeText), 7);
  const warmup = Math.min(1000, count);
  const socket = impl === "raw" ? new zmq.Request() : new Req();
  socket.connect(address!);
  const roundTrip = async () => {
    await socket.send(payload);
    await socket.receive();
  };
  for (let i = 0; i < warmup; i++) await roundTrip();
  const start = performance.now();
  for (let i = 0; i < count; i++) await roundTrip();
  const result: Throughput = { count, bytes: count * payload.length, elapsedMs: performance.now() - start };
  io.report(result);
  socket.close();
}

/**
 * The cost of the send() and receive() fast paths alone, in one process over inproc with
 * unlimited high-water marks: a burst of sends into a connected PULL, then as many receives of
 * messages already queued. zerokit and raw alternate burst by burst in the same process and the
 * fastest burst of each counts, so a neighbour stealing the CPU for a moment (which only ever
 * adds time) does not decide the ratio.
 */
async function hotPathRole([burstText, burstsText]: string[], io: { report(v: unknown): void }): Promise<void> {
  zmq.context.blocky = false;
  const burst = Number(burstText);
  const bursts = Number(burstsText);
  const payload = Buffer.alloc(64, 7);
  const pairs = {
    raw: { push: new zmq.Push({ sendHighWaterMark: 0 }), pull: new zmq.Pull({ receiveHighWaterMark: 0 }) },
    zerokit: { push: new Push({ sendHighWaterMark: 0 }), pull: new Pull({ receiveHighWaterMark: 0 }) },
  };
  const best = { raw: { send: Infinity, receive: Infinity }, zerokit: { send: Infinity, receive: Infinity } };
  for (const [impl, { push, pull }] of Object.entries(pairs)) {
    const endpoint = `inproc://hot-path-${impl}`;
    await pull.bind(endpoint);
    push.connect(endpoint);
  }
  for (let round = 0; round < bursts; round++) {
    for (const impl of ["zerokit", "raw"] as const) {
      const { push, pull } = pairs[impl];
      let start = performance.now();
      for (let i = 0; i < burst; i++) await push.send(payload);
      best[impl].send = Math.min(best[impl].send, performance.now() - start);
      // Everything sent over inproc is queued at the PULL once send() resolved.
      start = performance.now();
      for (let i = 0; i < burst; i++) await pull.receive();
      best[impl].receive = Math.min(best[impl].receive, performance.now() - start);
    }
  }
  for (const { push, pull } of Object.values(pairs)) {
    push.close();
    pull.close();
  }
  const rate = (ms: number) => burst / (ms / 1000);
  io.report({
    zerokit: { send: rate(best.zerokit.send), receive: rate(best.zerokit.receive) },
    raw: { send: rate(best.raw.send), receive: rate(best.raw.receive) },
  });
}

async function bindRaw(socket: zmq.Socket): Promise<string> {
  await socket.bind(ENDPOINT);
  return socket.lastEndpoint!;
}

childMain(import.meta.url, { pull: pullRole, push: pushRole, rep: repRole, req: reqRole, "hot-path": hotPathRole });

// --- Orchestration (in the runner's process) ----------------------------------------------------

async function pushPull(impl: Impl, kind: Kind, count: number, size: number): Promise<Throughput> {
  const receiver = Child.spawn(import.meta.url, "pull", [impl, kind, count]);
  let sender: Child | undefined;
  try {
    const { address } = await receiver.next<{ address: string }>();
    sender = Child.spawn(import.meta.url, "push", [impl, kind, count, size, address]);
    const result = await receiver.next<Throughput>();
    await sender.next();
    await Promise.all([receiver.finish(), sender.finish()]);
    return result;
  } catch (error) {
    receiver.kill();
    sender?.kill();
    throw error;
  }
}

async function reqRep(impl: Impl, count: number, size: number): Promise<Throughput> {
  const server = Child.spawn(import.meta.url, "rep", [impl]);
  let client: Child | undefined;
  try {
    const { address } = await server.next<{ address: string }>();
    client = Child.spawn(import.meta.url, "req", [impl, count, size, address]);
    const result = await client.next<Throughput>();
    await Promise.all([client.finish(), server.finish()]);
    return result;
  } catch (error) {
    server.kill();
    client?.kill();
    throw error;
  }
}

type HotPath = Record<Impl, { send: number; receive: number }>;

/** The send() and receive() rows: RUNS child processes, each reporting its best bursts. */
async function hotPathRows(burst: number, bursts: number): Promise<Row[]> {
  const runs: HotPath[] = [];
  for (let run = 0; run < RUNS; run++)
    runs.push(await runInChild<HotPath>(import.meta.url, "hot-path", [burst, bursts]));
  return (["send", "receive"] as const).map((op) => {
    const name = op === "send" ? "send() alone, in-process" : "receive() alone, queued, in-process";
    const zerokit = runs.map((r) => r.zerokit[op]);
    const raw = runs.map((r) => r.raw[op]);
    console.error(
      `${name}: zerokit ${zerokit.map(Math.round).join(" / ")}, raw ${raw.map(Math.round).join(" / ")} msgs/s`,
    );
    return row(name, "msgs/s", median(zerokit), median(raw));
  });
}

/** Runs `measure` RUNS times for each implementation, interleaved, and returns the medians. */
async function compare(
  name: string,
  unit: string,
  measure: (impl: Impl) => Promise<Throughput>,
  value: (t: Throughput) => number,
): Promise<Row> {
  const results: Record<Impl, number[]> = { zerokit: [], raw: [] };
  for (let run = 0; run < RUNS; run++) {
    for (const impl of ["zerokit", "raw"] as const) results[impl].push(value(await measure(impl)));
  }
  const r = row(name, unit, median(results.zerokit), median(results.raw));
  console.error(
    `${name}: zerokit ${results.zerokit.map(Math.round).join(" / ")}, raw ${results.raw.map(Math.round).join(" / ")} ${unit}`,
  );
  return r;
}

const perSecond = (t: Throughput) => t.count / (t.elapsedMs / 1000);
const megabytesPerSecond = (t: Throughput) => t.bytes / 1e6 / (t.elapsedMs / 1000);

/** The messaging suite. Message counts aim at 1-2 s per measurement on a ~600k msgs/s machine. */
export async function run(): Promise<Row[]> {
  const scale = Number(process.env.BENCH_SCALE ?? 1);
  const n = (count: number) => Math.max(10, Math.round(count * scale));
  return [
    await compare("PUSH→PULL 64 B", "msgs/s", (impl) => pushPull(impl, "bytes", n(1_000_000), 64), perSecond),
    await compare("PUSH→PULL 1 KiB", "msgs/s", (impl) => pushPull(impl, "bytes", n(600_000), 1024), perSecond),
    await compare(
      "PUSH→PULL 1 MiB Float64Array",
      "MB/s",
      (impl) => pushPull(impl, "array", n(3000), 1 << 20),
      megabytesPerSecond,
    ),
    await compare("REQ→REP 64 B", "rt/s", (impl) => reqRep(impl, n(15_000), 64), perSecond),
    ...(await hotPathRows(n(50_000), 10)),
  ];
}
