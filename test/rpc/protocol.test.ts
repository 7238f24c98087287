import assert from "node:assert/strict";
import { test } from "node:test";
import { packWire, unpackWire } from "../../src/core/codec.js";
import {
  decodeEvent,
  encodeEvent,
  encodeFast,
  idBytes,
  idString,
  MAX_PACKED_HEADERS,
  nextIdNumber,
  ownIdNumber,
  packHeaderEntries,
} from "../../src/rpc/protocol.js";

test("the hot-path encoder writes exactly what the generic packer writes", { timeout: 5000 }, () => {
  const cases: [string | Buffer | undefined, string, unknown][] = [
    [undefined, "echo", ["hello"]],
    [Buffer.alloc(32, 1), "OK", [1]],
    ["node-style-str-id", "STREAM", 5],
    ["é".repeat(40), "x", null],
    [Buffer.alloc(300), "y".repeat(40), []],
    [Buffer.alloc(70_000), "z".repeat(300), [Buffer.alloc(70_000)]],
    ["s".repeat(70_000), "n".repeat(70_000), [1]],
  ];
  for (const [responseTo, name, args] of cases) {
    const id = nextIdNumber();
    const header: Record<string, unknown> & { message_id: Buffer } = { message_id: idBytes(idString(id)), v: 3 };
    if (responseTo !== undefined) header.response_to = responseTo;
    const fast = encodeFast(id, responseTo, name, args);
    assert.deepEqual(fast, encodeEvent(header, name, args), `${name.slice(0, 8)} / ${typeof responseTo}`);
    assert.equal(ownIdNumber(decodeEvent(fast).header.message_id), id);
  }
  for (const id of [0, 1, 0xff, 0x1000000, 0x123456789abc, 0xffffffffffff]) {
    const fast = encodeFast(id, undefined, "echo", []);
    assert.deepEqual(decodeEvent(fast).header.message_id, idBytes(idString(id)), `id ${id.toString(16)}`);
    assert.equal(ownIdNumber(decodeEvent(fast).header.message_id), id);
  }
  assert.equal(ownIdNumber(Buffer.alloc(32, 0x30)), undefined, "ids of other processes are not ours");
  assert.equal(ownIdNumber("short"), undefined);
});

test("context headers packed once encode exactly like a header map", { timeout: 5000 }, () => {
  const many = Object.fromEntries(Array.from({ length: MAX_PACKED_HEADERS }, (_, i) => [`k${i}`, i * 1000]));
  const contexts: Record<string, unknown>[] = [
    { zk_origin: "0123456789abcdef" },
    { trace_id: "t".repeat(40), sampled: true, depth: 3, none: null },
    many,
  ];
  for (const context of contexts) {
    for (const responseTo of [undefined, Buffer.alloc(32, 2)]) {
      const id = nextIdNumber();
      const header: Record<string, unknown> & { message_id: Buffer } = { message_id: idBytes(idString(id)), v: 3 };
      if (responseTo !== undefined) header.response_to = responseTo;
      Object.assign(header, context);
      const fast = encodeFast(id, responseTo, "get", ["ns", "key"], packHeaderEntries(context));
      assert.deepEqual(fast, encodeEvent(header, "get", ["ns", "key"]));
      assert.deepEqual(decodeEvent(fast).header, header);
    }
  }
  // Protocol keys never come from the context.
  assert.equal(packHeaderEntries({ v: 9, message_id: "x", response_to: "y" }).count, 0);
});

test("the hand-written event reader gives exactly what msgpackr gives", { timeout: 10_000 }, () => {
  const id = Buffer.alloc(32, 0x61);
  const headers: Record<string, unknown>[] = [
    { message_id: id, v: 3 },
    { message_id: id, v: 3, response_to: Buffer.alloc(32, 0x62) },
    { message_id: "node-style-id", v: 3, response_to: "str-id", zk_origin: "abc", n: -3, f: 1.5, ok: true, no: null },
    { message_id: id, v: 3, trace: { nested: 1 } },
    { message_id: id, v: 3, clé: "é" },
    Object.defineProperty({ message_id: id, v: 3 }, "__proto__", { value: 1, enumerable: true }),
  ];
  const argsList: unknown[] = [
    [],
    ["default", "k1", Buffer.from([1, 2, 3])],
    [0, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31)],
    [2 ** 40, -(2 ** 40), 0.1, Number.MAX_VALUE, 2 ** 64],
    [null, true, false, "", "x".repeat(24), "y".repeat(25), "z".repeat(300), "w".repeat(70_000)],
    [Buffer.alloc(0), Buffer.alloc(300, 7), Buffer.alloc(70_000, 8)],
    ["héllo", [1, [2]], { a: 1 }],
    Array.from({ length: 20 }, (_, i) => i),
    5,
    null,
    "plain",
  ];
  for (const header of headers) {
    for (const args of argsList) {
      for (const name of ["OK", "n".repeat(40), "ñame"]) {
        const blob = packWire([header, name, args]);
        const [h, n, a] = unpackWire(blob) as [object, string, unknown];
        const event = decodeEvent(blob);
        assert.deepEqual(event.header, h);
        assert.deepEqual(Object.keys(event.header), Object.keys(h), "header keys in wire order");
        assert.equal(event.name, n);
        assert.deepEqual(event.args, a);
      }
    }
  }
  const event = decodeEvent(packWire([{ message_id: id, v: 3 }, "OK", [Buffer.from("bytes")]]));
  assert.ok(Buffer.isBuffer((event.args as unknown[])[0]) && Buffer.isBuffer(event.header.message_id));
  const good = encodeFast(nextIdNumber(), undefined, "echo", ["hello"]);
  for (const bad of [good.subarray(0, good.length - 1), Buffer.concat([good, Buffer.from([1])])]) {
    assert.throws(() => decodeEvent(bad), /malformed MessagePack/);
  }
});
