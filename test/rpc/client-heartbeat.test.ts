/**
 * When a server is lost: after two heartbeat periods of silence (the spec's "more than 2
 * periods"), measured from the last beat heard, and before a third period has passed. This is a
 * property of the protocol, so the test holds whatever the machine's speed: the lower bound is
 * exact (the client cannot hear a beat before it was sent), and the upper bound leaves a whole
 * period for the client's check to run.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { packWire, unpackWire } from "../../src/core/codec.js";
import { Router } from "../../src/index.js";
import { LostRemoteError, RpcClient } from "../../src/rpc/index.js";
import { freshEndpoint } from "../helpers.js";

const T = { timeout: 20_000 };
const PERIOD = 100;
const EMPTY = Buffer.alloc(0);

async function silentServer() {
  const router = new Router();
  const address = await router.bind(freshEndpoint("tcp"));
  return { router, address };
}

describe("heartbeat loss", () => {
  for (const passive of [false, true]) {
    test(`${passive ? "passive" : "active"}: lost after 2 periods without a beat, before 3`, T, async () => {
      const { router, address } = await silentServer();
      await using _router = router;
      await using client = new RpcClient({ heartbeat: PERIOD, passiveHeartbeat: passive, timeout: 60_000 });
      client.connect(address);
      const call = client.call("slow");
      const [identity, , blob] = await router.receive({ timeout: 5000 });
      const [header] = unpackWire(blob as Buffer) as [{ message_id: Buffer }];
      // One beat, then silence, like a server that hangs or dies right after it.
      const beatAt = performance.now();
      await router.send([
        identity as Buffer,
        EMPTY,
        packWire([{ message_id: Buffer.alloc(32, 0x61), v: 3, response_to: header.message_id }, "_zpc_hb", [0]]),
      ]);
      const error = await call.then(
        () => assert.fail("the call must not succeed"),
        (e: unknown) => e,
      );
      const silence = performance.now() - beatAt;
      assert.ok(error instanceof LostRemoteError, String(error));
      assert.match((error as Error).message, /200 ms without heartbeat/);
      assert.ok(silence >= 2 * PERIOD, `lost after ${silence.toFixed(0)} ms of silence: not before 2 periods`);
      assert.ok(silence < 3 * PERIOD, `lost after ${silence.toFixed(0)} ms of silence: before 3 periods`);
    });
  }

  test("active: a server that never beats is lost 2 periods after the call, before 3", T, async () => {
    const { router, address } = await silentServer();
    await using _router = router;
    await using client = new RpcClient({ heartbeat: PERIOD, timeout: 60_000 });
    client.connect(address);
    const calledAt = performance.now();
    const call = client.call("slow");
    await assert.rejects(call, LostRemoteError);
    const silence = performance.now() - calledAt;
    assert.ok(silence >= 2 * PERIOD && silence < 3 * PERIOD, `lost after ${silence.toFixed(0)} ms`);
  });
});
