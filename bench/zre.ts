/**
 * `npm run bench -- zre`: discovery over beacons on `lo` (time from start() of N peers, at most ten
 * per process, until each has seen every other ENTER, at Zyre's default 1 s beacon interval), and
 * WHISPER messages/s between two processes next to a raw zeromq.js DEALER→ROUTER carrying the
 * same frames (frame 0 of a WHISPER and a 64-byte payload): the ceiling.
 */
import * as zmq from "zeromq";
import { Peer } from "../src/zre/index.js";
import { Child, childMain, median, type Row, row } from "./lib.js";

zmq.context.blocky = false;

const MESSAGES = 100_000;
const PAYLOAD = Buffer.alloc(64, 0x61);
const FRAME0 = Buffer.from("aaa102020002", "hex");
const ROUNDS = 3;

function randomPort(): number {
  return 20000 + Math.floor(Math.random() * 20000);
}

/** Beacons only ever on lo. */
function loPeer(name: string, port: number): Peer {
  return new Peer(name, { discovery: { mode: "beacon", interface: "lo", port } });
}

/** Most peers per process: each holds a DEALER per other peer, and a context holds 1024 sockets. */
const PER_PROCESS = 10;

/** Starts `count` peers here; reports when they start and when each has seen `total - 1` others. */
async function discoveryGroup(
  port: number,
  count: number,
  total: number,
  report: (value: unknown) => void,
): Promise<Peer[]> {
  const peers = Array.from({ length: count }, (_, i) => loPeer(`p${i}`, port));
  let finished = 0;
  const done = new Promise<void>((resolve) => {
    for (const peer of peers) {
      const seen = new Set<string>();
      (async () => {
        for await (const event of peer.events()) {
          if (event.type !== "ENTER") continue;
          seen.add(event.uuid);
          if (seen.size === total - 1 && ++finished === count) resolve();
        }
      })();
    }
  });
  report({ startedAt: Date.now() });
  await Promise.all(peers.map((peer) => peer.start()));
  await done;
  report({ doneAt: Date.now() });
  return peers;
}

async function discovery(n: number): Promise<number> {
  const port = randomPort();
  const groups: Child[] = [];
  for (let left = n; left > 0; left -= PER_PROCESS) {
    groups.push(Child.spawn(import.meta.url, "discovery-group", [port, Math.min(PER_PROCESS, left), n]));
  }
  try {
    const started = await Promise.all(groups.map((g) => g.next<{ startedAt: number }>()));
    const done = await Promise.all(groups.map((g) => g.next<{ doneAt: number }>()));
    await Promise.all(groups.map((g) => g.finish()));
    return Math.max(...done.map((d) => d.doneAt)) - Math.min(...started.map((s) => s.startedAt));
  } catch (error) {
    for (const g of groups) g.kill();
    throw error;
  }
}

async function whisperRate(): Promise<number> {
  const port = randomPort();
  const receiver = Child.spawn(import.meta.url, "zre-receiver", [port, MESSAGES]);
  const sender = loPeer("tx", port);
  try {
    await sender.start();
    const { uuid } = await receiver.next<{ uuid: string }>();
    await sender.waitFor("rx", { timeout: 10000 });
    for (let i = 0; i < MESSAGES; i += 1000) {
      const batch: Promise<void>[] = [];
      for (let j = 0; j < 1000; j++) batch.push(sender.whisper(uuid, [PAYLOAD]));
      await Promise.all(batch);
    }
    const { rate } = await receiver.next<{ rate: number }>();
    await receiver.finish();
    return rate;
  } catch (error) {
    receiver.kill();
    throw error;
  } finally {
    await sender.stop();
  }
}

async function rawRate(): Promise<number> {
  const receiver = Child.spawn(import.meta.url, "raw-receiver", [MESSAGES]);
  const dealer = new zmq.Dealer({ linger: 1000 });
  try {
    const { endpoint } = await receiver.next<{ endpoint: string }>();
    dealer.connect(endpoint);
    for (let i = 0; i < MESSAGES; i++) await dealer.send([FRAME0, PAYLOAD]);
    const { rate } = await receiver.next<{ rate: number }>();
    await receiver.finish();
    return rate;
  } catch (error) {
    receiver.kill();
    throw error;
  } finally {
    dealer.close();
  }
}

childMain(import.meta.url, {
  "discovery-group": async ([port, count, total], io) => {
    const peers = await discoveryGroup(Number(port), Number(count), Number(total), io.report);
    await io.released;
    await Promise.all(peers.map((peer) => peer.stop()));
  },
  "zre-receiver": async ([port, count], io) => {
    const peer = loPeer("rx", Number(port));
    await peer.start();
    const total = Number(count);
    let received = 0;
    let first = 0;
    const events = peer.events();
    io.report({ uuid: peer.uuid });
    for await (const event of events) {
      if (event.type !== "WHISPER") continue;
      if (received++ === 0) first = performance.now();
      if (received === total) break;
    }
    io.report({ rate: ((total - 1) / (performance.now() - first)) * 1000 });
    await io.released;
    await peer.stop();
  },
  "raw-receiver": async ([count], io) => {
    const router = new zmq.Router({ linger: 0 });
    await router.bind("tcp://127.0.0.1:*");
    io.report({ endpoint: router.lastEndpoint });
    const total = Number(count);
    let first = 0;
    for (let received = 0; received < total; received++) {
      await router.receive();
      if (received === 0) first = performance.now();
    }
    io.report({ rate: ((total - 1) / (performance.now() - first)) * 1000 });
    await io.released;
    router.close();
  },
});

export async function run(): Promise<Row[]> {
  const rows: Row[] = [];
  for (const n of [2, 10, 30]) {
    const times: number[] = [];
    for (let i = 0; i < ROUNDS; i++) times.push(await discovery(n));
    rows.push(row(`discovery, ${n} peers, all see all ENTER (median ms, lower is better)`, "ms", median(times), 0));
  }
  const zre: number[] = [];
  const raw: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    raw.push(await rawRate());
    zre.push(await whisperRate());
  }
  rows.push(row("WHISPER 64 B vs raw DEALER→ROUTER (2 processes)", "msgs/s", median(zre), median(raw)));
  return rows;
}
