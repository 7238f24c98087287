/**
 * The client's call channel on its own: clocks are plain numbers (a fake clock), and its host is
 * a fake that records what the channel asks to send. No socket is involved.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AbortError, ProtocolError, TooManyItemsError } from "../../src/core/errors.js";
import { CallChannel, type ChannelHost, heartbeatVerdict } from "../../src/rpc/channel.js";

function fakeHost(window = 10, maxCollected = 1_000_000) {
  const grants: number[] = [];
  const cancels: Error[] = [];
  const failures: Error[] = [];
  const host: ChannelHost = {
    window,
    maxCollected,
    sendCredit: (_channel, credit) => void grants.push(credit),
    cancel: (channel, reason) => {
      cancels.push(reason);
      channel.settle(undefined, reason);
    },
    fail: (channel, error) => {
      failures.push(error);
      channel.settle(undefined, error);
    },
  };
  return { host, grants, cancels, failures };
}

function channel(host: ChannelHost, options: { timeoutMs?: number; now?: number; passive?: boolean } = {}) {
  return new CallChannel(host, 1, "m", undefined, {
    timeoutMs: options.timeoutMs ?? 1000,
    now: options.now ?? 0,
    passive: options.passive ?? false,
  });
}

describe("call channel clocks", () => {
  test("the deadline: nothing before it, timeout at it; a started stream has none", () => {
    const { host } = fakeHost();
    const c = channel(host, { timeoutMs: 1000, now: 500 });
    assert.equal(c.check(1499, false), undefined);
    assert.equal(c.check(1500, false), "timeout");
    const s = channel(host, { timeoutMs: 1000 });
    assert.ok(s.onItem("first"));
    assert.equal(s.check(1_000_000, false), undefined);
  });

  test("active heartbeats: a beat is due each period after the last beat; lost after more than 2 silent periods", () => {
    const { host } = fakeHost();
    const c = channel(host, { timeoutMs: 1e9 });
    assert.equal(c.check(99, 100), undefined);
    assert.equal(c.check(100, 100), "beat");
    c.beat(100);
    assert.equal(c.check(150, 100), undefined);
    c.heard(150);
    c.beat(200);
    assert.equal(c.check(250, 100), undefined);
    // 200 after the beat heard is not yet more than 2 periods: only a beat is due.
    assert.equal(c.check(350, 100), "beat");
    assert.equal(c.check(351, 100), "lost");
  });

  test("passive heartbeats: no clock until the server's first beat, then the same rules", () => {
    const { host } = fakeHost();
    const c = channel(host, { timeoutMs: 1e9, passive: true });
    assert.equal(c.check(10_000, 100), undefined);
    c.heard(10_000);
    assert.equal(c.check(10_100, 100), "beat");
    assert.equal(c.check(10_201, 100), "lost");
  });

  test("heartbeats off: only the deadline", () => {
    const { host } = fakeHost();
    const c = channel(host, { timeoutMs: 1000 });
    assert.equal(c.check(999, false), undefined);
    assert.equal(c.check(1000, false), "timeout");
  });
});

describe("call channel credit and items", () => {
  test("one implicit item before the stream; then grants refill the window as the consumer takes items", async () => {
    const { host, grants } = fakeHost(10);
    const c = channel(host);
    const items = c.iterate();
    assert.ok(c.onItem(0));
    // 1 buffered, 0 credit: less than half the window ahead, so 9 more are granted.
    assert.deepEqual(grants, [9]);
    for (let i = 1; i <= 9; i++) assert.ok(c.onItem(i));
    assert.equal(c.onItem("beyond"), false, "an item beyond the credit is refused");
    assert.deepEqual(grants, [9]);
    // Taking items makes room: when less than half the window is ahead, it is refilled.
    for (let i = 0; i < 5; i++) assert.deepEqual(await items.next(), { value: i, done: false });
    assert.deepEqual(grants, [9]);
    assert.deepEqual(await items.next(), { value: 5, done: false });
    assert.deepEqual(grants, [9, 6]);
    c.settle(undefined, undefined);
    for (let i = 6; i <= 9; i++) assert.deepEqual(await items.next(), { value: i, done: false });
    assert.deepEqual(await items.next(), { value: undefined, done: true });
  });

  test("a collecting consumer grants by credit alone and gets the items as an array", async () => {
    const { host, grants } = fakeHost(10);
    const c = channel(host);
    const all = c.collect();
    assert.ok(c.onItem("a"));
    assert.deepEqual(grants, [10]);
    assert.ok(c.onItem("b"));
    c.settle(undefined, undefined);
    assert.deepEqual(await all, ["a", "b"]);
    assert.equal(c.settle("again", undefined), false, "a channel settles once");
  });

  test("a collecting consumer holds at most maxCollected items: past it the call is cancelled", async () => {
    const { host, cancels } = fakeHost(10, 5);
    const c = channel(host);
    const all = c.collect();
    for (let i = 0; i < 5; i++) assert.ok(c.onItem(i));
    assert.deepEqual(cancels, []);
    c.onItem(5);
    assert.equal(cancels.length, 1);
    await assert.rejects(all, (error: unknown) => error instanceof TooManyItemsError && error.limit === 5);
    // An iterating consumer is bounded by the window instead, and never by this.
    const { host: roomy, cancels: none } = fakeHost(10, 1);
    const it = channel(roomy);
    const items = it.iterate();
    for (let i = 0; i < 3; i++) {
      assert.ok(it.onItem(i));
      assert.deepEqual(await items.next(), { value: i, done: false });
    }
    assert.deepEqual(none, []);
  });

  test("onReply: what each reply event leaves to the owner, one rule for every client", () => {
    const { host, grants } = fakeHost(10);
    const c = channel(host);
    assert.equal(c.onReply("ok", ["v"], 0), "ok");
    assert.match(String(c.onReply("ok", "v", 0)), /OK must carry \[result\]/);
    assert.deepEqual(c.onReply("error", ["E", "msg", "tb"], 0), { name: "E", message: "msg", traceback: "tb" });
    assert.ok(c.onReply("error", [1], 0) instanceof ProtocolError);
    assert.equal(c.onReply("heartbeat", [0], 42), undefined);
    assert.equal(c.lastHeard, 42);
    assert.equal(c.onReply("credit", [5], 0), undefined);
    assert.equal(c.onReply("call", [], 0), "unknown");
    const s = channel(host);
    void s.collect();
    assert.equal(s.onReply("stream-item", 1, 0), undefined);
    assert.deepEqual(grants, [10]);
    assert.match(String(s.onReply("ok", ["late"], 0)), /OK in the middle of a stream/);
    assert.equal(s.onReply("stream-end", [], 0), "end");
    const greedy = channel(fakeHost(10).host);
    assert.equal(greedy.onReply("stream-item", 1, 0), undefined);
    // An iterating consumer that took nothing: the 10 granted are used up, the 11th is refused.
    for (let i = 0; i < 10; i++) greedy.onReply("stream-item", i, 0);
    assert.match(String(greedy.onReply("stream-item", 99, 0)), /beyond the credit granted/);
  });

  test("a plain reply: await gives it; iterating gives an array's elements, or the value itself", async () => {
    const { host } = fakeHost();
    const a = channel(host);
    a.settle([1, 2], undefined);
    const seen: unknown[] = [];
    for await (const x of { [Symbol.asyncIterator]: () => a.iterate() }) seen.push(x);
    assert.deepEqual(seen, [1, 2]);
    const b = channel(host);
    const waiting = b.collect();
    b.settle(42, undefined);
    assert.equal(await waiting, 42);
    const c = channel(host);
    c.settle("one", undefined);
    const it = c.iterate();
    assert.deepEqual(await it.next(), { value: "one", done: false });
    assert.deepEqual(await it.next(), { value: undefined, done: true });
  });

  test("an error reaches a waiting collector and an iterator", async () => {
    const { host } = fakeHost();
    const c = channel(host);
    const waiting = c.collect();
    const boom = new Error("boom");
    c.settle(undefined, boom);
    await assert.rejects(waiting, (e) => e === boom);
    const d = channel(host);
    const it = d.iterate();
    const next = it.next();
    d.settle(undefined, boom);
    await assert.rejects(next, (e) => e === boom);
  });

  test("leaving the loop early cancels the call through the host; fail goes through the host too", async () => {
    const { host, cancels, failures } = fakeHost();
    const c = channel(host);
    const it = c.iterate();
    c.onItem("x");
    await it.next();
    await it.return?.();
    assert.equal(cancels.length, 1);
    assert.ok(cancels[0] instanceof AbortError);
    assert.ok(c.done);
    const d = channel(host);
    d.fail(new Error("peer removed"));
    assert.equal(failures.length, 1);
    assert.equal(d.error?.message, "peer removed");
  });
});

describe("the heartbeat rule both sides share", () => {
  test("beat once a period passed since the last send; lost after more than two periods unheard", {
    timeout: 1000,
  }, () => {
    // heard and sent at 0, period 100
    assert.equal(heartbeatVerdict(0, 0, 99, 100), undefined);
    assert.equal(heartbeatVerdict(0, 0, 100, 100), "beat");
    assert.equal(heartbeatVerdict(0, 100, 150, 100), undefined); // beat sent at 100
    assert.equal(heartbeatVerdict(0, 100, 200, 100), "beat");
    assert.equal(heartbeatVerdict(0, 200, 200, 100), undefined);
    assert.equal(heartbeatVerdict(0, 200, 201, 100), "lost"); // more than 2 periods since heard
    assert.equal(heartbeatVerdict(150, 200, 351, 100), "lost");
    assert.equal(heartbeatVerdict(150, 300, 350, 100), undefined); // heard at 150: exactly 2 periods is not lost
  });
});
