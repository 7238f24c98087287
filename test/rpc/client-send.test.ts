/**
 * No request is dropped without its caller learning of it: a call whose request cannot be sent
 * (the send queue is full, the client closes) rejects with a typed error, in both framings.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { packWire, unpackWire } from "../../src/core/codec.js";
import { ClosedError, QueueFullError } from "../../src/core/errors.js";
import { Router } from "../../src/index.js";
import { RpcClient } from "../../src/rpc/index.js";

const T = { timeout: 20_000 };
// Nobody listens there: with `immediate` the DEALER takes no message, so the send queue fills up.
const NOBODY = "tcp://127.0.0.1:1";

describe("requests that cannot be sent", () => {
  for (const framing of ["zerorpc", "zerokit"] as const) {
    test(`${framing} framing: a full send queue fails the calls it refuses with QueueFullError`, T, async () => {
      await using client = new RpcClient({ framing, heartbeat: false, socket: { immediate: true, sendQueueLimit: 2 } });
      client.connect(NOBODY);
      const calls = [];
      for (let i = 0; i < 20; i++) {
        calls.push(client.call("echo", [i]));
        // One call per turn of the event loop: zerokit framing would otherwise batch them all
        // into one message, which the queue holds.
        await new Promise((resolve) => setImmediate(resolve));
      }
      const refused: unknown[] = [];
      for (const call of calls.slice(5))
        refused.push(
          await call.then(
            () => "answered",
            (e: unknown) => e,
          ),
        );
      for (const error of refused) assert.ok(error instanceof QueueFullError, String(error));
      client.close();
      for (const call of calls.slice(0, 5))
        await assert.rejects(call, (e: unknown) => e instanceof ClosedError || e instanceof QueueFullError);
    });
  }

  test("a stream whose credit grant cannot be sent fails instead of waiting forever", T, async () => {
    await using router = new Router({ receiveHighWaterMark: 1 });
    const address = await router.bind(`inproc://zk-client-send-${process.pid}`);
    await using client = new RpcClient({ heartbeat: false, socket: { sendHighWaterMark: 1, sendQueueLimit: 2 } });
    client.connect(address);
    const stream = client.call("range", [100]);
    const [identity, , blob] = await router.receive({ timeout: 5000 });
    const [header] = unpackWire(blob as Buffer) as [{ message_id: Buffer }];
    // The router reads nothing more: calls fill ZeroMQ's pipe, then the client's send queue.
    let full = false;
    for (let i = 0; i < 1000 && !full; i++) {
      client.call("filler").then(undefined, (e: unknown) => {
        if (e instanceof QueueFullError) full = true;
      });
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.ok(full, "the send queue filled up");
    const item = packWire([{ message_id: Buffer.alloc(32, 0x61), v: 3, response_to: header.message_id }, "STREAM", 0]);
    await router.send([identity as Buffer, Buffer.alloc(0), item]);
    await assert.rejects(stream, QueueFullError);
  });

  test("a call made after close fails with ClosedError", async () => {
    const client = new RpcClient({ heartbeat: false });
    client.connect(NOBODY);
    client.close();
    await assert.rejects(client.call("echo", [1]), ClosedError);
  });
});
