/**
 * `npm run bench -- zio`: ZIO ports next to raw zeromq.js carrying the same frames, in separate
 * processes over tcp loopback: PUSH→PULL messages/s (a zio Message made per send, 64-byte payload,
 * against raw sends of its frames `[prefix, coord, payload]`) and DEALER⇄ROUTER round trips/s
 * (ZIO framing `['', prefix, coord, payload]` both ways). Each process pair hosts both and
 * alternates bursts, like the messaging suite. Then flow messages/s at credit 1, 10 and 100
 * over ROUTER←DEALER (giver in another process; no raw counterpart), and the time from a server node's `online()`
 * to a by-name client's first reply (beacons on `lo` at Zyre's default 1 s interval).
 */
import * as zmq from "zeromq";
import { RpcClient } from "../src/rpc/index.js";
import { connectByName, Flow, FlowEndedError, Message, Node, Peer, Port } from "../src/zio/index.js";
import { Child, childMain, median, type Row, row } from "./lib.js";

zmq.context.blocky = false;

const ROUNDS = 5;
const BURST = 20_000;
const ROUND_TRIPS = 2000;
const FLOW_MESSAGES = 3000;
const PAYLOAD = Buffer.alloc(64, 0x61);
const EMPTY = Buffer.alloc(0);
const IMPLS = ["zio", "raw"] as const;
type Impl = (typeof IMPLS)[number];

function order(round: number): readonly Impl[] {
  return round % 2 === 0 ? IMPLS : [IMPLS[1], IMPLS[0]];
}

function randomPort(): number {
  return 20000 + Math.floor(Math.random() * 20000);
}

const newMessage = () => new Message({ level: "info", form: "BUFF", label: "bench", payload: [PAYLOAD] });

// --- PUSH→PULL ---------------------------------------------------------------------------------

async function pushPull(): Promise<Record<Impl, number>> {
  const receiver = Child.spawn(import.meta.url, "pull", [ROUNDS, BURST]);
  const port = new Port("out", "PUSH");
  const raw = new zmq.Push({ linger: 1000 });
  const ack = new zmq.Pull({ linger: 0 });
  try {
    const where = await receiver.next<{ zio: string; raw: string; ack: string }>();
    port.connect(where.zio);
    await port.online();
    raw.connect(where.raw);
    ack.connect(where.ack);
    const frames = newMessage().encode();
    for (let round = 0; round < ROUNDS; round++) {
      for (const impl of order(round)) {
        if (impl === "zio") for (let i = 0; i < BURST; i++) await port.send(newMessage());
        else for (let i = 0; i < BURST; i++) await raw.send(frames);
        await ack.receive();
      }
    }
    const rates = await receiver.next<Record<Impl, number>>();
    await receiver.finish();
    return rates;
  } catch (error) {
    receiver.kill();
    throw error;
  } finally {
    await port.close();
    raw.close();
    ack.close();
  }
}

// --- DEALER⇄ROUTER round trips -----------------------------------------------------------------

async function roundTrips(): Promise<Record<Impl, number>> {
  const echo = Child.spawn(import.meta.url, "echo");
  const port = new Port("req", "DEALER");
  const raw = new zmq.Dealer({ linger: 0 });
  try {
    const where = await echo.next<{ zio: string; raw: string }>();
    port.connect(where.zio);
    await port.online();
    raw.connect(where.raw);
    const frames = [EMPTY, ...newMessage().encode()];
    const rates: Record<Impl, number[]> = { zio: [], raw: [] };
    for (let round = 0; round < ROUNDS; round++) {
      for (const impl of order(round)) {
        const start = performance.now();
        if (impl === "zio") {
          for (let i = 0; i < ROUND_TRIPS; i++) {
            await port.send(newMessage());
            await port.recv();
          }
        } else {
          for (let i = 0; i < ROUND_TRIPS; i++) {
            await raw.send(frames);
            await raw.receive();
          }
        }
        // The first round warms both up.
        if (round > 0) rates[impl].push((ROUND_TRIPS / (performance.now() - start)) * 1000);
      }
    }
    await echo.finish();
    return { zio: median(rates.zio), raw: median(rates.raw) };
  } catch (error) {
    echo.kill();
    throw error;
  } finally {
    await port.close();
    raw.close();
  }
}

// --- flows -------------------------------------------------------------------------------------

async function flowRate(credit: number): Promise<number> {
  // ROUTER/DEALER: zeromq.js's SERVER/CLIENT wake up about half as fast (measured: 1.8k against
  // 4k round trips/s in one process), and ZIO Python interop runs over ROUTER/DEALER anyway.
  const port = new Port("taker", "ROUTER");
  port.bind();
  await port.online();
  const giver = Child.spawn(import.meta.url, "giver", [port.addresses[0]!, credit, FLOW_MESSAGES]);
  try {
    const taker = new Flow(port, { direction: "inject", credit });
    await taker.bot({ timeout: 10_000 });
    let taken = 0;
    let start = 0;
    for (;;) {
      try {
        if (!(await taker.get({ timeout: 10_000 }))) throw new Error("no DAT within 10 s");
      } catch (error) {
        if (error instanceof FlowEndedError) break;
        throw error;
      }
      if (taken++ === 0) start = performance.now();
    }
    const rate = ((taken - 1) / (performance.now() - start)) * 1000;
    await giver.finish();
    return rate;
  } catch (error) {
    giver.kill();
    throw error;
  } finally {
    await port.close();
  }
}

// --- by name -----------------------------------------------------------------------------------

async function byNameLatency(): Promise<number> {
  const beacon = randomPort();
  const discovery = { mode: "beacon", interface: "lo", port: beacon } as const;
  const peer = new Peer("caller", { discovery });
  await peer.start();
  const client = new RpcClient({ heartbeat: false });
  const link = connectByName(client, { node: "calc-node", port: "calc" }, { peer });
  const changes = link.changes();
  const server = Child.spawn(import.meta.url, "calc", [beacon]);
  try {
    const { onlineAt } = await server.next<{ onlineAt: number }>();
    for (;;) {
      const { value, done } = await changes.next();
      if (done) throw new Error("the link closed");
      if (value.type === "connect") break;
    }
    await client.call("add", [1, 2], { timeout: 10_000 });
    const ms = Date.now() - onlineAt;
    await server.finish();
    return ms;
  } catch (error) {
    server.kill();
    throw error;
  } finally {
    await link.close();
    client.close();
    await peer.stop();
  }
}

childMain(import.meta.url, {
  pull: async ([roundsText, burstText], io) => {
    const rounds = Number(roundsText);
    const burst = Number(burstText);
    const port = new Port("in", "PULL");
    port.bind();
    await port.online();
    const raw = new zmq.Pull({ linger: 0 });
    await raw.bind("tcp://127.0.0.1:*");
    const ack = new zmq.Push({ linger: 0 });
    await ack.bind("tcp://127.0.0.1:*");
    io.report({ zio: port.addresses[0], raw: raw.lastEndpoint, ack: ack.lastEndpoint });
    const rates: Record<Impl, number[]> = { zio: [], raw: [] };
    for (let round = 0; round < rounds; round++) {
      for (const impl of order(round)) {
        let first = 0;
        for (let i = 0; i < burst; i++) {
          if (impl === "zio") await port.recv();
          else await raw.receive();
          if (i === 0) first = performance.now();
        }
        if (round > 0) rates[impl].push(((burst - 1) / (performance.now() - first)) * 1000);
        await ack.send("next");
      }
    }
    io.report({ zio: median(rates.zio), raw: median(rates.raw) });
    await io.released;
    await port.close();
    raw.close();
    ack.close();
  },
  echo: async (_args, io) => {
    const port = new Port("rep", "ROUTER");
    port.bind();
    await port.online();
    const raw = new zmq.Router({ linger: 0 });
    await raw.bind("tcp://127.0.0.1:*");
    io.report({ zio: port.addresses[0], raw: raw.lastEndpoint });
    const zioLoop = (async () => {
      for (;;) {
        const m = await port.recv().catch(() => null);
        if (!m) return;
        await port.send(m);
      }
    })();
    const rawLoop = (async () => {
      for (;;) {
        const frames = await raw.receive().catch(() => null);
        if (!frames) return;
        await raw.send(frames);
      }
    })();
    await io.released;
    await port.close();
    raw.close();
    await Promise.all([zioLoop, rawLoop]);
  },
  giver: async ([address, credit, count], io) => {
    const port = new Port("giver", "DEALER");
    port.connect(address!);
    await port.online();
    const flow = new Flow(port, { direction: "extract", credit: Number(credit), timeout: 10_000 });
    await flow.bot();
    for (let i = 0; i < Number(count); i++) await flow.put(new Message({ payload: [PAYLOAD] }));
    await flow.eot();
    io.report({ done: true });
    await io.released;
    await port.close();
  },
  calc: async ([beacon], io) => {
    const node = new Node("calc-node", { discovery: { mode: "beacon", interface: "lo", port: Number(beacon) } });
    node.serve("calc", { add: (a: number, b: number) => a + b }, { heartbeat: false });
    const onlineAt = Date.now();
    await node.online();
    io.report({ onlineAt });
    await io.released;
    await node.close();
  },
});

export async function run(): Promise<Row[]> {
  const rows: Row[] = [];
  const pp = await pushPull();
  rows.push(row("port PUSH→PULL 64 B (new Message per send)", "msgs/s", pp.zio, pp.raw));
  const rt = await roundTrips();
  rows.push(row("port DEALER⇄ROUTER echo, sequential", "rt/s", rt.zio, rt.raw));
  for (const credit of [1, 10, 100]) {
    const rates: number[] = [];
    for (let i = 0; i < 3; i++) rates.push(await flowRate(credit));
    rows.push(row(`flow ROUTER←DEALER, credit ${credit}`, "msgs/s", median(rates), 0));
  }
  const times: number[] = [];
  for (let i = 0; i < 3; i++) times.push(await byNameLatency());
  rows.push(row("server node online() → by-name client's first reply (median ms)", "ms", median(times), 0));
  return rows;
}
