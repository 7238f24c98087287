/** The awaitable-and-iterable result on its own, with a source that counts what it was asked. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DualResult } from "../../src/rpc/result.js";

function counting(values: number[]) {
  const asked = { collect: 0, iterate: 0 };
  const result = new DualResult<number[], number>({
    collect: async () => {
      asked.collect++;
      return values;
    },
    iterate: () => {
      asked.iterate++;
      return values[Symbol.iterator]() as unknown as AsyncIterator<number>;
    },
  });
  return { result, asked };
}

describe("DualResult", () => {
  test("nothing happens until it is awaited or iterated", () => {
    const { asked } = counting([1]);
    assert.deepEqual(asked, { collect: 0, iterate: 0 });
  });

  test("every await, then, catch and finally share one collect", async () => {
    const { result, asked } = counting([1, 2]);
    const [a, b] = await Promise.all([result, result.then((v) => v.length)]);
    assert.deepEqual(a, [1, 2]);
    assert.equal(b, 2);
    assert.deepEqual(await result.catch(() => []), [1, 2]);
    assert.deepEqual(await result.finally(() => undefined), [1, 2]);
    assert.equal(asked.collect, 1);
    assert.equal(Object.prototype.toString.call(result), "[object Promise]");
  });

  test("iterating asks the source for an iterator each time, and never collects", async () => {
    const { result, asked } = counting([3, 4]);
    const seen: number[] = [];
    for await (const n of result) seen.push(n);
    for await (const n of result) seen.push(n);
    assert.deepEqual(seen, [3, 4, 3, 4]);
    assert.deepEqual(asked, { collect: 0, iterate: 2 });
  });

  test("a failing collect rejects every await with the same error", async () => {
    const boom = new Error("boom");
    const result = new DualResult<number, number>({
      collect: () => Promise.reject(boom),
      iterate: () => [][Symbol.iterator]() as unknown as AsyncIterator<number>,
    });
    await assert.rejects(result, (e) => e === boom);
    assert.equal(await result.catch((e: unknown) => e), boom);
  });
});
