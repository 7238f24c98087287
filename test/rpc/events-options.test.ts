/**
 * Every option of Pusher, Publisher, Puller and Subscriber, and every argument of `emit`,
 * `connect` and `bind`, is checked where it is given: a value that is not allowed throws an
 * InvalidArgumentError (EINVAL) naming the option, the value and what is allowed.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { InvalidArgumentError } from "../../src/core/errors.js";
import { Publisher, Puller, Pusher, type ReceiverOptions, Subscriber } from "../../src/rpc/index.js";

function assertInvalid(run: () => unknown, option: string, value: unknown): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof InvalidArgumentError, `an InvalidArgumentError, got ${String(error)}`);
    assert.equal(error.code, "EINVAL");
    assert.equal(error.option, option);
    if (Number.isNaN(value)) assert.ok(Number.isNaN(error.value));
    else assert.equal(error.value, value);
    assert.ok(error.message.includes(option) && error.allowed.length > 0, error.message);
    return true;
  });
}

const receivers = [
  ["Puller", (target: unknown, options?: unknown) => new Puller(target as object, options as ReceiverOptions)],
  ["Subscriber", (target: unknown, options?: unknown) => new Subscriber(target as object, options as ReceiverOptions)],
] as const;

const invalidReceiverOptions: [string, unknown][] = [
  ["onError", "log"],
  ["onProtocolError", 1],
  ["asyncContext", "always"],
  ["maxMessageSize", 0],
  ["maxMessageSize", Number.NaN],
  ["maxPending", 0],
  ["maxPending", 2.5],
  ["socket", "socket"],
];

describe("event receiver options", () => {
  for (const [kind, make] of receivers) {
    for (const [option, value] of invalidReceiverOptions) {
      test(`${kind} rejects ${option}: ${String(value)}`, () => {
        assertInvalid(() => make({}, { [option]: value }), option, value);
      });
    }
    test(`${kind} rejects a target that is not an object, and options that are not an object`, () => {
      assertInvalid(() => make(null), "target", null);
      assertInvalid(() => make("handlers"), "target", "handlers");
      assertInvalid(() => make({}, 3), "options", 3);
    });
    test(`${kind} checks the endpoint of connect and bind`, async () => {
      await using receiver = make({}, { maxPending: 1, asyncContext: false });
      assertInvalid(() => receiver.connect(5 as unknown as string), "endpoint", 5);
      await assert.rejects(receiver.bind(""), InvalidArgumentError);
    });
  }
});

describe("event sender options", () => {
  for (const [kind, make] of [
    ["Pusher", (options?: unknown) => new Pusher(options as never)],
    ["Publisher", (options?: unknown) => new Publisher(options as never)],
  ] as const) {
    test(`${kind} rejects options that are not an object`, () => {
      assertInvalid(() => make(7), "options", 7);
    });
    test(`${kind}.emit checks its name, args and headers; connect/bind their endpoint`, async () => {
      await using sender = make();
      assertInvalid(() => sender.emit(""), "name", "");
      assertInvalid(() => sender.emit(3 as unknown as string), "name", 3);
      assertInvalid(() => sender.emit("x", "args" as unknown as unknown[]), "args", "args");
      const notHeaders = [] as unknown as Record<string, unknown>;
      assertInvalid(() => sender.emit("x", [], notHeaders), "headers", notHeaders);
      assertInvalid(() => sender.connect(undefined as unknown as string), "endpoint", undefined);
      assert.throws(() => sender.bind(""), InvalidArgumentError);
    });
  }
});
