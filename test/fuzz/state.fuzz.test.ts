/**
 * Seeded fuzz of a real state server in its own process: wrong-typed arguments to every state
 * method, random bytes, wrongly shaped MessagePack, unknown and duplicate ids, credit floods on
 * watches, oversized claims, deep nesting and hostile names, from raw DEALER peers, with a
 * legitimate State call every few dozen messages. The server must not crash, must answer every
 * legitimate call, keep the legitimate data (through a restart from its data dir too) and stay
 * bounded in memory. `ZK_FUZZ_SEED` replays a run; `ZK_FUZZ_MESSAGES` sizes it.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { packObject, packWire } from "../../src/core/codec.js";
import { Dealer } from "../../src/index.js";
import { BATCH_MARKER } from "../../src/rpc/protocol.js";
import { ping, State, startServer } from "../../src/state/index.js";
import { freshEndpoint } from "../helpers.js";
import { fuzzMessageCount, fuzzSeed, Random } from "./random.js";

const MESSAGES = fuzzMessageCount(3000);
const SEED = fuzzSeed();
const LEGIT_EVERY = 25;
const HOSTILE = ["__proto__", "constructor", "prototype", "hasOwnProperty", "", "toString", "valueOf", "\u0000"];
const METHODS = [
  "ping",
  "get",
  "getv",
  "getseq",
  "set",
  "del",
  "has",
  "keys",
  "entries",
  "size",
  "clear",
  "update",
  "replace",
  "snapshot",
  "op",
  "commit",
  "mutate",
  "watch",
];
const OPS = ["increment", "append", "remove", "merge", "compareAndSet", "setIfAbsent", "pop", "explode"];

/** Resident memory of a process in bytes (Linux), or undefined elsewhere. */
function rssOf(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

/** The generators of hostile input, all drawn from one seeded source. */
class Hostile {
  constructor(readonly r: Random) {}

  name(): string {
    const r = this.r;
    if (r.chance(0.6)) return r.pick(HOSTILE);
    if (r.chance(0.8)) return `n${r.int(20)}`;
    return r.bytes(r.int(12)).toString("latin1");
  }

  /** A value of any wire type, nested at most `depth` deep. */
  value(depth = 3): unknown {
    const r = this.r;
    switch (r.int(depth > 0 ? 14 : 11)) {
      case 0:
        return null;
      case 1:
        return r.chance(0.5);
      case 2:
        return r.int(2 ** 31) - 2 ** 30;
      case 3:
        return r.pick([2 ** 32, 2 ** 53 + 2, -(2 ** 60), Number.MAX_SAFE_INTEGER, 1e300, Number.NaN, -0, 1.5]);
      case 4:
        return this.name();
      case 5:
        return "x".repeat(r.int(3000));
      case 6:
        return r.bytes(r.int(64));
      case 7:
        return packObject(r.pick([1, "v", [1, 2], { a: 1 }, new Date(5), new Map([[1, 2]]), 2n ** 70n]));
      case 8:
        return Buffer.from(r.pick(["d4ffff", "c1", "dd7fffffff", "0102", "d40501", "d46d00", "db7fffffff41"]), "hex");
      case 9:
        return r.int(100);
      case 10:
        return r.pick([-1, 0, 1e12, 2 ** 40, 0.5]);
      case 11:
        return Array.from({ length: r.int(5) }, () => this.value(depth - 1));
      case 12: {
        // Own properties with hostile names, as a decoder would make them.
        const o: Record<string, unknown> = {};
        for (let i = r.int(4); i > 0; i--)
          Object.defineProperty(o, this.name(), {
            value: this.value(depth - 1),
            enumerable: true,
            writable: true,
            configurable: true,
          });
        return o;
      }
      default:
        return [this.name(), this.value(depth - 1)];
    }
  }

  /** Arguments for a state method: mostly right in shape with one field wrong, sometimes anything. */
  args(method: string): unknown {
    const r = this.r;
    if (r.chance(0.15)) return this.value(2);
    const ns = r.chance(0.8) ? this.name() : this.value(1);
    const key = r.chance(0.8) ? this.name() : this.value(1);
    const bytes = r.chance(0.6) ? packObject(this.value(2)) : this.value(1);
    const pairs = () => Array.from({ length: r.int(4) }, () => (r.chance(0.8) ? [this.name(), bytes] : this.value(1)));
    let args: unknown[];
    switch (method) {
      case "get":
      case "getseq":
      case "del":
      case "has":
        args = [ns, key];
        break;
      case "getv":
        args = [ns, r.chance(0.7) ? [key, this.name()] : this.value(1)];
        break;
      case "set":
        args = [ns, key, bytes];
        break;
      case "update":
      case "replace":
        args = [ns, r.chance(0.8) ? pairs() : this.value(1)];
        break;
      case "op":
        args = [
          ns,
          key,
          r.chance(0.8) ? r.pick(OPS) : this.value(1),
          r.chance(0.7) ? packObject([this.value(1), this.value(1)]) : this.value(1),
        ];
        break;
      case "commit":
        args = [
          ns,
          r.chance(0.7) ? [[this.name(), r.pick([0, 1, -1, 1.5, "1"])]] : this.value(1),
          r.chance(0.7) ? [[this.name(), r.chance(0.3) ? null : bytes]] : this.value(1),
        ];
        break;
      case "mutate":
        args = [ns, r.chance(0.5) ? "bump" : this.value(1), r.chance(0.7) ? packObject([]) : this.value(1)];
        break;
      case "watch":
        args = [
          ns,
          r.chance(0.5) ? null : this.value(1),
          r.chance(0.5) ? null : this.value(0),
          r.chance(0.7) ? null : this.value(0),
        ];
        break;
      default:
        args = [ns];
    }
    // Too few or too many arguments now and then.
    if (r.chance(0.1)) args = args.slice(0, r.int(args.length));
    if (r.chance(0.05)) args.push(this.value(1));
    return args;
  }

  /** A MessagePack header that claims far more than follows. */
  oversizedClaim(): Buffer {
    return Buffer.from(
      this.r.pick([
        "dd7fffffff", // array32 of 2^31 items
        "df7fffffff", // map32 of 2^31 pairs
        "db7fffffff41", // str32 of 2 GB with one byte
        "c67fffffff", // bin32 of 2 GB
        "93dd7fffffff", // an event whose header claims 2^31 items
      ]),
      "hex",
    );
  }

  /** An array nested `depth` deep, encoded by hand (no recursion to build it). */
  deep(depth: number): Buffer {
    const out = Buffer.alloc(depth + 1, 0x91);
    out[depth] = 0xc0;
    return out;
  }
}

test(`state server fuzz (seed ${SEED}, ${MESSAGES} messages)`, { timeout: 120_000 }, async () => {
  const seed = SEED;
  console.log(`state fuzz: seed ${seed} (replay with ZK_FUZZ_SEED=${seed}), ${MESSAGES} messages`);
  const r = new Random(seed);
  const h = new Hostile(r);
  const dataDir = mkdtempSync(join(tmpdir(), "zk-state-fuzz-"));
  const address = freshEndpoint("ipc");
  const legitNs = `legit-${seed}`;
  const expected = new Map<string, unknown>();
  const peers: Dealer[] = [];
  try {
    const server = await startServer(address, { dataDir, fsync: "no", snapshotEvery: 400, heartbeat: 2000 });
    const pid = server.pid as number;
    const state = new State(server.address, { namespace: legitNs, timeout: 10_000 });
    let replies = 0;
    try {
      for (let i = 0; i < 4; i++) {
        const peer = new Dealer();
        peer.connect(server.address);
        peers.push(peer);
        // Drain what the server answers, so its queue to us never fills.
        void (async () => {
          try {
            for await (const _ of peer.messages()) replies++;
          } catch {
            // closed at the end of the test
          }
        })();
      }
      await state.set("warm", 0);
      expected.set("warm", 0);
      const rssBefore = rssOf(pid);
      const ids = Array.from({ length: 16 }, (_, i) => Buffer.from(`fuzz-id-${i}`));
      const empty = Buffer.alloc(0);
      const event = (name: unknown, args: unknown, extra: Record<string, unknown> = {}) =>
        packWire([{ message_id: r.pick(ids), v: 3, ...extra }, name, args]);
      const counts = new Map<string, number>();
      let legit = 0;
      for (let n = 1; n <= MESSAGES; n++) {
        const peer = r.pick(peers);
        let frames: Buffer[];
        const kind = r.pick([
          "method",
          "method",
          "method",
          "method",
          "bytes",
          "shape",
          "ids",
          "credit",
          "oversized",
          "deep",
          "frames",
        ]);
        counts.set(kind, (counts.get(kind) ?? 0) + 1);
        switch (kind) {
          case "method": {
            const method = r.pick(METHODS);
            frames = [empty, event(method, h.args(method))];
            break;
          }
          case "bytes":
            frames = [empty, r.bytes(r.int(300))];
            break;
          case "shape":
            frames = [
              empty,
              packWire(
                r.pick([
                  () => h.value(3),
                  () => [h.value(1), r.pick(METHODS), []],
                  () => [{ message_id: h.value(0), v: h.value(0) }, r.pick(METHODS), []],
                  () => [{ message_id: r.pick(ids), v: 3 }, h.value(1), h.value(1)],
                  () => [{ message_id: r.pick(ids), v: 3, response_to: h.value(0) }, "_zpc_more", [1]],
                ])(),
              ),
            ];
            break;
          case "ids":
            // Duplicate ids on watches, and heartbeats, credit and cancels for unknown channels.
            frames = [
              empty,
              r.chance(0.5)
                ? event("watch", [h.name(), null, null, null])
                : event(r.pick(["_zpc_hb", "_zpc_more", "_zerokit_cancel"]), [1], {
                    response_to: r.chance(0.5) ? r.pick(ids) : r.bytes(8),
                  }),
            ];
            break;
          case "credit":
            // Numbers only: non-numeric credit is the RPC receive loop's to validate (see below).
            frames = [
              empty,
              event("_zpc_more", [r.pick([1e12, 2 ** 53, -5, 0, 1.5, 1e308, Number.NaN, 100])], {
                response_to: r.pick(ids),
              }),
            ];
            break;
          case "oversized":
            frames = [empty, r.chance(0.5) ? h.oversizedClaim() : event(r.pick(METHODS), h.oversizedClaim())];
            break;
          case "deep": {
            // Deep nesting inside a stored value: the server's value check walks it without recursion.
            const depth = r.pick([100, 5000, 100_000]);
            frames = [empty, event("set", [h.name(), h.name(), h.deep(depth)])];
            break;
          }
          default:
            frames = r.pick([
              () => [event("ping", [])],
              () => [empty, empty, event("get", [h.name(), h.name()])],
              () => [empty, event("ping", []), r.bytes(4)],
              () => [BATCH_MARKER, event("get", [h.name(), h.name()]), r.bytes(3)],
            ])();
        }
        peer.post(frames);
        if (n % LEGIT_EVERY === 0) {
          const key = r.chance(0.3) ? r.pick(HOSTILE) : `k${r.int(50)}`;
          const value = { n, key, when: new Date(n) };
          await state.set(key, value);
          expected.set(key, value);
          assert.deepEqual(await state.get(key), value, `legitimate call after message ${n}`);
          legit++;
        }
      }
      // Everything sent so far has been read once a last legitimate call is answered behind it.
      for (const peer of peers) peer.post([empty, event("ping", [])]);
      assert.equal(await ping(server.address, { timeout: 10_000 }), true, "the server still answers");
      assert.deepEqual(new Map(await state.entries()), expected, "the legitimate data is intact");
      // Whatever the fuzz managed to store, every client can still read it.
      for (const ns of [...HOSTILE, ...Array.from({ length: 20 }, (_, i) => `n${i}`)]) {
        const view = state.withNamespace(ns);
        await view.entries();
        await view.snapshot();
      }
      const rssAfter = rssOf(pid);
      console.log(
        `state fuzz: ${MESSAGES} messages (${[...counts].map(([k, c]) => `${k} ${c}`).join(", ")}), ` +
          `${legit} legitimate calls answered, ${replies} replies to the fuzzers, 0 crashes; server RSS ` +
          `${rssBefore === undefined ? "n/a" : `${(rssBefore / 2 ** 20).toFixed(1)} MB`} → ` +
          `${rssAfter === undefined ? "n/a" : `${(rssAfter / 2 ** 20).toFixed(1)} MB`}`,
      );
      if (rssBefore !== undefined && rssAfter !== undefined)
        assert.ok(rssAfter - rssBefore < 300 * 2 ** 20, `the server's RSS grew by ${(rssAfter - rssBefore) >> 20} MB`);
    } finally {
      for (const peer of peers) peer.close();
      await state[Symbol.asyncDispose]();
      await server.stop();
    }
    // Whatever names the fuzz wrote went through snapshots and the log: the server starts again
    // from its data dir, with the legitimate data intact.
    const again = await startServer(freshEndpoint("ipc"), { dataDir, inProcess: true });
    try {
      const reader = new State(again.address, { namespace: legitNs });
      try {
        assert.deepEqual(new Map(await reader.entries()), expected, "the legitimate data survives a restart");
      } finally {
        await reader[Symbol.asyncDispose]();
      }
    } finally {
      await again.stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

// Non-numeric credit and non-string introspection arguments once crashed the RPC receive loop
// under the state server (`Number({toString: 1})` / `String(...)` threw outside any boundary).
test("state server survives non-numeric credit and non-string introspection arguments", {
  timeout: 30_000,
}, async () => {
  const server = await startServer(freshEndpoint("ipc"), { heartbeat: 60_000 });
  const raw = new Dealer();
  try {
    raw.connect(server.address);
    const empty = Buffer.alloc(0);
    const header = (id: string, to?: string) => ({
      message_id: Buffer.from(id),
      v: 3,
      ...(to ? { response_to: Buffer.from(to) } : {}),
    });
    raw.post([empty, packWire([header("h"), "_zerorpc_help", [{ toString: 1 }]])]);
    raw.post([empty, packWire([header("a"), "_zerorpc_args", [{ toString: 1 }]])]);
    raw.post([empty, packWire([header("w"), "watch", ["ns", null, null, null]])]);
    raw.post([empty, packWire([header("m", "w"), "_zpc_more", [{ toString: 1, valueOf: 1 }]])]);
    assert.equal(await ping(server.address, { timeout: 5000 }), true);
  } finally {
    raw.close();
    await server.stop();
  }
});
