/**
 * The one wait helper (src/core/wait.ts): one deadline however often the wait re-arms (on a fake
 * clock, so no timing is asserted), typed errors by cause, and a receive loop no handler's
 * exception leaves.
 */
import assert from "node:assert/strict";
import { describe, mock, test } from "node:test";
import { AbortError, ClosedError, TimeoutError } from "../../src/core/errors.js";
import { Feed } from "../../src/core/feed.js";
import { receiveEach, waitWithin } from "../../src/core/wait.js";

const timedOut = (ms: number) => new TimeoutError(`nothing within ${ms} ms`, ms);
const turns = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

describe("waitWithin", () => {
  test("a wait that re-arms keeps the deadline of the call", { timeout: 5000 }, async () => {
    mock.timers.enable({ apis: ["setTimeout"] });
    try {
      const feed = new Feed<number>(10, () => {});
      let armed = 0;
      const waiting = waitWithin({ timeout: 100, timedOut }, async (signal) => {
        for (;;) {
          armed++;
          if ((await feed.first(() => true, signal)) === 2) return "two";
        }
      });
      const outcome = waiting.then(
        (value) => value,
        (error: unknown) => error,
      );
      await turns();
      mock.timers.tick(60);
      feed.emit(1); // not it: the wait re-arms
      await turns();
      assert.equal(armed, 2);
      mock.timers.tick(60); // 120 ms after the call; a restarted timeout would have 40 ms to go
      await turns();
      feed.emit(2);
      const error = await outcome;
      assert.ok(error instanceof TimeoutError, `a TimeoutError, not ${String(error)}`);
      assert.match(error.message, /100 ms/);
    } finally {
      mock.timers.reset();
    }
  });

  test("a timeout beyond what a Node timer holds (2^31 - 1 ms) is no limit, not 1 ms", { timeout: 5000 }, async () => {
    const feed = new Feed<number>(10, () => {});
    const waiting = waitWithin({ timeout: 3e9, timedOut }, (signal) => feed.first(() => true, signal));
    await new Promise((resolve) => setTimeout(resolve, 20)); // an overflowed timer fires after 1 ms
    feed.emit(5);
    assert.equal(await waiting, 5);
  });

  test("resolves with the wait's value and then aborts its signal", { timeout: 5000 }, async () => {
    let seen: AbortSignal | undefined;
    const value = await waitWithin({ timeout: 60_000, timedOut }, async (signal) => {
      seen = signal;
      return 7;
    });
    assert.equal(value, 7);
    assert.equal(seen?.aborted, true); // what the wait subscribed with it is released
  });

  test("the caller's abort, the owner's close and other failures are told apart", { timeout: 5000 }, async () => {
    const never = (signal: AbortSignal) =>
      new Promise<never>((_, reject) => signal.addEventListener("abort", () => reject(new Error("aborted"))));
    const user = new AbortController();
    const waiting = waitWithin({ signal: user.signal, timedOut }, never);
    user.abort();
    await assert.rejects(waiting, AbortError);

    const closed = new AbortController();
    const closedError = () => new ClosedError("the owner closed");
    const closing = waitWithin({ timeout: 60_000, closed: closed.signal, timedOut, closedError }, never);
    closed.abort();
    await assert.rejects(closing, /the owner closed/);

    // aborted already: rejected without waiting
    let called = false;
    await assert.rejects(
      waitWithin({ signal: user.signal, timedOut }, async () => {
        called = true;
      }),
      AbortError,
    );
    assert.equal(called, false);

    await assert.rejects(
      waitWithin({ timeout: 60_000, timedOut }, async () => {
        throw new RangeError("its own");
      }),
      RangeError,
    );
  });
});

describe("receiveEach", () => {
  test("hands on every message, survives a throwing handler, ends when receive rejects", {
    timeout: 5000,
  }, async () => {
    const inbox = [1, 2, 3];
    const socket = {
      receive: async () => {
        const next = inbox.shift();
        if (next === undefined) throw new ClosedError("closed");
        return next;
      },
    };
    const handled: number[] = [];
    const refused: unknown[] = [];
    await receiveEach(
      socket,
      (n) => {
        if (n === 2) throw new Error("hostile");
        handled.push(n);
      },
      (error) => {
        refused.push(error);
        throw new Error("a counter that throws");
      },
    );
    assert.deepEqual(handled, [1, 3]);
    assert.equal(refused.length, 1);
  });
});
