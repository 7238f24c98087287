/**
 * RPC suite: zerokit RPC against raw zeromq.js DEALER⇄ROUTER echo (the ceiling), client and
 * server in separate processes over tcp loopback, the same message size and window:
 * sequential echo("hello") calls/s, calls/s with 100 in flight, and stream items/s (raw: the
 * same item events under the same credit window of 100).
 */
import * as zmq from "zeromq";
import { RpcClient, RpcServer } from "../src/rpc/index.js";
import { encodeFast, nextIdNumber } from "../src/rpc/protocol.js";
import { Child, childMain, median, type Row, row } from "./lib.js";

const RUNS = 3;
const WINDOW = 100;
type Impl = "zerokit" | "raw";
const EMPTY = Buffer.alloc(0);
const REQUEST_ID = Buffer.alloc(32, 0x61);

/** A request blob the size of zerokit's echo("hello"), for the raw ceiling. */
function sampleRequest(): Buffer {
  return encodeFast(nextIdNumber(), undefined, "echo", ["hello"]);
}
function sampleItem(i: number): Buffer {
  return encodeFast(nextIdNumber(), REQUEST_ID, "STREAM", i);
}

async function serverRole([impl]: string[], io: { report(v: unknown): void; released: Promise<void> }): Promise<void> {
  if (impl === "zerokit") {
    const server = new RpcServer(
      {
        echo: (x: unknown) => x,
        *range(n: number) {
          for (let i = 0; i < n; i++) yield i;
        },
      },
      { name: "bench" },
    );
    io.report({ address: await server.bind("tcp://127.0.0.1:*") });
    await io.released;
    server.close();
    return;
  }
  const router = new zmq.Router({ linger: 0 });
  await router.bind("tcp://127.0.0.1:*");
  io.report({ address: router.lastEndpoint });
  const serve = (async () => {
    // "range" requests carry the item count as their blob's first byte count: [id, '', 'S', n]
    let credit = 0;
    let streamTo: Buffer | undefined;
    let remaining = 0;
    let wake: (() => void) | undefined;
    const streamer = async () => {
      while (true) {
        if (!streamTo || remaining === 0 || credit === 0) {
          await new Promise<void>((r) => {
            wake = r;
          });
          continue;
        }
        credit--;
        remaining--;
        await router.send([streamTo, EMPTY, sampleItem(remaining)]);
      }
    };
    void streamer().catch(() => undefined);
    for await (const frames of router) {
      const [id, , blob, extra] = frames;
      if (extra && extra.toString() === "range") {
        streamTo = id;
        remaining = Number(blob!.toString());
        credit = 1;
      } else if (extra && extra.toString() === "more") {
        credit += Number(blob!.toString());
      } else {
        await router.send([id!, EMPTY, blob!]);
        continue;
      }
      wake?.();
    }
  })();
  await io.released;
  router.close();
  await serve.catch(() => undefined);
}

async function clientRole([impl, mode, countText, address]: string[], io: { report(v: unknown): void }): Promise<void> {
  const count = Number(countText);
  if (impl === "zerokit") {
    const client = new RpcClient();
    client.connect(address!);
    await client.call("echo", ["warm"]);
    const start = performance.now();
    if (mode === "sequential") {
      for (let i = 0; i < count; i++) await client.call("echo", ["hello"]);
    } else if (mode === "inflight") {
      let started = 0;
      const worker = async () => {
        while (started < count) {
          started++;
          await client.call("echo", ["hello"]);
        }
      };
      await Promise.all(Array.from({ length: WINDOW }, worker));
    } else {
      let n = 0;
      for await (const _ of client.call("range", [count])) n++;
      if (n !== count) throw new Error(`streamed ${n} of ${count}`);
    }
    io.report({ elapsedMs: performance.now() - start });
    client.close();
    return;
  }
  const dealer = new zmq.Dealer({ linger: 0 });
  dealer.connect(address!);
  const blob = sampleRequest();
  await dealer.send([EMPTY, blob]);
  await dealer.receive();
  const start = performance.now();
  if (mode === "sequential") {
    for (let i = 0; i < count; i++) {
      await dealer.send([EMPTY, blob]);
      await dealer.receive();
    }
  } else if (mode === "inflight") {
    let sent = 0;
    let received = 0;
    let wake: (() => void) | undefined;
    const sender = (async () => {
      while (sent < count) {
        if (sent - received >= WINDOW) {
          await new Promise<void>((r) => {
            wake = r;
          });
          continue;
        }
        sent++;
        await dealer.send([EMPTY, blob]);
      }
    })();
    while (received < count) {
      await dealer.receive();
      received++;
      wake?.();
    }
    await sender;
  } else {
    await dealer.send([EMPTY, Buffer.from(String(count)), Buffer.from("range")]);
    // Same credit rule as zerokit's client: top the window up when fewer than half remain.
    let outstanding = 1;
    for (let i = 0; i < count; i++) {
      const [, item] = await dealer.receive();
      if (!item) throw new Error("bad item");
      outstanding--;
      if (outstanding * 2 < WINDOW) {
        const grant = WINDOW - outstanding;
        outstanding += grant;
        await dealer.send([EMPTY, Buffer.from(String(grant)), Buffer.from("more")]);
      }
    }
  }
  io.report({ elapsedMs: performance.now() - start });
  dealer.close();
}

childMain(import.meta.url, { server: serverRole, client: clientRole });

async function measure(impl: Impl, mode: string, count: number): Promise<number> {
  const server = Child.spawn(import.meta.url, "server", [impl]);
  try {
    const { address } = await server.next<{ address: string }>();
    const client = Child.spawn(import.meta.url, "client", [impl, mode, count, address]);
    const { elapsedMs } = await client.next<{ elapsedMs: number }>();
    await client.finish();
    return (count / elapsedMs) * 1000;
  } finally {
    await server.finish().catch(() => server.kill());
  }
}

async function compare(name: string, unit: string, mode: string, count: number): Promise<Row> {
  const zk: number[] = [];
  const raw: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    raw.push(await measure("raw", mode, count));
    zk.push(await measure("zerokit", mode, count));
  }
  return row(name, unit, median(zk), median(raw));
}

export async function run(): Promise<Row[]> {
  return [
    await compare('sequential echo("hello")', "calls/s", "sequential", 10_000),
    await compare("echo, 100 calls in flight", "calls/s", "inflight", 100_000),
    await compare("stream items (window 100)", "items/s", "stream", 200_000),
  ];
}
