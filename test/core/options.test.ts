/**
 * Every public constructor and call of the core checks its options and says what is wrong with an
 * InvalidArgumentError (EINVAL) naming the option, the value and what is allowed.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  bindToRandomPort,
  createMsgpackCodec,
  Dealer,
  encodeArray,
  InvalidArgumentError,
  monitoredQueue,
  Pair,
  Pub,
  Pull,
  Push,
  queue,
  Router,
  Sub,
  streamer,
  unpackWire,
} from "../../src/index.js";
import { freshEndpoint } from "../helpers.js";

const T = { timeout: 10_000 };

/** A matcher for assert.throws/rejects: an EINVAL naming `option` and the value. */
function invalid(option: string, valueText?: string) {
  return (error: unknown) => {
    assert.ok(error instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${String(error)}`);
    assert.equal(error.code, "EINVAL");
    assert.equal(error.option, option);
    assert.ok(error.allowed.length > 0);
    assert.match(error.message, new RegExp(`^invalid ${option}: `));
    if (valueText !== undefined) assert.ok(error.message.includes(valueText), error.message);
    return true;
  };
}

describe("socket constructor options", () => {
  const cases: [string, unknown, string][] = [
    ["sendQueueLimit", 0, "0"],
    ["sendQueueLimit", -1, "-1"],
    ["sendQueueLimit", 1.5, "1.5"],
    ["sendQueueLimit", Number.NaN, "NaN"],
    ["sendQueueLimit", "10", '"10"'],
    ["linger", Number.NaN, "NaN"],
    ["linger", -5, "-5"],
    ["linger", 1.5, "1.5"],
    ["linger", Number.POSITIVE_INFINITY, "Infinity"],
    ["sendTimeout", Number.NaN, "NaN"],
    ["sendTimeout", -2, "-2"],
    ["receiveTimeout", 1.5, "1.5"],
    ["receiveTimeout", Number.NaN, "NaN"],
    ["sendHighWaterMark", -1, "-1"],
    ["receiveHighWaterMark", 0.5, "0.5"],
  ];
  for (const [option, value, text] of cases) {
    test(`${option}: ${String(value)} is refused before any socket exists`, T, () => {
      for (const Socket of [Pair, Dealer, Router, Push, Pull, Pub, Sub]) {
        assert.throws(() => new Socket({ [option]: value } as never), invalid(option, text));
      }
    });
  }

  test("allowed values are accepted (Infinity queue, linger -1 and 0)", T, () => {
    for (const options of [
      { sendQueueLimit: Number.POSITIVE_INFINITY },
      { sendQueueLimit: 1 },
      { linger: -1 },
      { linger: 0 },
      { sendTimeout: -1, receiveTimeout: 0 },
      { sendHighWaterMark: 0, receiveHighWaterMark: 10 },
      {},
      undefined,
    ]) {
      new Dealer(options).close();
    }
  });

  test("the options must be an object", T, () => {
    assert.throws(() => new Dealer(5 as never), invalid("options"));
    assert.throws(() => new Dealer(null as never), invalid("options"));
  });
});

describe("receive and send options", () => {
  test("timeout: NaN, -5, a string or beyond Node's timer range is refused", T, async () => {
    await using socket = new Pair();
    for (const timeout of [Number.NaN, -5, Number.NEGATIVE_INFINITY, "100", 2 ** 31]) {
      await assert.rejects(socket.receive({ timeout: timeout as number }), invalid("timeout"));
      await assert.rejects(socket.receiveString({ timeout: timeout as number }), invalid("timeout"));
      await assert.rejects(socket.receiveArray({ timeout: timeout as number }), invalid("timeout"));
    }
    await assert.rejects(socket.receive({ timeout: -5 }), invalid("timeout", "-5"));
    await assert.rejects(socket.receive({ signal: "stop" as never }), invalid("signal"));
    await assert.rejects(socket.receive(null as never), invalid("options"));
    await assert.rejects(socket.messages({ signal: 1 as never }).next(), invalid("signal"));
  });

  test("timeout: 0 and Infinity are allowed (Infinity waits without a timer)", T, async () => {
    await using a = new Pair();
    await using b = new Pair();
    b.connect(await a.bind(freshEndpoint("inproc")));
    await assert.rejects(a.receive({ timeout: 0 }), /no message within 0 ms/);
    const waiting = a.receive({ timeout: Number.POSITIVE_INFINITY });
    await b.send("late");
    assert.equal((await waiting)[0]!.toString(), "late");
  });

  test("send options: signal and routingId", T, async () => {
    await using socket = new Pair();
    await assert.rejects(socket.send("x", { signal: {} as never }), invalid("signal"));
    for (const routingId of [0, -1, 1.5, 2 ** 32, Number.NaN]) {
      await assert.rejects(socket.send("x", { routingId }), invalid("routingId"));
    }
    await assert.rejects(socket.sendString("x", { signal: 1 as never }), invalid("signal"));
    await assert.rejects(socket.sendArray(new Float64Array(2), { signal: 1 as never }), invalid("signal"));
    assert.throws(() => socket.post("x", "not a function" as never), invalid("onError"));
  });

  test("sendArray / encodeArray: shape and array", T, async () => {
    await using socket = new Pair();
    for (const shape of [[3, 3], [2, -2], [1.5], "4", [Number.NaN]]) {
      await assert.rejects(socket.sendArray(new Float64Array(4), { shape: shape as never }), invalid("shape"));
      assert.throws(() => encodeArray(new Float64Array(4), shape as never), invalid("shape"));
    }
    assert.throws(() => encodeArray(new DataView(new ArrayBuffer(8))), invalid("array"));
    assert.throws(() => encodeArray([1, 2] as never), invalid("array"));
  });
});

describe("endpoint function options", () => {
  test("bindToRandomPort: min, max, maxTries", T, async () => {
    await using pull = new Pull();
    const host = "tcp://127.0.0.1";
    const cases: [string, object][] = [
      ["min", { min: 0 }],
      ["min", { min: 1.5 }],
      ["min", { min: Number.NaN }],
      ["max", { max: 70000 }],
      ["max", { max: "60000" }],
      ["max", { min: 20000, max: 20000 }],
      ["max", { min: 30000, max: 20000 }],
      ["maxTries", { maxTries: 0 }],
      ["maxTries", { maxTries: Number.NaN }],
      ["maxTries", { maxTries: 2.5 }],
      ["options", null as unknown as object],
    ];
    for (const [option, options] of cases) {
      await assert.rejects(bindToRandomPort(pull, host, options), invalid(option));
    }
    assert.equal(pull.lastEndpoint, null, "nothing was bound");
  });
});

describe("device options", () => {
  test("signal, onError and the monitored queue's prefixes", T, async () => {
    await using router = new Router();
    await using dealer = new Dealer();
    await using pull = new Pull();
    await using push = new Push();
    await using pub = new Pub();
    assert.throws(() => queue(router, dealer, { signal: true as never }), invalid("signal"));
    assert.throws(() => queue(router, dealer, { onError: "log" as never }), invalid("onError"));
    assert.throws(() => streamer(pull, push, 3 as never), invalid("options"));
    assert.throws(() => monitoredQueue(router, dealer, pub, { inPrefix: 1 as never }), invalid("inPrefix"));
    assert.throws(() => monitoredQueue(router, dealer, pub, { outPrefix: {} as never }), invalid("outPrefix"));
  });
});

describe("codec options", () => {
  test("int64AsBigInt must be a boolean", T, () => {
    assert.throws(() => createMsgpackCodec({ int64AsBigInt: "yes" as never }), invalid("int64AsBigInt", '"yes"'));
    assert.throws(() => unpackWire(Buffer.from([1]), { int64AsBigInt: 1 as never }), invalid("int64AsBigInt"));
  });
});
