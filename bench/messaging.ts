/**
 * Messaging suite: zerokit against raw zeromq.js v6 in the same run, sender and receiver in
 * separate processes over tcp loopback. PUSH→PULL msgs/s (64 B, 1 KiB Buffers), MB/s for
 * 1 MiB Float64Arrays (zerokit: sendArray/receiveArray; raw: header + data frames), and REQ→REP
 * round trips/s (64 B); then the send() and receive() fast paths alone, in one process.
 *
 * Fairness on a small shared machine: each process pair hosts a zerokit and a raw socket side by
 * side and alternates bursts between them (the receiver acknowledges each burst, so every burst
 * starts with empty pipes), so both see the same neighbours at nearly the same time. A run's
 * figure is the median of its bursts; a row is the median of 3 runs, each in fresh processes.
 */
import * as zmq from "zeromq";
import { Pull, Push, Rep, Req } from "../src/index.js";
import { Child, childMain, median, type Row, row, runInChild } from "./lib.js";

const RUNS = 3;
const ENDPOINT = "tcp://127.0.0.1:*";
const IMPLS = ["zerokit", "raw"] as const;

type Impl = (typeof IMPLS)[number];
type Kind = "bytes" | "array";
/** One run's result: a rate per implementation, and every burst's rate for the log. */
type Pair = Record<Impl, number> & { bursts?: Record<Impl, number[]> };

interface RoleIO {
  report(value: unknown): void;
  released: Promise<void>;
}

/** Which implementation goes first alternates from round to round, so neither always follows the other. */
function order(round: number): readonly Impl[] {
  return round % 2 === 0 ? IMPLS : [IMPLS[1], IMPLS[0]];
}

async function bindRaw(socket: zmq.Socket): Promise<string> {
  await socket.bind(ENDPOINT);
  return socket.lastEndpoint!;
}

function summarise(rates: Record<Impl, number[]>): Pair {
  return { zerokit: median(rates.zerokit), raw: median(rates.raw), bursts: rates };
}

// --- PUSH→PULL roles (child processes) ----------------------------------------------------------

/**
 * Receives `rounds` × (a zerokit burst, a raw burst) of `burst` messages, timing each from its
 * first to its last message, and acknowledges each burst so the sender starts the next one.
 * Reports msgs/s (bytes) or MB/s (array) per implementation.
 */
async function receiverRole([kind, burstText, roundsText]: string[], io: RoleIO): Promise<void> {
  const burst = Number(burstText);
  const rounds = Number(roundsText);
  await using zk = new Pull();
  const raw = new zmq.Pull();
  const ack = new zmq.Push();
  io.report({ zerokit: await zk.bind(ENDPOINT), raw: await bindRaw(raw), ack: await bindRaw(ack) });
  const rates: Record<Impl, number[]> = { zerokit: [], raw: [] };
  for (let round = 0; round < rounds; round++) {
    for (const impl of order(round)) {
      let first = 0;
      let bytes = 0;
      if (impl === "raw" && kind === "array") {
        for (let i = 0; i < burst; i++) {
          const [header, data] = await raw.receive();
          JSON.parse(header!.toString());
          const array = new Float64Array(data!.buffer, data!.byteOffset, data!.byteLength / 8);
          if (i === 0) first = performance.now();
          else bytes += array.byteLength;
        }
      } else if (impl === "raw") {
        for (let i = 0; i < burst; i++) {
          const [frame] = await raw.receive();
          if (i === 0) first = performance.now();
          else bytes += frame!.length;
        }
      } else if (kind === "array") {
        for (let i = 0; i < burst; i++) {
          const { data } = await zk.receiveArray();
          if (i === 0) first = performance.now();
          else bytes += data.byteLength;
        }
      } else {
        for (let i = 0; i < burst; i++) {
          const [frame] = await zk.receive();
          if (i === 0) first = performance.now();
          else bytes += frame!.length;
        }
      }
      const seconds = (performance.now() - first) / 1000;
      rates[impl].push(kind === "array" ? bytes / 1e6 / seconds : (burst - 1) / seconds);
      await ack.send("next");
    }
  }
  io.report(summarise(rates));
  raw.close();
  ack.close();
}

/** Sends the bursts the receiver expects, waiting for its acknowledgement after each. */
async function senderRole(
  [kind, burstText, roundsText, sizeText, zkAddress, rawAddress, ackAddress]: string[],
  io: RoleIO,
): Promise<void> {
  const burst = Number(burstText);
  const rounds = Number(roundsText);
  const size = Number(sizeText);
  const payload = Buffer.alloc(size, 7);
  const array = new Float64Array(size / 8).fill(Math.PI);
  const header = Buffer.from(JSON.stringify({ dtype: "<f8", shape: [array.length] }));
  const data = new Uint8Array(array.buffer);
  await using zk = new Push();
  const raw = new zmq.Push();
  const ack = new zmq.Pull();
  zk.connect(zkAddress!);
  raw.connect(rawAddress!);
  ack.connect(ackAddress!);
  for (let round = 0; round < rounds; round++) {
    for (const impl of order(round)) {
      if (impl === "raw" && kind === "array") {
        for (let i = 0; i < burst; i++) await raw.send([header, data]);
      } else if (impl === "raw") {
        for (let i = 0; i < burst; i++) await raw.send(payload);
      } else if (kind === "array") {
        for (let i = 0; i < burst; i++) await zk.sendArray(array);
      } else {
        for (let i = 0; i < burst; i++) await zk.send(payload);
      }
      await ack.receive();
    }
  }
  io.report({ done: true });
  await io.released;
  raw.close();
  ack.close();
}

// --- REQ→REP roles ------------------------------------------------------------------------------

/** A zerokit REP and a raw REP echoing side by side until released. */
async function serverRole(_args: string[], io: RoleIO): Promise<void> {
  await using zk = new Rep();
  const raw = new zmq.Reply();
  io.report({ zerokit: await zk.bind(ENDPOINT), raw: await bindRaw(raw) });
  const echo = async (socket: { receive(): Promise<Buffer[]>; send(m: Buffer): Promise<void> }) => {
    try {
      for (;;) {
        const [request] = await socket.receive();
        await socket.send(request!);
      }
    } catch {
      // closed
    }
  };
  void echo(zk);
  void echo(raw);
  await io.released;
  raw.close();
}

/** Alternates bursts of round trips between a zerokit REQ and a raw REQ. */
async function clientRole([burstText, roundsText, sizeText, zkAddress, rawAddress]: string[], io: RoleIO) {
  const burst = Number(burstText);
  const rounds = Number(roundsText);
  const payload = Buffer.alloc(Number(sizeText), 7);
  const sockets = { zerokit: new Req(), raw: new zmq.Request() };
  sockets.zerokit.connect(zkAddress!);
  sockets.raw.connect(rawAddress!);
  const rates: Record<Impl, number[]> = { zerokit: [], raw: [] };
  for (let round = -1; round < rounds; round++) {
    for (const impl of order(round)) {
      const socket = sockets[impl];
      const start = performance.now();
      for (let i = 0; i < burst; i++) {
        await socket.send(payload);
        await socket.receive();
      }
      // Round -1 connects and warms up.
      if (round >= 0) rates[impl].push(burst / ((performance.now() - start) / 1000));
    }
  }
  io.report(summarise(rates));
  sockets.zerokit.close();
  sockets.raw.close();
}

// --- The fast paths alone -----------------------------------------------------------------------

/**
 * The cost of the send() and receive() fast paths alone, in one process over inproc with
 * unlimited high-water marks: a burst of sends into a connected PULL, then as many receives of
 * messages already queued. zerokit and raw alternate burst by burst and the fastest burst of
 * each counts (CPU stolen by a neighbour only ever adds time).
 */
async function hotPathRole([burstText, roundsText]: string[], io: RoleIO): Promise<void> {
  zmq.context.blocky = false;
  const burst = Number(burstText);
  const rounds = Number(roundsText);
  const payload = Buffer.alloc(64, 7);
  const pairs = {
    zerokit: { push: new Push({ sendHighWaterMark: 0 }), pull: new Pull({ receiveHighWaterMark: 0 }) },
    raw: { push: new zmq.Push({ sendHighWaterMark: 0 }), pull: new zmq.Pull({ receiveHighWaterMark: 0 }) },
  };
  const best = { zerokit: { send: Infinity, receive: Infinity }, raw: { send: Infinity, receive: Infinity } };
  for (const impl of IMPLS) {
    await pairs[impl].pull.bind(`inproc://hot-path-${impl}`);
    pairs[impl].push.connect(`inproc://hot-path-${impl}`);
  }
  for (let round = 0; round < rounds; round++) {
    for (const impl of order(round)) {
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
    send: { zerokit: rate(best.zerokit.send), raw: rate(best.raw.send) },
    receive: { zerokit: rate(best.zerokit.receive), raw: rate(best.raw.receive) },
  });
}

childMain(import.meta.url, {
  receiver: receiverRole,
  sender: senderRole,
  server: serverRole,
  client: clientRole,
  "hot-path": hotPathRole,
});

// --- Orchestration (in the runner's process) ----------------------------------------------------

async function pushPull(kind: Kind, burst: number, rounds: number, size: number): Promise<Pair> {
  const receiver = Child.spawn(import.meta.url, "receiver", [kind, burst, rounds]);
  let sender: Child | undefined;
  try {
    const a = await receiver.next<Record<Impl | "ack", string>>();
    sender = Child.spawn(import.meta.url, "sender", [kind, burst, rounds, size, a.zerokit, a.raw, a.ack]);
    const result = await receiver.next<Pair>();
    await sender.next();
    await Promise.all([receiver.finish(), sender.finish()]);
    return result;
  } catch (error) {
    receiver.kill();
    sender?.kill();
    throw error;
  }
}

async function reqRep(burst: number, rounds: number, size: number): Promise<Pair> {
  const server = Child.spawn(import.meta.url, "server");
  let client: Child | undefined;
  try {
    const a = await server.next<Record<Impl, string>>();
    client = Child.spawn(import.meta.url, "client", [burst, rounds, size, a.zerokit, a.raw]);
    const result = await client.next<Pair>();
    await Promise.all([client.finish(), server.finish()]);
    return result;
  } catch (error) {
    server.kill();
    client?.kill();
    throw error;
  }
}

/** Runs `measure` RUNS times (fresh processes each time) and makes a row of the medians. */
async function compare(name: string, unit: string, measure: () => Promise<Pair>): Promise<Row> {
  const runs: Pair[] = [];
  for (let run = 0; run < RUNS; run++) {
    const result = await measure();
    if (process.env.BENCH_VERBOSE && result.bursts) {
      for (const impl of IMPLS)
        console.error(`  ${name} ${impl} bursts: ${result.bursts[impl].map(Math.round).join(" ")}`);
    }
    runs.push(result);
  }
  const zerokit = runs.map((r) => r.zerokit);
  const raw = runs.map((r) => r.raw);
  console.error(
    `${name}: zerokit ${zerokit.map(Math.round).join(" / ")}, raw ${raw.map(Math.round).join(" / ")} ${unit}`,
  );
  return row(name, unit, median(zerokit), median(raw));
}

/** The send() and receive() rows, from the same RUNS child processes. */
async function hotPathRows(burst: number, rounds: number): Promise<Row[]> {
  const runs: Record<"send" | "receive", Pair>[] = [];
  for (let run = 0; run < RUNS; run++) runs.push(await runInChild(import.meta.url, "hot-path", [burst, rounds]));
  let index = 0;
  const next = async (op: "send" | "receive") => runs[index++ % RUNS]![op];
  return [
    await compare("send() alone, in-process", "msgs/s", () => next("send")),
    await compare("receive() alone, queued, in-process", "msgs/s", () => next("receive")),
  ];
}

/**
 * The messaging suite. Bursts are short (~50-80 ms at the ceilings measured on this machine:
 * PUSH→PULL 64 B ≈ 610k msgs/s, 1 KiB ≈ 370k, 1 MiB ≈ 2.9 GB/s, REQ/REP ≈ 10.4k rt/s) so that
 * adjacent zerokit and raw bursts see the same conditions, and many (18-30 per implementation),
 * so each implementation gets 1-2 s per run. BENCH_SCALE scales every count (e.g. 0.1 to smoke-test);
 * BENCH_VERBOSE=1 logs every burst.
 */
export async function run(): Promise<Row[]> {
  const scale = Number(process.env.BENCH_SCALE ?? 1);
  const n = (count: number) => Math.max(10, Math.round(count * scale));
  return [
    await compare("PUSH→PULL 64 B", "msgs/s", () => pushPull("bytes", n(50_000), 18, 64)),
    await compare("PUSH→PULL 1 KiB", "msgs/s", () => pushPull("bytes", n(30_000), 18, 1024)),
    await compare("PUSH→PULL 1 MiB Float64Array", "MB/s", () => pushPull("array", n(200), 18, 1 << 20)),
    await compare("REQ→REP 64 B", "rt/s", () => reqRep(n(500), 30, 64)),
    ...(await hotPathRows(n(50_000), 10)),
  ];
}
