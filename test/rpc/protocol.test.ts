import assert from "node:assert/strict";
import { test } from "node:test";
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
