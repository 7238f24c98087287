import assert from "node:assert/strict";
import { test } from "node:test";
import { packNumbers } from "../../src/state/numbers.js";

test("packNumbers: 64 or more numbers become one Float64Array; fewer, holes or any other value stay as they are", {
  timeout: 10_000,
}, () => {
  const numbers = Array.from({ length: 64 }, (_, i) => (i % 2 ? -0 : i / 3));
  const packed = packNumbers(numbers);
  assert.ok(packed instanceof Float64Array);
  assert.deepEqual([...packed], numbers);
  assert.ok(Object.is(packed[1], -0));
  const few = numbers.slice(0, 63);
  assert.equal(packNumbers(few), few);
  const mixed: unknown[] = [...numbers, "1"];
  assert.equal(packNumbers(mixed), mixed);
  const holey = [...numbers];
  holey.length = 70;
  assert.equal(packNumbers(holey), holey);
  const withBigInt: unknown[] = [...numbers, 1n];
  assert.equal(packNumbers(withBigInt), withBigInt);
  // A range of a longer list: packed when its own values are all numbers, else copied as an array.
  const list: unknown[] = ["head", ...numbers, "tail"];
  const range = packNumbers(list, 1, 65);
  assert.ok(range instanceof Float64Array);
  assert.deepEqual([...range], numbers);
  assert.deepEqual(packNumbers(list, 0, 64), list.slice(0, 64));
  assert.deepEqual(packNumbers(list, 60, 66), list.slice(60, 66));
});
