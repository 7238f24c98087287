/**
 * The ZSocket guarantees: receive as a promise, an iterator and messages({signal}); timeouts and
 * aborts that lose nothing; many concurrent senders and receivers; a closed socket.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AbortError, ClosedError, Pair, Pub, Pull, Push, TimeoutError } from "../../src/index.js";
import { freshEndpoint, type TestTransport, texts, transports } from "../helpers.js";

const T = { timeout: 10_000 };

/** A connected PUSH→PULL pair over `transport`. */
async function pipeline(transport: TestTransport) {
  const pull = new Pull();
  const push = new Push();
  push.connect(await pull.bind(freshEndpoint(transport)));
  return {
    pull,
    push,
    async [Symbol.asyncDispose]() {
      push.close();
      pull.close();
    },
  };
}

for (const transport of transports) {
  describe(`socket queues over ${transport}`, () => {
    test("receive() as a promise, for await, and messages({signal})", T, async () => {
      await using p = await pipeline(transport);
      await p.push.send("promise");
      assert.deepEqual(texts(await p.pull.receive()), ["promise"]);

      for (let i = 0; i < 3; i++) await p.push.send(["iter", String(i)]);
      const seen: string[] = [];
      for await (const message of p.pull) {
        seen.push(texts(message).join(":"));
        if (seen.length === 3) break;
      }
      assert.deepEqual(seen, ["iter:0", "iter:1", "iter:2"]);
      assert.equal(p.pull.closed, false, "breaking out of the loop leaves the socket open");

      const controller = new AbortController();
      for (let i = 0; i < 3; i++) await p.push.send(String(i));
      const got: string[] = [];
      for await (const [frame] of p.pull.messages({ signal: controller.signal })) {
        got.push(frame!.toString());
        if (got.length === 3) controller.abort(); // the loop ends without an error
      }
      assert.deepEqual(got, ["0", "1", "2"]);
    });

    test("for await ends normally when the socket closes", T, async () => {
      await using p = await pipeline(transport);
      await p.push.send("last");
      const seen: string[] = [];
      for await (const [frame] of p.pull) {
        seen.push(frame!.toString());
        p.pull.close();
      }
      assert.deepEqual(seen, ["last"]);
    });

    test("receive timeout rejects with TimeoutError; abort with AbortError", T, async () => {
      await using p = await pipeline(transport);
      const started = Date.now();
      const timedOut = await p.pull.receive({ timeout: 30 }).catch((error: unknown) => error);
      assert.ok(timedOut instanceof TimeoutError, String(timedOut));
      assert.equal(timedOut.code, "ETIMEDOUT");
      assert.equal(timedOut.timeoutMs, 30);
      assert.ok(Date.now() - started >= 25);

      const controller = new AbortController();
      const pending = p.pull.receive({ signal: controller.signal });
      controller.abort();
      await assert.rejects(pending, (error: unknown) => error instanceof AbortError && error.code === "ABORT_ERR");
      await assert.rejects(p.pull.receive({ signal: AbortSignal.abort() }), AbortError);

      // The socket still works after both.
      await p.push.send("still alive");
      assert.deepEqual(texts(await p.pull.receive({ timeout: 5000 })), ["still alive"]);
    });

    test("a message arriving after its receiver timed out is kept for the next receive", T, async () => {
      await using p = await pipeline(transport);
      await assert.rejects(p.pull.receive({ timeout: 20 }), TimeoutError);
      const controller = new AbortController();
      const aborted = p.pull.receive({ signal: controller.signal });
      controller.abort();
      await assert.rejects(aborted, AbortError);
      await p.push.send("late");
      await p.push.send("later");
      assert.deepEqual(texts(await p.pull.receive()), ["late"]);
      assert.deepEqual(texts(await p.pull.receive({ timeout: 5000 })), ["later"]);
    });

    test("1,000 concurrent send() calls all resolve, in order, without EBUSY", T, async () => {
      await using p = await pipeline(transport);
      const sends: Promise<void>[] = [];
      for (let i = 0; i < 1000; i++) sends.push(p.push.send(["n", String(i)]));
      const results = await Promise.allSettled(sends);
      const failed = results.filter((r) => r.status === "rejected");
      assert.deepEqual(failed, []);
      for (let i = 0; i < 1000; i++) {
        const [, n] = await p.pull.receive();
        assert.equal(n?.toString(), String(i));
      }
    });

    test("many concurrent receive() callers each get a distinct message", T, async () => {
      await using p = await pipeline(transport);
      const mixed = Array.from({ length: 60 }, (_, i) =>
        i % 3 === 0 ? p.pull.receive() : i % 3 === 1 ? p.pull.receive({ timeout: 8000 }) : p.pull.receive({}),
      );
      await Promise.all(Array.from({ length: 60 }, (_, i) => p.push.send(String(i))));
      const got = (await Promise.all(mixed)).map((m) => m[0]!.toString());
      assert.deepEqual(
        got,
        Array.from({ length: 60 }, (_, i) => String(i)),
        "served first come, first served",
      );
    });

    test("a closed socket rejects send, receive, bind and connect with ClosedError", T, async () => {
      const pair = new Pair();
      const peer = new Pair();
      const address = await pair.bind(freshEndpoint(transport));
      peer.connect(address);
      const pendingPlain = pair.receive();
      const pendingTimed = pair.receive({ timeout: 8000 });
      pair.close();
      pair.close(); // twice is fine
      assert.equal(pair.closed, true);
      await assert.rejects(pendingPlain, ClosedError);
      await assert.rejects(pendingTimed, ClosedError);
      await assert.rejects(pair.send("x"), ClosedError);
      await assert.rejects(pair.receive(), ClosedError);
      await assert.rejects(pair.bind(freshEndpoint(transport)), ClosedError);
      assert.throws(() => pair.connect(address), ClosedError);
      await assert.rejects(pair.sendString("x"), ClosedError);
      await assert.rejects(pair.receiveJson(), (error: unknown) => (error as ClosedError).code === "ECLOSED");
      peer.close();
    });
  });
}

test("pending and queued sends reject with ClosedError when the socket closes", T, async () => {
  // No peer at all: the first send waits inside ZeroMQ, the rest wait in the writer queue.
  const push = new Push();
  const sends = Array.from({ length: 5 }, (_, i) => push.send(String(i)));
  push.close();
  const results = await Promise.allSettled(sends);
  for (const result of results) {
    assert.equal(result.status, "rejected");
    assert.ok(result.reason instanceof ClosedError, String(result.reason));
  }
});

test("a send with no peer yet waits for one and is delivered (eager send falls back to blocking)", T, async () => {
  const push = new Push();
  const sent = push.send("early");
  let settled = false;
  void sent.finally(() => {
    settled = true;
  });
  // The send cannot go anywhere yet: it must still be pending after a full event-loop turn.
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(settled, false);
  await using pull = new Pull();
  push.connect(await pull.bind(freshEndpoint("tcp")));
  await sent;
  assert.deepEqual(texts(await pull.receive({ timeout: 5000 })), ["early"]);
  // Later sends take the eager path again and keep their order.
  await Promise.all([push.send("a"), push.send("b")]);
  assert.deepEqual(texts(await pull.receive({ timeout: 5000 })), ["a"]);
  assert.deepEqual(texts(await pull.receive({ timeout: 5000 })), ["b"]);
  push.close();
});

test("a tight send loop still lets timers run (eager sends yield to the event loop)", T, async () => {
  // A PUB without subscribers takes every message at once, so nothing else would ever yield.
  await using pub = new Pub();
  await pub.bind(freshEndpoint("inproc"));
  let timerRan = false;
  setTimeout(() => {
    timerRan = true;
  }, 0);
  for (let i = 0; i < 5000 && !timerRan; i++) await pub.send("x");
  assert.equal(timerRan, true, "5,000 sends in a row never gave a 0 ms timer its turn");
});

test("post() sends in order with send() and reports failures to its callback", T, async () => {
  await using p = await pipeline("tcp");
  const sent = p.push.send("a");
  p.push.post("b");
  p.push.post("c");
  await sent;
  for (const expected of ["a", "b", "c"]) assert.deepEqual(texts(await p.pull.receive({ timeout: 5000 })), [expected]);
  p.push.close();
  const failure = await new Promise<Error>((resolve) => p.push.post("late", resolve));
  assert.ok(failure instanceof ClosedError, String(failure));
});

describe("bind and unbind on a socket in use", () => {
  test("bind() works while a receive waits on the socket, and the new endpoint delivers to it", T, async () => {
    await using pull = new Pull();
    const first = await pull.bind(freshEndpoint("ipc"));
    const waiting = pull.receive();
    // zerokit binds in this thread (bindSync): zeromq.js's async bind ran in a worker thread
    // while this receive polled the socket, and the two threads on one libzmq socket aborted it.
    const second = await pull.bind("tcp://127.0.0.1:*");
    const third = await pull.bind(freshEndpoint("inproc"));
    await using push = new Push();
    push.connect(second);
    await push.send("via tcp");
    assert.deepEqual(texts(await waiting), ["via tcp"]);
    await using other = new Push();
    other.connect(third);
    other.connect(first);
    await other.send("via the others");
    assert.deepEqual(texts(await pull.receive()), ["via the others"]);
  });

  test("unbind() refuses with EBUSY while a receive waits, and works on an idle socket", T, async () => {
    await using pull = new Pull();
    const address = await pull.bind("tcp://127.0.0.1:*");
    const spare = await pull.bind("tcp://127.0.0.1:*");
    const controller = new AbortController();
    const waiting = pull.receive({ signal: controller.signal });
    await assert.rejects(
      pull.unbind(address),
      (error: unknown) => error instanceof Error && (error as { code?: string }).code === "EBUSY",
    );
    await using push = new Push();
    push.connect(spare);
    await push.send("still serving");
    assert.deepEqual(texts(await waiting), ["still serving"]);
    controller.abort();
    await pull.unbind(address);
    // A receive made during an unbind waits for it, then gets the next message.
    const unbinding = pull.unbind(spare).catch((error: unknown) => error);
    const after = pull.receive();
    assert.equal(await unbinding, undefined);
    await using late = new Push();
    const third = await pull.bind(freshEndpoint("ipc"));
    late.connect(third);
    await late.send("after the unbind");
    assert.deepEqual(texts(await after), ["after the unbind"]);
    await assert.rejects(pull.unbind("tcp://127.0.0.1:1"), /unbind failed/);
  });
});
