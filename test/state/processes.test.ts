import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { RemoteError } from "../../src/index.js";
import { Context, State, startServer, WorkerExitError } from "../../src/state/index.js";
import { freshEndpoint, networkTransports } from "../helpers.js";

const T = { timeout: 60_000 };
const work = new URL("./work.js", import.meta.url);

for (const transport of networkTransports) {
  describe(`state across processes over ${transport}`, () => {
    test("4 processes × 1,000 transactional increments = exactly 4,000", T, async () => {
      await using server = await startServer(transport === "tcp" ? "tcp://127.0.0.1:*" : freshEndpoint("ipc"));
      await using ctx = await Context.start(server.address);
      const workers = ctx.spawn(work, { exportName: "txIncrement", args: [1000], count: 4 });
      assert.equal(workers.length, 4);
      assert.deepEqual(await ctx.wait(), [1000, 1000, 1000, 1000]);
      assert.equal(await ctx.state.get("n"), 4000);
    });

    test("persistence: acknowledged writes survive SIGKILL; seq continues", T, async () => {
      const dataDir = mkdtempSync(join(tmpdir(), "zk-state-"));
      try {
        const address = transport === "tcp" ? "tcp://127.0.0.1:*" : freshEndpoint("ipc");
        const first = await startServer(address, { dataDir, fsync: "always", snapshotEvery: 150 });
        const state = new State(first.address);
        let lastSeq = 0;
        for (let i = 0; i < 400; i++) lastSeq = await state.set(`k${i % 50}`, { i, at: new Date(i) });
        await state.set("map", new Map([["x", 1n]]));
        lastSeq++;
        state.close();
        process.kill(first.pid as number, "SIGKILL");
        const second = await startServer(transport === "tcp" ? "tcp://127.0.0.1:*" : freshEndpoint("ipc"), {
          dataDir,
          fsync: "always",
        });
        try {
          assert.ok(second.recovery, "recovery report");
          assert.equal(second.recovery?.discardedBytes, 0);
          const again = new State(second.address);
          try {
            for (let k = 0; k < 50; k++) assert.equal(((await again.get(`k${k}`)) as { i: number }).i, 350 + k);
            assert.deepEqual(await again.get("map"), new Map([["x", 1n]]));
            assert.equal(await again.set("after", 1), lastSeq + 1, "sequence numbers continue");
          } finally {
            again.close();
          }
        } finally {
          await second.stop();
        }
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  });
}

describe("persistence recovery", () => {
  test("a corrupt or truncated log tail is reported and cut; the valid prefix is kept", T, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "zk-state-"));
    try {
      const first = await startServer(freshEndpoint("ipc"), { dataDir, fsync: "always", inProcess: true });
      const state = new State(first.address);
      for (let i = 1; i <= 10; i++) await state.set("n", i);
      state.close();
      await first.stop();
      const log = join(dataDir, readdirSync(dataDir).find((f) => f.endsWith(".log")) as string);
      appendFileSync(log, Buffer.from([20, 0, 0, 0, 1, 2, 3, 4, 9, 9])); // a record cut short
      const second = await startServer(freshEndpoint("ipc"), { dataDir, fsync: "always", inProcess: true });
      assert.match(second.recovery?.problem ?? "", /truncated record/);
      assert.equal(second.recovery?.discardedBytes, 10);
      const again = new State(second.address);
      assert.equal(await again.get("n"), 10);
      await again.set("n", 11);
      again.close();
      await second.stop();
      appendFileSync(log, Buffer.from([4, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4])); // bad checksum
      const third = await startServer(freshEndpoint("ipc"), { dataDir, inProcess: true });
      assert.match(third.recovery?.problem ?? "", /checksum/);
      const last = new State(third.address);
      assert.equal(await last.get("n"), 11);
      last.close();
      await third.stop();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe("workers", () => {
  test("spawn: return values, remote exceptions with stack, exit codes and retries", T, async () => {
    await using ctx = await Context.start();
    const [counter] = ctx.spawn<number>(work, { args: [25], count: 1 });
    assert.equal(typeof (await counter?.result), "number");
    assert.equal(await ctx.state.get("count"), 25);

    const [failing] = ctx.spawn(work, { exportName: "fail", args: ["bad input"] });
    const error = await failing?.result.then(
      () => assert.fail("should fail"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof RemoteError);
    assert.equal(error.remoteName, "RangeError");
    assert.match(error.remoteStack, /work\.js/);

    const [flaky] = ctx.spawn(work, {
      exportName: "flaky",
      args: [3],
      retry: { maxRetries: 5, on: ["WorkerExitError"] },
    });
    assert.equal(await flaky?.result, "ok after 3");

    await ctx.state.set("attempts", 0);
    const [giveUp] = ctx.spawn(work, { exportName: "flaky", args: [10], retry: { maxRetries: 1 } });
    await assert.rejects(giveUp!.result, (e: unknown) => e instanceof WorkerExitError && e.exitCode === 3);
    await assert.rejects(ctx.wait());
  });

  test("map: results in item order, as a promise and as an ordered async iterable", T, async () => {
    await using ctx = await Context.start();
    const items = Array.from({ length: 1000 }, (_, i) => i);
    assert.deepEqual(
      await ctx.map<number>(work, "square", items, { workers: 3, chunkSize: 7 }),
      items.map((x) => x * x),
    );
    const streamed: number[] = [];
    for await (const value of ctx.map<number>(work, "square", [5, 6, 7], { workers: 2, chunkSize: 1 }))
      streamed.push(value);
    assert.deepEqual(streamed, [25, 36, 49]);
    await assert.rejects(
      ctx.map(work, "explode", items, { workers: 2 }),
      (e: unknown) => e instanceof RemoteError && e.remoteMessage === "seven",
    );
    assert.deepEqual(await ctx.map(work, "square", []), []);
  });

  test("map that finishes before every worker has booted does not crash the parent", T, async () => {
    await using ctx = await Context.start();
    // Two chunks for eight workers: the first worker up takes both and finishes while the others
    // are still booting, so the pool is killed while their boot messages are in flight.
    const items = Array.from({ length: 16 }, (_, i) => i);
    for (let round = 0; round < 4; round++) {
      assert.deepEqual(
        await ctx.map<number>(work, "square", items, { workers: 8, chunkSize: 8 }),
        items.map((x) => x * x),
      );
    }
  });

  test("a context given an address joins that server instead of starting one", T, async () => {
    await using server = await startServer();
    await using a = await Context.start(server.address);
    await using b = await Context.start(server.address);
    assert.equal(a.server, undefined);
    await a.state.set("shared", 1);
    assert.equal(await b.state.get("shared"), 1);
  });
});
