/**
 * Discovery peers over beacons on `lo`, in one process: enter, join, whisper, shout, leave,
 * waitFor, several event consumers, clean stop (EXIT from the port-0 beacon / GOODBYE) and option
 * validation.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { InvalidArgumentError } from "../../src/core/errors.js";
import { chooseInterface, Peer, UnknownPeerError } from "../../src/zre/index.js";
import "../helpers.js";
import { loOptions, nextEvent, randomPort, startPeer } from "./util.js";

describe("zre peer over beacons on lo", () => {
  test("two peers enter, join, whisper, shout, leave and exit", { timeout: 30000 }, async () => {
    const port = randomPort();
    // Expiry far beyond the test's timeout: the EXIT at the end can only come from the clean stop.
    const clocks = { evasive: 100_000, expired: 200_000 };
    const alice = await startPeer("alice", {
      ...loOptions(port, clocks),
      headers: { "zio.port.rpc.address": "tcp://127.0.0.1:5555" },
    });
    const aliceEvents = alice.events();
    const aliceEvents2 = alice.events();
    const bob = await startPeer("bob", loOptions(port, clocks));
    const bobEvents = bob.events();
    try {
      assert.match(alice.uuid, /^[0-9A-F]{32}$/);
      const enter = await nextEvent(aliceEvents, (e) => e.type === "ENTER");
      assert.equal(enter.uuid, bob.uuid);
      assert.equal(enter.name, "bob");
      const seen = await bob.waitFor("alice", { timeout: 10000 });
      assert.equal(seen.uuid, alice.uuid);
      assert.equal(seen.headers.get("zio.port.rpc.address"), "tcp://127.0.0.1:5555");
      assert.equal(seen.endpoint, alice.endpoint);
      // a second consumer sees the same events
      assert.equal((await nextEvent(aliceEvents2, (e) => e.type === "ENTER")).uuid, bob.uuid);

      await bob.join("G");
      const join = await nextEvent(aliceEvents, (e) => e.type === "JOIN");
      assert.deepEqual([join.uuid, join.type === "JOIN" && join.group], [bob.uuid, "G"]);
      assert.deepEqual(alice.peers().find((p) => p.uuid === bob.uuid)?.groups, ["G"]);

      await alice.whisper(bob.uuid, [Buffer.from("hi"), Buffer.from([0, 1, 2, 255])]);
      const whisper = await nextEvent(bobEvents, (e) => e.type === "WHISPER");
      assert.equal(whisper.type === "WHISPER" && whisper.content[0]!.toString(), "hi");
      assert.deepEqual(whisper.type === "WHISPER" && [...whisper.content[1]!], [0, 1, 2, 255]);
      await alice.whisper(bob.uuid, []);
      const empty = await nextEvent(bobEvents, (e) => e.type === "WHISPER");
      assert.deepEqual(empty.type === "WHISPER" && empty.content.map((f) => f.length), [0]);

      await alice.shout("G", ["to G"]);
      const shout = await nextEvent(bobEvents, (e) => e.type === "SHOUT");
      assert.equal(shout.type === "SHOUT" && shout.group, "G");
      assert.equal(shout.type === "SHOUT" && shout.content[0]!.toString(), "to G");

      await bob.leave("G");
      const leave = await nextEvent(aliceEvents, (e) => e.type === "LEAVE");
      assert.equal(leave.type === "LEAVE" && leave.group, "G");
      await bob.join("G");
      await nextEvent(aliceEvents, (e) => e.type === "JOIN");
      assert.equal(alice.stats.statusMismatches, 0);
      assert.equal(alice.stats.sequenceGaps, 0);

      await bob.stop();
      const exit = await nextEvent(aliceEvents, (e) => e.type === "EXIT");
      assert.equal(exit.uuid, bob.uuid);
      assert.deepEqual(alice.peers(), []);
      await assert.rejects(alice.whisper(bob.uuid, ["x"]), UnknownPeerError);
    } finally {
      await bob.stop();
      await alice.stop();
    }
    // the event loops end when the peer stops
    assert.equal((await aliceEvents.next()).done, true);
  });

  test("a consumer that does not read loses its oldest events, counted; the others see everything", {
    timeout: 30000,
  }, async () => {
    const port = randomPort();
    const alice = await startPeer("alice", { ...loOptions(port), eventBuffer: 2 });
    const lazy = alice.events();
    const reader = alice.events();
    const bob = await startPeer("bob", loOptions(port));
    try {
      await nextEvent(reader, (e) => e.type === "ENTER");
      for (const group of ["G1", "G2", "G3"]) await bob.join(group);
      await nextEvent(reader, (e) => e.type === "JOIN" && e.group === "G3");
      const kept = [(await lazy.next()).value, (await lazy.next()).value];
      assert.deepEqual(
        kept.map((e) => e.type === "JOIN" && e.group),
        ["G2", "G3"],
      );
      assert.ok(alice.stats.eventsDropped >= 2);
    } finally {
      await bob.stop();
      await alice.stop();
    }
  });

  test("the interface is the option, else ZSYS_INTERFACE; lo broadcasts to 127.255.255.255", () => {
    assert.deepEqual(chooseInterface("lo", {}), {
      name: "lo",
      address: "127.0.0.1",
      netmask: "255.0.0.0",
      broadcast: "127.255.255.255",
    });
    assert.equal(chooseInterface(undefined, { ZSYS_INTERFACE: "lo" }).name, "lo");
    assert.equal(chooseInterface("lo", { ZSYS_INTERFACE: "no-such-interface" }).name, "lo");
    assert.throws(() => chooseInterface("no-such-interface", {}), { code: "ENOIFACE" });
  });

  test("over a gossip hub, a clean stop gives EXIT at once (GOODBYE: no beacon, expiry far away)", {
    timeout: 30000,
  }, async () => {
    const clocks = { interval: 100, evasive: 100_000, expired: 200_000 };
    const hub = await startPeer("hub", {
      ...clocks,
      discovery: { mode: "gossip", endpoint: "tcp://127.0.0.1:*", bind: true, interface: "lo" },
    });
    const events = hub.events();
    const client = await startPeer("client", {
      ...clocks,
      discovery: { mode: "gossip", endpoint: hub.hubEndpoint, interface: "lo" },
    });
    try {
      assert.equal((await nextEvent(events, (e) => e.type === "ENTER")).uuid, client.uuid);
      await client.stop();
      assert.equal((await nextEvent(events, (e) => e.type === "EXIT")).uuid, client.uuid);
    } finally {
      await client.stop();
      await hub.stop();
    }
  });

  test("waitFor times out with a TimeoutError and honours its signal", { timeout: 10000 }, async () => {
    await using peer = await startPeer("lonely", loOptions(randomPort()));
    await assert.rejects(peer.waitFor("nobody", { timeout: 50 }), { code: "ETIMEDOUT" });
    const controller = new AbortController();
    const waiting = peer.waitFor("nobody", { signal: controller.signal });
    controller.abort();
    await assert.rejects(waiting, { code: "ABORT_ERR" });
  });

  test("options are validated, naming the option", async () => {
    assert.throws(() => new Peer("x", { interval: -1 }), InvalidArgumentError);
    assert.throws(() => new Peer("x", { discovery: { mode: "beacon", port: 70000 } }), /options\.discovery\.port/);
    assert.throws(() => new Peer("x", { discovery: { mode: "carrier pigeon" } as never }), /options\.discovery\.mode/);
    assert.throws(() => new Peer("x", { discovery: { mode: "gossip" } as never }), /options\.discovery\.endpoint/);
    assert.throws(() => new Peer("x", { evasive: 5000, expired: 1000 }), /options\.expired/);
    assert.throws(() => new Peer("x", { headers: { k: 5 as never } }), /options\.headers/);
    assert.throws(() => new Peer("n".repeat(256)), /name/);
    const peer = new Peer("x");
    await assert.rejects(peer.join(""), InvalidArgumentError);
    await assert.rejects(peer.waitFor(undefined as never), /name/); // it would wait for nobody
    await assert.rejects(peer.shout("G", "not an array" as never), InvalidArgumentError);
  });
});
