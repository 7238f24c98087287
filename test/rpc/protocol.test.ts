import assert from "node:assert/strict";
import { test } from "node:test";
import {
  decodeEvent,
  encodeEvent,
  encodeFast,
  idBytes,
  idString,
  nextIdNumber,
  ownIdNumber,
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
  assert.equal(ownIdNumber(Buffer.alloc(32, 0x30)), undefined, "ids of other processes are not ours");
  assert.equal(ownIdNumber("short"), undefined);
});
