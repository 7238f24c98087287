/**
 * Every option of the state classes is checked where it is given: a value that is not allowed
 * throws an InvalidArgumentError (EINVAL) naming the option, before anything starts.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  Context,
  InvalidArgumentError,
  ping,
  State,
  StateServer,
  type StateServerOptions,
  startServer,
} from "../../src/state/index.js";
import { freshEndpoint } from "../helpers.js";

const T = { timeout: 30_000 };

function invalid(option: string) {
  return (e: unknown) =>
    e instanceof InvalidArgumentError && e.code === "EINVAL" && e.option === option && e.message.includes("expected");
}

const badServerOptions: [string, unknown][] = [
  ["dataDir", ""],
  ["dataDir", 5],
  ["fsync", "sometimes"],
  ["historyLimit", 0],
  ["historyLimit", 1.5],
  ["historyLimit", Number.NaN],
  ["historyBytes", 0],
  ["historyBytes", "1mb"],
  ["snapshotEvery", -1],
  ["mutations", 7],
  ["mutations", ""],
  ["mutationTimeout", 0],
  ["mutationTimeout", Number.NaN],
  ["heartbeat", 0],
  ["heartbeat", -5],
  ["heartbeat", true],
  ["maxWatchersPerPeer", 0],
  ["maxWatchersPerPeer", Number.POSITIVE_INFINITY],
  ["transport", "zmtp"],
  ["transport", 1],
];

describe("state options", () => {
  test("StateServer.start and startServer check every server option", T, async () => {
    for (const [option, value] of badServerOptions) {
      const options = { [option]: value } as StateServerOptions;
      await assert.rejects(StateServer.start(freshEndpoint("ipc"), options), invalid(option), option);
      await assert.rejects(startServer(freshEndpoint("ipc"), options), invalid(option), option);
    }
    await assert.rejects(StateServer.start(freshEndpoint("ipc"), 5 as never), invalid("options"));
    await assert.rejects(StateServer.start(5 as never), invalid("address"));
    await assert.rejects(startServer(freshEndpoint("ipc"), { inProcess: "yes" as never }), invalid("inProcess"));
    await assert.rejects(startServer(freshEndpoint("ipc"), { startTimeout: -1 }), invalid("startTimeout"));
    await assert.rejects(startServer("", {}), invalid("address"));
  });

  test("State, withNamespace, ping, transaction, watch and the conditions check theirs", T, async () => {
    for (const [option, value] of [
      ["namespace", 5],
      ["timeout", Number.NaN],
      ["timeout", -5],
      ["timeout", 0],
      ["heartbeat", 0],
      ["heartbeat", "5s"],
    ] as const) {
      assert.throws(() => new State("ipc://nowhere", { [option]: value }), invalid(option), `${option}=${value}`);
    }
    assert.throws(() => new State("", {}), invalid("address"));
    assert.throws(() => new State("ipc://nowhere", null as never), invalid("options"));
    await using server = await StateServer.start(freshEndpoint("ipc"));
    await using state = new State(server.address);
    assert.throws(() => state.withNamespace(5 as never), invalid("namespace"));
    await assert.rejects(ping(server.address, { timeout: Number.NaN }), invalid("timeout"));
    await assert.rejects(
      state.transaction(() => 1, { retries: -1 }),
      invalid("retries"),
    );
    await assert.rejects(state.transaction("body" as never), invalid("body"));
    const first = (options: object, keys?: unknown) =>
      state
        .watch(keys as never, options as never)
        [Symbol.asyncIterator]()
        .next();
    await assert.rejects(first({ since: -1 }), invalid("since"));
    await assert.rejects(first({ since: 1.5 }), invalid("since"));
    await assert.rejects(first({ since: new Date(Number.NaN) }), invalid("since"));
    await assert.rejects(first({ signal: "stop" }), invalid("signal"));
    await assert.rejects(first({ excludeOwn: 1 }), invalid("excludeOwn"));
    await assert.rejects(first({}, "k"), invalid("keys"));
    await assert.rejects(state.whenEqual("k", 1, { timeout: -1 }), invalid("timeout"));
    await assert.rejects(state.whenEqual("k", 1, { timeout: Number.NaN }), invalid("timeout"));
    await assert.rejects(state.whenTruthy("k", { signal: {} as never }), invalid("signal"));
    await assert.rejects(state.whenChangeWith(["k"], { excludeOwn: "yes" as never }), invalid("excludeOwn"));
    await assert.rejects(
      state.when(() => true, { keys: [1] as never }),
      invalid("keys"),
    );
    await assert.rejects(state.when("pred" as never), invalid("predicate"));
    await assert.rejects(state.update([1, 2] as never), invalid("partial"));
    await assert.rejects(state.replace(new Map([[1, 2]]) as never), invalid("whole key"));
    // A zero timeout is allowed: the condition is checked once.
    await state.set("k", 1);
    assert.equal(await state.whenEqual("k", 1, { timeout: 0 }), 1);
  });

  test("Context.start, spawn and map check theirs", T, async () => {
    await assert.rejects(Context.start(undefined, { server: 5 as never }), invalid("server"));
    await assert.rejects(Context.start(undefined, { server: { historyLimit: 0 } }), invalid("historyLimit"));
    await assert.rejects(Context.start(undefined, { timeout: -1 }), invalid("timeout"));
    await assert.rejects(Context.start("", {}), invalid("address"));
    await using server = await StateServer.start(freshEndpoint("ipc"));
    await using ctx = await Context.start(server.address);
    const module = new URL("./work.js", import.meta.url);
    for (const [option, value] of [
      ["exportName", ""],
      ["args", "x"],
      ["count", 0],
      ["count", 2.5],
      ["namespace", 3],
      ["retry", 1],
    ] as const) {
      assert.throws(() => ctx.spawn(module, { [option]: value } as never), invalid(option), option);
    }
    assert.throws(() => ctx.spawn(module, { retry: { maxRetries: -1 } }), invalid("retry.maxRetries"));
    assert.throws(() => ctx.spawn(module, { retry: { delayMs: Number.NaN } }), invalid("retry.delayMs"));
    assert.throws(() => ctx.spawn(module, { retry: { on: "all" as never } }), invalid("retry.on"));
    assert.throws(() => ctx.spawn(5 as never), invalid("module"));
    assert.throws(() => ctx.map(module, "square", [1], { workers: 0 }), invalid("workers"));
    assert.throws(() => ctx.map(module, "square", [1], { chunkSize: 0.5 }), invalid("chunkSize"));
    assert.throws(() => ctx.map(module, "square", [1], { signal: 1 as never }), invalid("signal"));
    assert.throws(() => ctx.map(module, "", [1]), invalid("exportName"));
    assert.throws(() => ctx.map(module, "square", 5 as never), invalid("items"));
  });
});
