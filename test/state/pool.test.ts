import assert from "node:assert/strict";
import { fork } from "node:child_process";
import { describe, test } from "node:test";
import { AbortError, ClosedError, InvalidArgumentError, RemoteError, TimeoutError } from "../../src/index.js";
import { Context, startServer, WorkerExitError, WorkerPool } from "../../src/state/index.js";
import { freshEndpoint } from "../helpers.js";

const T = { timeout: 60_000 };
const work = new URL("./work.js", import.meta.url);
const workerMain = new URL("../../src/state/worker-main.js", import.meta.url);
const forkWorker = () =>
  fork(workerMain, [], { serialization: "advanced", stdio: ["ignore", "inherit", "inherit", "ipc"] });

for (const transport of ["tcp", "ipc"] as const) {
  describe(`worker pools over ${transport}`, () => {
    const address = () => (transport === "tcp" ? "tcp://127.0.0.1:*" : freshEndpoint("ipc"));

    test("a pool stays warm: later maps run on the same processes, results in item order", T, async () => {
      await using server = await startServer(address(), { inProcess: true });
      await using ctx = await Context.start(server.address);
      await using pool = ctx.pool({ workers: 2 });
      assert.equal(pool.size, 2);
      await pool.ready();
      const first = new Set(await pool.map<number>(work, "pid", [1, 2, 3, 4, 5, 6, 7, 8], { chunkSize: 1 }));
      const items = Array.from({ length: 500 }, (_, i) => i);
      assert.deepEqual(
        await pool.map<number>(work, "square", items, { chunkSize: 9 }),
        items.map((x) => x * x),
      );
      assert.deepEqual(
        await pool.map<number>(work, "slowSquare", items),
        items.map((x) => x * x),
      );
      const second = new Set(await pool.map<number>(work, "pid", [1, 2, 3, 4, 5, 6, 7, 8], { chunkSize: 1 }));
      // Cold maps would start fresh processes each time: no pid in common, up to four in all.
      assert.ok([...first].every((pid) => second.has(pid)));
      assert.ok(new Set([...first, ...second]).size <= 2);
      const streamed: number[] = [];
      for await (const value of pool.map<number>(work, "square", [5, 6, 7], { chunkSize: 1 })) streamed.push(value);
      assert.deepEqual(streamed, [25, 36, 49]);
    });

    test(
      "a map function of two parameters gets the State; one of one parameter runs without loading it",
      T,
      async () => {
        await using server = await startServer(address(), { inProcess: true });
        await using ctx = await Context.start(server.address);
        await using pool = ctx.pool({ workers: 2 });
        // Before any State is needed, neither worker has zeromq loaded (the client import is lazy).
        assert.deepEqual(await pool.map<boolean>(work, "loadedZeromq", [1, 2, 3, 4], { chunkSize: 1 }), [
          false,
          false,
          false,
          false,
        ]);
        const items = Array.from({ length: 40 }, (_, i) => i);
        assert.deepEqual(await pool.map<number>(work, "addToTotal", items, { chunkSize: 3 }), items);
        assert.equal(
          await ctx.state.get("total" as never),
          items.reduce((a, b) => a + b, 0),
        );
        // ctx.map's one-map pool takes the same path.
        assert.deepEqual(await ctx.map<boolean>(work, "loadedZeromq", [1, 2], { workers: 1 }), [false, false]);
      },
    );

    test(
      "chunks of numbers (packed as Float64Array) come back as the same numbers, -0 and NaN included; mixed chunks are untouched",
      T,
      async () => {
        await using server = await startServer(address(), { inProcess: true });
        await using ctx = await Context.start(server.address);
        await using pool = ctx.pool({ workers: 2 });
        const special = [
          -0,
          Number.NaN,
          Number.POSITIVE_INFINITY,
          Number.NEGATIVE_INFINITY,
          0.1,
          1e300,
          -(2 ** 53),
          2 ** 31,
        ];
        const numbers = Array.from({ length: 300 }, (_, i) => special[i % special.length] as number);
        const back = await pool.map<number>(work, "identity", numbers, { chunkSize: 100 });
        assert.equal(back.length, numbers.length);
        for (let i = 0; i < numbers.length; i++) assert.ok(Object.is(back[i], numbers[i]), `item ${i}`);
        assert.deepEqual(
          await pool.map<string>(work, "kind", numbers, { chunkSize: 100 }),
          numbers.map(() => "number"),
        );
        // One value that is not a number keeps its chunk a plain array, on the way there and back.
        const mixed: unknown[] = [...numbers.slice(0, 99), "x", 5n, ...numbers.slice(0, 99)];
        const mixedBack = await pool.map(work, "identity", mixed, { chunkSize: 100 });
        assert.equal(mixedBack[99], "x");
        assert.equal(mixedBack[100], 5n);
        assert.ok(Object.is(mixedBack[0], -0));
        const streamed: number[] = [];
        for await (const value of pool.map<number>(work, "square", numbers.slice(0, 200), { chunkSize: 70 }))
          streamed.push(value);
        assert.deepEqual(
          streamed,
          numbers.slice(0, 200).map((x) => x * x),
        );
      },
    );

    test("maps at once share a pool; a failing map fails alone and a dead worker is replaced", T, async () => {
      await using server = await startServer(address(), { inProcess: true });
      await using ctx = await Context.start(server.address);
      await using pool = ctx.pool({ workers: 2 });
      const items = Array.from({ length: 300 }, (_, i) => i);
      const [squares, slow, exploded] = await Promise.allSettled([
        pool.map<number>(work, "square", items, { chunkSize: 10 }),
        pool.map<number>(work, "slowSquare", items, { chunkSize: 7 }),
        pool.map(work, "explode", items, { chunkSize: 5 }),
      ]);
      assert.deepEqual(squares, { status: "fulfilled", value: items.map((x) => x * x) });
      assert.deepEqual(slow, { status: "fulfilled", value: items.map((x) => x * x) });
      assert.equal(exploded.status, "rejected");
      assert.ok(exploded.reason instanceof RemoteError && exploded.reason.remoteMessage === "seven");
      await assert.rejects(
        pool.map(work, "dieOnThree", [1, 2, 3, 4], { chunkSize: 1 }),
        (e: unknown) => e instanceof WorkerExitError && e.exitCode === 5,
      );
      assert.deepEqual(
        await pool.map<number>(work, "square", items),
        items.map((x) => x * x),
      );
      assert.ok(new Set(await pool.map(work, "pid", [1, 2, 3, 4, 5, 6], { chunkSize: 1 })).size <= 2);
    });

    test("closing a pool fails its maps with ClosedError; options are checked", T, async () => {
      await using server = await startServer(address(), { inProcess: true });
      await using ctx = await Context.start(server.address);
      const pool = ctx.pool({ workers: 1 });
      const running = pool.map(
        work,
        "slowSquare",
        Array.from({ length: 100_000 }, (_, i) => i),
        { chunkSize: 10 },
      );
      pool.close();
      await assert.rejects(running, (e: unknown) => e instanceof ClosedError);
      await assert.rejects(pool.map(work, "square", [1]), (e: unknown) => e instanceof ClosedError);
      const invalid = (option: string) => (e: unknown) => e instanceof InvalidArgumentError && e.option === option;
      assert.throws(() => ctx.pool({ workers: 0 }), invalid("workers"));
      assert.throws(() => pool.map(work, "square", [1], { workers: 2 } as never), invalid("workers"));
      assert.throws(() => pool.map(work, "square", [1], { chunkSize: 0 }), invalid("chunkSize"));
      assert.throws(() => pool.map(work, "", [1]), invalid("exportName"));
    });
  });
}

describe("worker pools start at most a few workers at once", () => {
  test("a one-map pool the first worker finishes starts no other", T, async () => {
    await using server = await startServer("tcp://127.0.0.1:*", { inProcess: true });
    const setup = { address: server.address, namespace: "default", security: undefined };
    // One worker boots at a time: the first takes the map's only chunk, so none is left for more.
    await using pool = new WorkerPool(4, forkWorker, setup, false, 1);
    assert.deepEqual(await pool.mapList<number>(work.href, "square", [1, 2, 3], { chunkSize: 3 }), [1, 4, 9]);
    assert.equal(pool.started, 1);
  });

  test("a warm pool still starts every worker, one boot after another", T, async () => {
    await using server = await startServer("tcp://127.0.0.1:*", { inProcess: true });
    const setup = { address: server.address, namespace: "default", security: undefined };
    await using pool = new WorkerPool(3, forkWorker, setup, true, 1);
    await pool.ready();
    assert.equal(pool.started, 3);
    const pids = await pool.mapList<number>(work.href, "pid", [1, 2, 3, 4, 5, 6, 7, 8, 9], { chunkSize: 1 });
    assert.ok(new Set(pids).size <= 3);
  });
});

describe("waiting for a pool to be ready", () => {
  // A worker that never reports its boot: the pool can never be ready.
  const forkMute = () =>
    fork(new URL("./mute-worker.js", import.meta.url), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const setup = { address: "tcp://127.0.0.1:1", namespace: "default", security: undefined };

  test("ready() gives up at its timeout, at its signal's abort, and when the pool closes", T, async () => {
    await using pool = new WorkerPool(2, forkMute, setup, true, 2);
    await assert.rejects(pool.ready({ timeout: 200 }), TimeoutError);
    await assert.rejects(pool.ready({ timeout: 0 }), TimeoutError);
    const controller = new AbortController();
    const aborted = pool.ready({ signal: controller.signal });
    controller.abort();
    await assert.rejects(aborted, AbortError);
    const waiting = pool.ready();
    pool.close();
    await assert.rejects(waiting, ClosedError);
    await assert.rejects(pool.ready(), ClosedError);
  });

  test("ready() checks its options", T, async () => {
    await using pool = new WorkerPool(1, forkMute, setup, true, 1);
    await assert.rejects(pool.ready({ timeout: -1 }), /timeout/);
    await assert.rejects(pool.ready({ signal: "no" as never }), /signal/);
    await assert.rejects(pool.ready(null as never), InvalidArgumentError);
  });

  test("a ready pool resolves ready() at once, and rejects it once closed", T, async () => {
    await using server = await startServer("tcp://127.0.0.1:*", { inProcess: true });
    await using pool = new WorkerPool(1, forkWorker, { ...setup, address: server.address }, true, 1);
    await pool.ready({ timeout: 30_000 });
    await pool.ready({ timeout: 0 }); // ready already: resolves at once
    pool.close();
    await assert.rejects(pool.ready(), ClosedError);
  });
});
