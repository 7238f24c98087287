/**
 * RPC suite: zerokit RPC against raw zeromq.js DEALER⇄ROUTER echo (the ceiling) with the same
 * message size and window, client and server in separate processes over tcp loopback:
 * sequential echo("hello") calls/s, calls/s with 100 in flight, and stream items/s (raw: the same
 * item events under the same credit window of 100). Each process pair hosts both
 * implementations and alternates bursts between them (who goes first swaps every round), so
 * both see the same machine at nearly the same time, after unmeasured warm-up rounds; a row is
 * the median of 3 runs. A last row repeats 100 in flight with the client's zerokit framing
 * (concurrent calls batched into shared messages), against the same one-message-per-call raw
 * ceiling. Two CURVE rows repeat echo with encryption on both sides (the same server key pair,
 * client key pair and ZAP authenticator allowing the client's key, for zerokit and raw).
 */
import * as zmq from "zeromq";
import { Authenticator, type ClientSecurity, generateKeyPair, publicKeyOf } from "../src/core/security/index.js";
import { RpcClient, RpcServer } from "../src/rpc/index.js";
import { encodeFast, nextIdNumber } from "../src/rpc/protocol.js";
import { Child, childMain, median, type Row, row, wanted } from "./lib.js";

const RUNS = 3;
const LARGE_RUNS = 5;
/**
 * Unmeasured rounds first. zerokit runs much more JavaScript per call than raw, and V8 takes a
 * few thousand calls to optimise it: measured from the start, zerokit's first bursts ran at 0.3-0.6
 * of raw and the following ones at 0.8-0.9, while raw's native path is at full speed at once.
 * The rows are about a running service, so they start once both sides are warm: after
 * {@link WARMUP_ROUNDS} rounds and {@link WARMUP_CALLS} calls, or {@link WARMUP_MS} of warm-up,
 * whichever ends first (a large-message round is a few hundred calls, six of them too few).
 */
const WARMUP_ROUNDS = 6;
const WARMUP_CALLS = 6000;
const WARMUP_MS = 4000;
const WINDOW = 100;
type Impl = "zerokit" | "raw";
const EMPTY = Buffer.alloc(0);
const REQUEST_ID = Buffer.alloc(32, 0x61);

/**
 * What a mode echoes: `"hello"` for the plain modes; a mode `sequential:buffer:65536` (or
 * `inflight:string:1048576`) echoes a Buffer (or an ASCII string) of that many bytes.
 */
function payloadOf(mode: string): unknown {
  const [, kind, size] = mode.split(":");
  if (kind === "buffer") return Buffer.alloc(Number(size), 0x61);
  if (kind === "string") return "a".repeat(Number(size));
  return "hello";
}

/** A request blob the size of zerokit's echo(payload) (plain zerorpc event), for the raw ceiling. */
function sampleRequest(payload: unknown): Buffer {
  return encodeFast(nextIdNumber(), undefined, "echo", [payload]);
}
function sampleItem(i: number): Buffer {
  return encodeFast(nextIdNumber(), REQUEST_ID, "STREAM", i);
}

/** CURVE settings as child arguments: `server-secret client-public client-secret`, or "plain". */
type CurveArgs = [string, string, string] | undefined;

async function serverRole(args: string[], io: { report(v: unknown): void; released: Promise<void> }): Promise<void> {
  const [serverSecret, clientPublic] = args;
  const auth = serverSecret && clientPublic ? new Authenticator({ curve: { keys: [clientPublic] } }) : undefined;
  await auth?.start();
  const curve =
    serverSecret && auth
      ? { curveServer: true, curveSecretKey: serverSecret, zapDomain: auth.domain, zapEnforceDomain: true }
      : {};
  const server = new RpcServer(
    {
      echo: (x: unknown) => x,
      *range(n: number) {
        for (let i = 0; i < n; i++) yield i;
      },
    },
    {
      name: "bench",
      security: serverSecret && auth ? { curve: { secretKey: serverSecret }, authenticator: auth } : undefined,
    },
  );
  const zkAddress = await server.bind("tcp://127.0.0.1:*");
  const router = new zmq.Router({ linger: 0, ...curve });
  await router.bind("tcp://127.0.0.1:*");
  io.report({ zkAddress, rawAddress: router.lastEndpoint });
  const serve = (async () => {
    // "range" requests are [id, '', count, 'range']; credit arrives as [id, '', n, 'more'].
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
  server.close();
  router.close();
  await serve.catch(() => undefined);
  auth?.close();
}

type Runner = (count: number) => Promise<void>;

function zerokitRunner(client: RpcClient, fullMode: string): Runner {
  const mode = fullMode.split(":")[0];
  const args = [payloadOf(fullMode)];
  return async (count) => {
    if (mode === "sequential") {
      for (let i = 0; i < count; i++) await client.call("echo", args);
    } else if (mode === "inflight") {
      let started = 0;
      const worker = async () => {
        while (started < count) {
          started++;
          await client.call("echo", args);
        }
      };
      await Promise.all(Array.from({ length: WINDOW }, worker));
    } else {
      let n = 0;
      for await (const _ of client.call("range", [count])) n++;
      if (n !== count) throw new Error(`streamed ${n} of ${count}`);
    }
  };
}

function rawRunner(dealer: zmq.Dealer, fullMode: string): Runner {
  const mode = fullMode.split(":")[0];
  const blob = sampleRequest(payloadOf(fullMode));
  return async (count) => {
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
  };
}

/** Who goes first in a round: it swaps each round. */
function orderOf(round: number): readonly Impl[] {
  return round % 2 === 0 ? ["zerokit", "raw"] : ["raw", "zerokit"];
}

/** Alternates zerokit and raw bursts (who goes first swaps each round); reports the median rate of each. */
async function clientRole(
  [mode, burstText, roundsText, zkAddress, rawAddress, framing, serverKey, publicKey, secretKey]: string[],
  io: { report(v: unknown): void },
): Promise<void> {
  const burst = Number(burstText);
  const rounds = Number(roundsText);
  const security: ClientSecurity | undefined =
    serverKey && publicKey && secretKey ? { curve: { serverKey, publicKey, secretKey } } : undefined;
  const client = new RpcClient({ framing: framing === "zerokit" ? "zerokit" : "zerorpc", security });
  client.connect(zkAddress!);
  const curve = security ? { curveServerKey: serverKey, curvePublicKey: publicKey, curveSecretKey: secretKey } : {};
  const dealer = new zmq.Dealer({ linger: 0, ...curve });
  dealer.connect(rawAddress!);
  const runners = { zerokit: zerokitRunner(client, mode!), raw: rawRunner(dealer, mode!) };
  const rates: Record<Impl, number[]> = { zerokit: [], raw: [] };
  const warmStart = performance.now();
  let warmRounds = 0;
  while (
    warmRounds < WARMUP_ROUNDS ||
    (warmRounds * burst < WARMUP_CALLS && performance.now() - warmStart < WARMUP_MS)
  ) {
    for (const impl of orderOf(warmRounds)) await runners[impl](burst);
    warmRounds++;
  }
  for (let round = 0; round < rounds; round++) {
    for (const impl of orderOf(round)) {
      const start = performance.now();
      await runners[impl](burst);
      rates[impl].push((burst / (performance.now() - start)) * 1000);
    }
  }
  io.report({ zerokit: median(rates.zerokit), raw: median(rates.raw) });
  client.close();
  dealer.close();
}

childMain(import.meta.url, { server: serverRole, client: clientRole });

async function measure(
  mode: string,
  burst: number,
  rounds: number,
  framing: string,
  curve: CurveArgs,
): Promise<Record<Impl, number>> {
  const [serverSecret, clientPublic, clientSecret] = curve ?? [];
  const server = Child.spawn(import.meta.url, "server", curve ? [serverSecret!, clientPublic!] : []);
  try {
    const { zkAddress, rawAddress } = await server.next<{ zkAddress: string; rawAddress: string }>();
    const clientCurve = curve ? [publicKeyOf(serverSecret!), clientPublic!, clientSecret!] : [];
    const client = Child.spawn(import.meta.url, "client", [
      mode,
      burst,
      rounds,
      zkAddress,
      rawAddress,
      framing,
      ...clientCurve,
    ]);
    const result = await client.next<Record<Impl, number>>();
    await client.finish();
    return result;
  } finally {
    await server.finish().catch(() => server.kill());
  }
}

/** One row: the median of {@link RUNS} process pairs (`runs`/`rounds` smaller for a quick check). */
export async function compare(
  name: string,
  unit: string,
  mode: string,
  burst: number,
  options: { framing?: string; curve?: boolean; runs?: number; rounds?: number } = {},
): Promise<Row> {
  const zk: number[] = [];
  const raw: number[] = [];
  for (let i = 0; i < (options.runs ?? RUNS); i++) {
    const curve = options.curve ? newCurveArgs() : undefined;
    const result = await measure(mode, burst, options.rounds ?? 10, options.framing ?? "zerorpc", curve);
    zk.push(result.zerokit);
    raw.push(result.raw);
  }
  return row(name, unit, median(zk), median(raw));
}

const KIB64 = 64 * 1024;
const MIB = 1024 * 1024;

/**
 * Large messages: echo of a Buffer or an ASCII string of 64 KiB and 1 MiB, sequential and 100 in
 * flight, in both framings; raw sends a blob of the same size as zerokit's plain event (and
 * echoes it back as it is: no encoding, no decoding).
 */
async function largeRows(): Promise<Row[]> {
  const rows: Row[] = [];
  for (const framing of ["zerorpc", "zerokit"]) {
    for (const kind of ["buffer", "string"]) {
      for (const [mode, size, burst] of [
        ["sequential", KIB64, 300],
        ["sequential", MIB, 40],
        ["inflight", KIB64, 600],
        ["inflight", MIB, 60],
      ] as const) {
        const label = `echo(${kind === "buffer" ? "Buffer" : "string"}) ${size === MIB ? "1 MiB" : "64 KiB"}, ${mode === "sequential" ? "sequential" : "100 in flight"}${framing === "zerokit" ? ", zerokit framing" : ""}`;
        if (!wanted(label)) continue;
        // Five process pairs of eight rounds: with three of six, a row moved by up to 0.3 between
        // runs of the same code on the 2-core VM (the pairs differ more than the rounds of one).
        const measured = await compare(label, "calls/s", `${mode}:${kind}:${size}`, burst, {
          framing,
          runs: LARGE_RUNS,
          rounds: 8,
        });
        // Each row as it ends: a long suite that fails late still shows what it measured.
        console.error(
          `${label}: ${measured.zerokit.toFixed(0)} / ${measured.raw.toFixed(0)} = ${measured.ratio.toFixed(2)}`,
        );
        rows.push(measured);
      }
    }
  }
  return rows;
}

export async function run(): Promise<Row[]> {
  const small: [string, () => Promise<Row>][] = [
    ['sequential echo("hello")', () => compare('sequential echo("hello")', "calls/s", "sequential", 1000)],
    ["echo, 100 calls in flight", () => compare("echo, 100 calls in flight", "calls/s", "inflight", 10_000)],
    ["stream items (window 100)", () => compare("stream items (window 100)", "items/s", "stream", 20_000)],
    // zerokit to zerokit: calls of one event-loop turn share a message (raw: one message per call).
    [
      "echo, 100 in flight, zerokit framing",
      () => compare("echo, 100 in flight, zerokit framing", "calls/s", "inflight", 10_000, { framing: "zerokit" }),
    ],
    // Raw: the same CURVE keys and ZAP authenticator on a plain DEALER⇄ROUTER.
    [
      'CURVE: sequential echo("hello")',
      () => compare('CURVE: sequential echo("hello")', "calls/s", "sequential", 1000, { curve: true }),
    ],
    [
      "CURVE: echo, 100 calls in flight",
      () => compare("CURVE: echo, 100 calls in flight", "calls/s", "inflight", 10_000, { curve: true }),
    ],
  ];
  const rows: Row[] = [];
  for (const [label, measure] of small) if (wanted(label)) rows.push(await measure());
  rows.push(...(await largeRows()));
  return rows;
}

/** Fresh server and client key pairs for one process pair. */
function newCurveArgs(): CurveArgs {
  const server = generateKeyPair();
  const client = generateKeyPair();
  return [server.secretKey, client.publicKey, client.secretKey];
}
