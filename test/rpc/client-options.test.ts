/**
 * Every option of RpcClient (constructor, connect/bind, call, proxy) is checked where it is
 * given, and a value that is not allowed throws an InvalidArgumentError naming the option, the
 * value and what is allowed.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { InvalidArgumentError } from "../../src/core/errors.js";
import { type ClientOptions, RpcClient, RpcServer } from "../../src/rpc/index.js";
import { freshEndpoint } from "../helpers.js";

const T = { timeout: 20_000 };

function assertInvalid(run: () => unknown, option: string, value: unknown): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof InvalidArgumentError, `an InvalidArgumentError, got ${String(error)}`);
    assert.equal(error.code, "EINVAL");
    assert.equal(error.option, option);
    if (Number.isNaN(value)) assert.ok(Number.isNaN(error.value));
    else assert.equal(error.value, value);
    assert.ok(error.allowed.length > 0);
    assert.ok(error.message.includes(option), error.message);
    return true;
  });
}

const invalidConstructorOptions: [
  keyof ClientOptions | "hooks.beforeCall" | "hooks.afterCall" | "hooks.onRemoteError",
  unknown,
][] = [
  ["timeout", 0],
  ["timeout", -5],
  ["timeout", Number.NaN],
  ["timeout", "5000"],
  ["heartbeat", 0],
  ["heartbeat", -1],
  ["heartbeat", Number.NaN],
  ["heartbeat", Number.POSITIVE_INFINITY],
  ["heartbeat", true],
  ["passiveHeartbeat", "yes"],
  ["maxMessageSize", 0],
  ["maxMessageSize", 1.5],
  ["maxMessageSize", Number.NaN],
  ["streamWindow", 1],
  ["streamWindow", 10.5],
  ["streamWindow", 1_000_000],
  ["hooks", "hooks"],
  ["hooks.beforeCall", 1],
  ["hooks.afterCall", {}],
  ["hooks.onRemoteError", "x"],
  ["framing", "zmtp"],
  ["socket", 5],
  ["onEvent", true],
  ["onProtocolError", "log"],
];

describe("RpcClient options", () => {
  for (const [option, value] of invalidConstructorOptions) {
    test(`constructor rejects ${option}: ${String(value)}`, () => {
      const options: Record<string, unknown> = {};
      if (option.startsWith("hooks.")) options.hooks = { [option.slice(6)]: value };
      else options[option] = value;
      assertInvalid(() => new RpcClient(options as ClientOptions), option, value);
    });
  }

  test("the options object itself must be an object", () => {
    assertInvalid(() => new RpcClient(42 as unknown as ClientOptions), "options", 42);
  });

  test("timeout -5 is refused, not reported later as a timeout after -5 ms", () => {
    assertInvalid(() => new RpcClient({ timeout: -5 }), "timeout", -5);
  });

  test("valid edge values are accepted: timeout Infinity, heartbeat false, the window bounds", async () => {
    for (const options of [
      { timeout: Number.POSITIVE_INFINITY },
      { heartbeat: false as const },
      { heartbeat: 1 },
      { streamWindow: 2 },
      { streamWindow: 10_000 },
      { framing: "zerokit" as const, passiveHeartbeat: true, maxMessageSize: 1 },
    ]) {
      await using client = new RpcClient(options);
      assert.ok(client);
    }
  });

  test("connect and bind check their endpoint", async () => {
    await using client = new RpcClient();
    assertInvalid(() => client.connect(42 as unknown as string), "endpoint", 42);
    assertInvalid(() => client.connect(""), "endpoint", "");
    await assert.rejects(client.bind(undefined as unknown as string), InvalidArgumentError);
  });

  test("call checks its method, args and every call option", async () => {
    await using client = new RpcClient();
    client.connect("tcp://127.0.0.1:1");
    assertInvalid(() => client.call(7 as unknown as string), "method", 7);
    assertInvalid(() => client.call(undefined as unknown as string), "method", undefined);
    assertInvalid(() => client.call("m", "x" as unknown as unknown[]), "args", "x");
    assertInvalid(() => client.call("m", [], 5 as never), "options", 5);
    assertInvalid(() => client.call("m", [], { timeout: 0 }), "options.timeout", 0);
    assertInvalid(() => client.call("m", [], { timeout: -5 }), "options.timeout", -5);
    assertInvalid(() => client.call("m", [], { timeout: Number.NaN }), "options.timeout", Number.NaN);
    const notASignal = {} as AbortSignal;
    assertInvalid(() => client.call("m", [], { signal: notASignal }), "options.signal", notASignal);
    assertInvalid(() => client.call("m", [], { headers: "h" as never }), "options.headers", "h");
    assertInvalid(() => client.proxy({ timeout: Number.NaN }), "options.timeout", Number.NaN);
  });

  test("a call timeout of Infinity is valid", T, async () => {
    await using server = new RpcServer({ echo: (x: unknown) => x }, { heartbeat: 1000 });
    const address = await server.bind(freshEndpoint("tcp"));
    await using client = new RpcClient({ heartbeat: 1000 });
    client.connect(address);
    assert.equal(await client.call("echo", [1], { timeout: Number.POSITIVE_INFINITY }), 1);
  });
});
