/**
 * The one follower of connects by name (src/zio/follow.ts) that ports and service links share:
 * reference-counted addresses (one connect for several holders, the disconnect after the last),
 * one change per holder, and peers resolved through their published headers, over real
 * discovery peers on `lo`.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Follower } from "../../src/zio/follow.js";
import { Peer } from "../../src/zre/index.js";
import { nextChange, randomPort } from "./util.js";

/** A connector that records what it was asked. */
function recorder(): { calls: string[]; connect(a: string): void; disconnect(a: string): void } {
  const calls: string[] = [];
  return {
    calls,
    connect: (address) => {
      if (address === "tcp://127.0.0.1:1") throw new Error("refused");
      calls.push(`connect ${address}`);
    },
    disconnect: (address) => calls.push(`disconnect ${address}`),
  };
}

const A = "tcp://127.0.0.1:5001";
const B = "tcp://127.0.0.1:5002";

describe("zio follower", () => {
  test("direct holds: connected once, disconnected after the last release, a change per holder", {
    timeout: 5000,
  }, async () => {
    const connector = recorder();
    const follower = new Follower(connector, "closed");
    const changes = follower.changes();
    assert.equal(follower.hold(A), true);
    assert.equal(follower.hold(A), true);
    assert.equal(follower.hold("tcp://127.0.0.1:1"), false); // the connect failed: not held
    assert.equal(follower.unresolved, 1);
    assert.deepEqual(follower.connections, [A]);
    follower.release(A);
    assert.deepEqual(connector.calls, [`connect ${A}`]);
    follower.release(A);
    follower.release(A); // not held any more: nothing
    assert.deepEqual(connector.calls, [`connect ${A}`, `disconnect ${A}`]);
    assert.deepEqual(follower.connections, []);
    const seen = [];
    for (let i = 0; i < 4; i++) seen.push((await changes.next()).value?.type);
    assert.deepEqual(seen, ["connect", "connect", "disconnect", "disconnect"]);
    follower.close();
    assert.equal((await changes.next()).done, true);
  });

  test("forgetting every hold (the socket went) reports one disconnect per holder, without disconnecting", {
    timeout: 5000,
  }, async () => {
    const connector = recorder();
    const follower = new Follower(connector, "closed");
    const changes = follower.changes();
    follower.hold(A);
    follower.hold(A);
    follower.hold(B);
    follower.forget();
    assert.deepEqual(follower.connections, []);
    assert.deepEqual(connector.calls, [`connect ${A}`, `connect ${B}`]);
    const seen = [];
    for (let i = 0; i < 6; i++) {
      const change = (await changes.next()).value;
      seen.push(`${change?.type} ${change?.address}`);
    }
    assert.deepEqual(seen, [
      `connect ${A}`,
      `connect ${A}`,
      `connect ${B}`,
      `disconnect ${A}`,
      `disconnect ${A}`,
      `disconnect ${B}`,
    ]);
    follower.close();
  });

  test("an address two peers publish stays connected until the last of them exits", { timeout: 20_000 }, async () => {
    const port = randomPort();
    const discovery = { mode: "beacon", interface: "lo", port } as const;
    const headers = { "zio.port.svc.address": A };
    await using watcher = new Peer("watcher", { discovery, interval: 100 });
    await watcher.start();
    const connector = recorder();
    const follower = new Follower(connector, "closed");
    follower.want({ node: "srv", port: "svc" });
    follower.want({ node: "srv", port: "other" });
    const changes = follower.changes();
    follower.follow(watcher);
    const one = new Peer("srv", { discovery, interval: 100, headers });
    const two = new Peer("srv", { discovery, interval: 100, headers });
    // Its svc address is no address (not followed, counted); its other one is followed.
    const badHeaders = { "zio.port.svc.address": "nonsense", "zio.port.other.address": B };
    await using bad = new Peer("srv", { discovery, interval: 100, headers: badHeaders });
    try {
      await one.start();
      await nextChange(changes, (c) => c.type === "connect" && c.uuid === one.uuid);
      await two.start();
      await nextChange(changes, (c) => c.type === "connect" && c.uuid === two.uuid);
      await bad.start();
      await nextChange(changes, (c) => c.type === "connect" && c.uuid === bad.uuid);
      assert.deepEqual(connector.calls, [`connect ${A}`, `connect ${B}`]);
      assert.equal(follower.unresolved, 3); // one and two publish no other port, bad no svc address
      follower.follow(watcher); // following already: the known peers are looked at again
      assert.equal(follower.unresolved, 3, "the same names of the same peers are not counted again");
      await one.stop();
      await nextChange(changes, (c) => c.type === "disconnect" && c.uuid === one.uuid);
      assert.deepEqual(connector.calls, [`connect ${A}`, `connect ${B}`]); // two still holds A
      assert.deepEqual(follower.connections, [A, B]);
      await two.stop();
      await nextChange(changes, (c) => c.type === "disconnect" && c.uuid === two.uuid);
      assert.deepEqual(connector.calls, [`connect ${A}`, `connect ${B}`, `disconnect ${A}`]);
      follower.releasePeers();
      assert.deepEqual(connector.calls.at(-1), `disconnect ${B}`);
      assert.deepEqual(follower.connections, []);
    } finally {
      await follower.unfollow();
      follower.close();
      await one.stop();
      await two.stop();
    }
  });
});
