import assert from "node:assert/strict";
import { test } from "node:test";
import { packObject, unpackObject } from "../../src/core/codec.js";
import { packValue, unpackValue } from "../../src/state/values.js";

const T = { timeout: 60_000 };

// Every boundary of each integer form, both sides, and the numbers that are no 32-bit integer.
const numbers = [
  0,
  -0,
  1,
  31,
  32,
  63,
  64,
  127,
  128,
  255,
  256,
  65535,
  65536,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32 - 1,
  2 ** 32,
  2 ** 53,
  2 ** 53 + 2,
  2 ** 64,
  -1,
  -31,
  -32,
  -33,
  -127,
  -128,
  -129,
  -32767,
  -32768,
  -32769,
  -(2 ** 31),
  -(2 ** 31) - 1,
  -(2 ** 53),
  0.5,
  -0.5,
  1.25e-300,
  Math.PI,
  1e21,
  Number.MAX_VALUE,
  Number.MIN_VALUE,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  1764633600123.456,
];
const others = [true, false, null, undefined, "", "text", [1, 2], { a: 1 }, new Map([["x", 1]]), 1n, new Date(0)];

test("state values: the scalar fast path writes exactly the object codec's bytes", T, () => {
  for (const value of [...numbers, ...others])
    assert.deepEqual(packValue(value), packObject(value), `packValue(${String(value)})`);
});

test("state values: the fast path reads back what the codec reads, for any encoded value", T, () => {
  for (const value of [...numbers, ...others]) {
    const bytes = packObject(value);
    assert.deepEqual(unpackValue(bytes), unpackObject(bytes), `unpackValue of ${String(value)}`);
    assert.ok(Object.is(unpackValue(bytes), unpackObject(bytes)) || typeof unpackObject(bytes) === "object");
  }
  // A view into a larger frame (how a decoded bin arrives) and a plain Uint8Array read the same.
  const frame = Buffer.concat([Buffer.from([0xff, 0xff]), packObject(-129), Buffer.from([0xff])]);
  assert.equal(unpackValue(frame.subarray(2, 5)), -129);
  assert.equal(unpackValue(new Uint8Array([0xcd, 0x01, 0x2c])), 300);
  // Bytes that are not one whole value still fail as the codec fails them.
  assert.throws(
    () => unpackValue(Buffer.from([0xcd, 0x01])),
    (e: Error) => e.name === "ProtocolError",
  );
});
