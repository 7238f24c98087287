/**
 * Large values (Buffers, typed arrays, long strings) in args and results: the plain zerorpc event
 * is byte for byte what the generic packer writes, zerokit framing sends them as frames of their
 * own, and a value handed to user code never changes with later traffic.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import v8 from "node:v8";
import { runInNewContext } from "node:vm";
import * as zmq from "zeromq";
import { hasLargeParts, LARGE_PART_BYTES, MAX_PARTS, packWire, unpackWire } from "../../src/core/codec.js";
import { ProtocolError } from "../../src/core/errors.js";
import { RpcClient, RpcServer } from "../../src/rpc/index.js";
import {
  decodeEvent,
  encodeEvent,
  encodeEventFrames,
  encodeFast,
  encodeFastFrames,
  idBytes,
  idString,
  isPartsMarker,
  largeFrames,
  PARTS_MARKER,
  packHeaderEntries,
} from "../../src/rpc/protocol.js";
import { freshEndpoint, networkTransports } from "../helpers.js";

const T = { timeout: 30_000 };
v8.setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
const N = LARGE_PART_BYTES;

/** Bytes that differ at every offset, so a shifted or stale copy shows. */
function pattern(size: number, seed = 0): Buffer {
  const bytes = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + seed) & 0xff;
  return bytes;
}

/** Sizes on both sides of every threshold: the part size and MessagePack's 8/16/32-bit lengths. */
const SIZES = [N - 1, N, N + 1, 0xffff, 0x10000, 0x10001, 300_000];

/** Strings of about `size` UTF-16 units: ASCII, two-, three- and four-byte UTF-8, and a lone surrogate. */
function texts(size: number): string[] {
  return [
    "a".repeat(size),
    "é".repeat(size),
    `${"€".repeat(size - 1)}x`,
    "😀".repeat(Math.ceil(size / 2)),
    `${"b".repeat(size - 1)}\ud800`,
    // ASCII but for one character mid-way: the writer's guess (one byte a unit) fails half-way.
    `${"c".repeat(size >> 1)}ß${"d".repeat(size - (size >> 1) - 1)}`,
  ];
}

function typedArrays(size: number): ArrayBufferView[] {
  const bytes = pattern(size * 8);
  return [
    new Uint8Array(bytes.buffer, bytes.byteOffset, size),
    new Int16Array(bytes.buffer, bytes.byteOffset, Math.ceil(size / 2)),
    new Float64Array(new Uint8Array(bytes.subarray(0, size * 8)).buffer, 0, Math.ceil(size / 8)),
    new BigUint64Array(Math.ceil(size / 8)).fill(123n),
  ];
}

/** What a plain peer decodes: typed arrays arrive as the bytes they hold. */
function plainOf(value: unknown): unknown {
  return unpackWire(packWire(value));
}

const ID = 77;
const HEADER = { message_id: idBytes(idString(ID)), v: 3 };

function argsCases(): unknown[][] {
  const cases: unknown[][] = [];
  for (const size of SIZES) {
    cases.push([pattern(size)], ...texts(size).map((t) => [t]), ...typedArrays(size).map((a) => [a]));
  }
  cases.push(
    [{ data: pattern(N + 5), list: ["x".repeat(N), 2 ** 40, null, { deep: [pattern(N * 2)] }] }, 3, "small"],
    [[pattern(N), pattern(10), "ü".repeat(N), pattern(N, 9)]],
    [{ __proto__key: pattern(N), ["__proto__"]: "é".repeat(N) }],
  );
  return cases;
}

describe("large values on the wire", () => {
  test("a plain event is byte for byte what packWire writes, and decodes the same", T, () => {
    for (const args of argsCases()) {
      for (const responseTo of [undefined, Buffer.from("0123456789abcdef0123456789abcdef"), "a-str-id"]) {
        const header = responseTo === undefined ? HEADER : { ...HEADER, response_to: responseTo };
        const expected = packWire([header, "echo", args]);
        const fast = encodeFast(ID, responseTo, "echo", args);
        assert.ok(fast.equals(expected), `encodeFast of ${describeArgs(args)}`);
        assert.ok(encodeEvent(header, "echo", args).equals(expected), `encodeEvent of ${describeArgs(args)}`);
        const event = decodeEvent(fast);
        assert.deepEqual(event.args, (unpackWire(expected) as unknown[])[2]);
      }
    }
  });

  test("context headers go in front of the large args, as packWire orders them", T, () => {
    const context = packHeaderEntries({ trace_id: "t-1", n: 5 });
    const args = [pattern(N * 3), "é".repeat(N)];
    const expected = packWire([{ ...HEADER, trace_id: "t-1", n: 5 }, "echo", args]);
    assert.ok(encodeFast(ID, undefined, "echo", args, context).equals(expected));
  });

  test("zerokit framing: large parts are frames of their own, Buffers without a copy", T, () => {
    for (const args of argsCases()) {
      const frames = encodeFastFrames(ID, undefined, "echo", args);
      if (!hasLargeParts(args)) {
        assert.ok(Buffer.isBuffer(frames) && frames.equals(encodeFast(ID, undefined, "echo", args)));
        continue;
      }
      assert.ok(!Buffer.isBuffer(frames), `parts for ${describeArgs(args)}`);
      assert.ok(isPartsMarker(frames[0] as Buffer));
      const received = frames.slice(2).map((part) => (typeof part === "string" ? Buffer.from(part, "utf8") : part));
      const event = decodeEvent(frames[1] as Buffer, undefined, received as Buffer[]);
      assert.deepEqual(event.args, plainOf(args), describeArgs(args));
      const generic = encodeEventFrames(HEADER, "echo", args);
      assert.ok(!Buffer.isBuffer(generic));
      const again = decodeEvent(generic[1] as Buffer, undefined, generic.slice(2).map(toFrame));
      assert.deepEqual(again.args, plainOf(args));
    }
    const data = pattern(N * 4);
    const frames = encodeFastFrames(ID, undefined, "echo", [data]) as (Buffer | string)[];
    assert.equal(frames.length, 3);
    assert.equal((frames[2] as Buffer).buffer, data.buffer, "the part is the caller's memory");
    const event = decodeEvent(frames[1] as Buffer, undefined, [frames[2] as Buffer]);
    assert.equal((event.args as unknown[])[0], frames[2], "the decoded bytes are the received frame itself");
  });

  test("below the part size, and for small args, zerokit framing sends the plain event", T, () => {
    for (const args of [[pattern(N - 1)], ["x".repeat(N - 1)], ["hello", 1]]) {
      const frames = encodeFastFrames(ID, undefined, "echo", args);
      assert.ok(Buffer.isBuffer(frames));
      assert.ok(frames.equals(encodeFast(ID, undefined, "echo", args)));
    }
  });

  test(`past ${MAX_PARTS} parts, the rest of the large values go inline`, T, () => {
    const args = Array.from({ length: MAX_PARTS + 10 }, (_, i) => pattern(N, i));
    const frames = encodeFastFrames(ID, undefined, "echo", args) as (Buffer | string)[];
    assert.equal(frames.length, 2 + MAX_PARTS);
    const event = decodeEvent(frames[1] as Buffer, undefined, frames.slice(2).map(toFrame));
    assert.deepEqual(event.args, args);
    assert.ok(encodeFast(ID, undefined, "echo", args).equals(packWire([HEADER, "echo", args])));
  });

  test("references are refused outside a parts message, out of range or of an unknown kind", T, () => {
    const frames = encodeFastFrames(ID, undefined, "echo", [pattern(N), { nested: [pattern(N)] }]) as Buffer[];
    const blob = frames[1] as Buffer;
    assert.throws(() => decodeEvent(blob), ProtocolError, "no parts: a plain peer's ext 0x7a is not ours");
    assert.throws(() => decodeEvent(blob, undefined, [frames[2] as Buffer]), /part 1 of 1/);
    const badKind = Buffer.from(blob);
    badKind[badKind.indexOf(Buffer.from([0xd5, 0x7a])) + 2] = 7;
    assert.throws(() => decodeEvent(badKind, undefined, frames.slice(2)), /unknown kind 7/);
  });

  test("a long str decodes natively the way msgpackr does, also when it is not valid UTF-8", T, () => {
    const invalid = Buffer.concat([
      Buffer.from([0xda, 0x01, 0x2c]),
      Buffer.alloc(298, 0x61),
      Buffer.from([0xc3, 0x28]),
    ]);
    const blob = Buffer.concat([packWire([HEADER, "echo", null]).subarray(0, -1), Buffer.from([0x91]), invalid]);
    assert.deepEqual(decodeEvent(blob).args, (unpackWire(blob) as unknown[])[2]);
    for (const text of texts(1000)) {
      const event = decodeEvent(packWire([HEADER, "echo", [text]]));
      assert.deepEqual(event.args, plainOf([text]));
    }
  });
});

function toFrame(part: Buffer | string): Buffer {
  return typeof part === "string" ? Buffer.from(part, "utf8") : part;
}

function describeArgs(args: unknown[]): string {
  return args
    .map((a) =>
      typeof a === "string"
        ? `string(${a.length}, ${JSON.stringify(a.slice(0, 2))})`
        : ArrayBuffer.isView(a)
          ? `${a.constructor.name}(${a.byteLength})`
          : typeof a,
    )
    .join(", ");
}

class Store {
  kept: unknown[] = [];
  echo(x: unknown) {
    return x;
  }
  keep(x: unknown) {
    this.kept.push(x);
    return true;
  }
  make(size: number, seed: number) {
    return { data: pattern(size, seed), text: `${"ß".repeat(size)}${seed}`, tail: [pattern(size, seed + 1)] };
  }
  *items(count: number, size: number) {
    for (let i = 0; i < count; i++) yield pattern(size, i);
  }
}

for (const transport of networkTransports) {
  for (const framing of ["zerorpc", "zerokit"] as const) {
    describe(`large values over ${transport}, ${framing} framing`, () => {
      async function pair() {
        const store = new Store();
        const server = new RpcServer(store, { heartbeat: 1000 });
        const address = await server.bind(freshEndpoint(transport));
        const client = new RpcClient({ framing, timeout: 20_000, heartbeat: 1000 });
        client.connect(address);
        return {
          store,
          client,
          async [Symbol.asyncDispose]() {
            await client[Symbol.asyncDispose]();
            await server[Symbol.asyncDispose]();
          },
        };
      }

      test("Buffers, typed arrays and strings round trip at every threshold, nested or not", T, async () => {
        await using p = await pair();
        for (const args of argsCases()) {
          const result = await p.client.call("echo", [args]);
          assert.deepEqual(result, plainOf(args), describeArgs(args));
        }
        assert.deepEqual(await p.client.call("make", [N, 3]), plainOf(new Store().make(N, 3)));
      });

      test("many large calls in flight each get their own answer", T, async () => {
        await using p = await pair();
        const sizes = [N - 1, N, 0x10001, 200_000];
        const calls = Array.from({ length: 40 }, (_, i) => {
          const value = i % 2 === 0 ? pattern(sizes[i % 4] as number, i) : `${"é".repeat(sizes[i % 4] as number)}${i}`;
          return p.client.call("echo", [value]).then((result) => assert.deepEqual(result, value));
        });
        await Promise.all(calls);
      });

      test("a stream of large items arrives whole and in order", T, async () => {
        await using p = await pair();
        let i = 0;
        for await (const item of p.client.call("items", [30, 0x10001])) {
          assert.deepEqual(item, pattern(0x10001, i));
          i++;
        }
        assert.equal(i, 30);
      });

      test("a sequential client sends each large request from memory its server has read", T, async () => {
        await using p = await pair();
        const shelved = largeFrames.shelved;
        for (let i = 0; i < 20; i++) {
          const value = pattern(0x10001, i);
          assert.ok(((await p.client.call("echo", [value])) as Buffer).equals(value), `call ${i}`);
        }
        // zerorpc framing: every request is one frame, given back when its answer arrives; zerokit
        // framing sends the Buffer itself as a frame of its own, so there is no frame to give back.
        assert.equal(largeFrames.shelved - shelved, framing === "zerorpc" ? 20 : 0);
      });

      test("what a client keeps for its server's next requests is bounded, and freed when it closes", T, async () => {
        await using p = await pair();
        const before = largeFrames.shelvedBytes;
        await Promise.all(
          Array.from({ length: 20 }, async (_, i) => {
            const value = pattern(1 << 20, i);
            assert.ok(((await p.client.call("echo", [value])) as Buffer).equals(value), `call ${i}`);
          }),
        );
        const kept = largeFrames.shelvedBytes - before;
        if (framing === "zerorpc") assert.ok(kept > 0 && kept <= 8 * 2 ** 20, `kept ${kept} bytes`);
        else assert.equal(kept, 0);
        p.client.close();
        assert.equal(largeFrames.shelvedBytes, before);
      });

      test("a value handed to user code does not change with later traffic", T, async () => {
        await using p = await pair();
        const sizes = [N, 0x10001, 300_000, 1 << 20];
        const results: [Buffer, Buffer][] = [];
        for (let round = 0; round < 3; round++) {
          for (const size of sizes) {
            const result = (await p.client.call("echo", [pattern(size, round)])) as Buffer;
            results.push([result, Buffer.from(result)]);
            await p.client.call("keep", [pattern(size, round + 100)]);
          }
        }
        // Later traffic of the same sizes, after a collection has handed the memory of the frames
        // sent so far back to the pool: it reuses that memory.
        const reused = largeFrames.reused;
        gc();
        await new Promise(setImmediate); // finalization callbacks run as tasks of their own
        await Promise.all(
          sizes.flatMap((size) => [0, 1, 2].map((k) => p.client.call("echo", [pattern(size, 200 + k)]))),
        );
        // (zerokit framing sends the values themselves as frames: no frame memory to reuse)
        if (framing === "zerorpc") assert.ok(largeFrames.reused > reused, "the later calls reused frame memory");
        for (const [view, copy] of results) assert.ok(view.equals(copy), "a result the client returned changed");
        assert.equal(p.store.kept.length, 12);
        p.store.kept.forEach((kept, j) => {
          const round = Math.floor(j / sizes.length);
          assert.ok(
            (kept as Buffer).equals(pattern(sizes[j % sizes.length] as number, round + 100)),
            "an arg the server kept changed",
          );
        });
      });
    });
  }

  describe(`a plain zerorpc peer over ${transport}`, () => {
    test("a Python-shaped request with large values gets one plain event back", T, async () => {
      const server = new RpcServer(new Store(), { heartbeat: false });
      const address = await server.bind(freshEndpoint(transport));
      const dealer = new zmq.Dealer({ linger: 0 });
      dealer.connect(address);
      try {
        for (const value of [pattern(N), pattern(0x10001), "é".repeat(N), { a: [pattern(N * 2)] }]) {
          const id = Buffer.from("0123456789abcdef0123456789abcdef"); // Python: 32 hex chars as bin
          await dealer.send([Buffer.alloc(0), packWire([{ message_id: id, v: 3 }, "echo", [value]])]);
          const reply = await dealer.receive();
          assert.equal(reply.length, 2, "[delimiter, event], never a parts message");
          assert.equal(reply[0]?.length, 0);
          assert.ok(!reply.some((frame) => frame.equals(PARTS_MARKER)));
          const [header, name, args] = unpackWire(reply[1] as Buffer) as [Record<string, unknown>, string, unknown];
          assert.equal(name, "OK");
          assert.deepEqual(header.response_to, id);
          assert.deepEqual(args, [plainOf(value)]);
          // Byte for byte what the generic packer writes for that event.
          assert.ok((reply[1] as Buffer).equals(packWire([header, name, args])));
        }
      } finally {
        dealer.close();
        await server[Symbol.asyncDispose]();
      }
    });
  });
}

describe("a parts message past the server's size limit", () => {
  test("counts its parts: it is refused with an ERR that names the size, never decoded", T, async () => {
    const server = new RpcServer(new Store(), { heartbeat: false, maxMessageSize: 100_000 });
    const address = await server.bind(freshEndpoint("tcp"));
    const dealer = new zmq.Dealer({ linger: 0 });
    dealer.connect(address);
    try {
      const frames = encodeFastFrames(ID, undefined, "echo", [pattern(60_000), pattern(60_000)]) as Buffer[];
      assert.ok((frames[1] as Buffer).length < 100_000);
      await dealer.send(frames);
      const [reply] = await dealer.receive();
      const [, name, args] = unpackWire(reply as Buffer) as [unknown, string, string[]];
      assert.equal(name, "ERR");
      assert.match(String(args[1]), /120\d{3}/);
      assert.equal(server.stats.oversized, 1);
    } finally {
      dealer.close();
      await server[Symbol.asyncDispose]();
    }
  });
});

describe("zerokit framing over inproc, where libzmq hands the receiver the sender's memory", () => {
  test("neither side sees the other change its Buffers after the call", T, async () => {
    const own = pattern(N * 2, 1);
    const target = {
      kept: [] as unknown[],
      keep(x: unknown) {
        this.kept.push(x);
        return true;
      },
      own: () => own,
    };
    const server = new RpcServer(target, { heartbeat: false });
    const address = await server.bind(`inproc://zk-large-${process.pid}`);
    const client = new RpcClient({ framing: "zerokit", heartbeat: false, timeout: 10_000 });
    client.connect(address);
    try {
      const mine = pattern(N * 2, 2);
      await client.call("keep", [mine]);
      mine.fill(0);
      assert.ok(
        (target.kept[0] as Buffer).equals(pattern(N * 2, 2)),
        "the server's kept arg changed with the client's Buffer",
      );
      const result = (await client.call("own", [])) as Buffer;
      own.fill(0);
      assert.ok(result.equals(pattern(N * 2, 1)), "the client's result changed with the server's Buffer");
    } finally {
      await client[Symbol.asyncDispose]();
      await server[Symbol.asyncDispose]();
    }
  });
});

describe("zerorpc framing over inproc, where the server's args are views of the request's memory", () => {
  test("the client never reuses a request's memory, so args the server kept stay as sent", T, async () => {
    const kept: Buffer[] = [];
    const server = new RpcServer(
      {
        keep(x: Buffer) {
          kept.push(x);
          return true;
        },
      },
      { heartbeat: false },
    );
    const address = await server.bind(`inproc://zk-large-plain-${process.pid}`);
    const client = new RpcClient({ heartbeat: false, timeout: 10_000 });
    client.connect(address);
    try {
      const shelved = largeFrames.shelved;
      for (let i = 0; i < 10; i++) await client.call("keep", [pattern(0x10001, i)]);
      assert.equal(largeFrames.shelved, shelved, "no inproc request was given back for reuse");
      for (const [i, arg] of kept.entries()) assert.ok(arg.equals(pattern(0x10001, i)), `kept arg ${i} changed`);
    } finally {
      await client[Symbol.asyncDispose]();
      await server[Symbol.asyncDispose]();
    }
  });
});
