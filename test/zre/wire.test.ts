/**
 * A Peer against a hand-built peer speaking raw bytes: the recorded Zyre/pyre bytes replayed into
 * it, what it sends compared with what real Zyre sent, and every kind of hostile input ignored
 * and counted (never a crash, never an event).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Dealer, Router } from "../../src/core/sockets.js";
import { encodeBeacon } from "../../src/zre/beacon.js";
import { decodeZre, encodeZre } from "../../src/zre/codec.js";
import { RemotePeer } from "../../src/zre/remote.js";
import { vectorsDir } from "../helpers.js";
import { loOptions, nextEvent, randomPort, startPeer } from "./util.js";

const captures = JSON.parse(readFileSync(join(vectorsDir, "zre", "zyre_pyre_captures.json"), "utf8"));
const fromReal = captures.pyre.beacon_mode.mailbox_messages_from_real as {
  command: string;
  frame0_hex: string;
  content_hex: string[];
}[];
const hex = (h: string) => Buffer.from(h, "hex");

/** Waits until `condition` holds (for counters bumped by input on another connection, which nothing acknowledges). */
async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

test("recorded bytes both ways, and hostile input of each kind ignored and counted", { timeout: 60000 }, async () => {
  const port = randomPort();
  const real = await startPeer("real", {
    ...loOptions(port, { evasive: 100_000, expired: 200_000 }),
    headers: { "zio.port.in.socket": "CLIENT" },
  });
  await real.join("G");
  const events = real.events();
  const uuid = randomBytes(16);
  const fakeUuid = uuid.toString("hex").toUpperCase();
  const box = new Router({ linger: 0 });
  const out = new Dealer({ linger: 0, routingId: Buffer.concat([Buffer.from([1]), uuid]) as unknown as string });
  const udp = createSocket({ type: "udp4" });
  try {
    const boxEndpoint = await box.bind("tcp://127.0.0.1:*");
    out.connect(real.endpoint);
    const hello = (endpoint: string) =>
      encodeZre({
        command: "HELLO",
        sequence: 1,
        endpoint,
        groups: ["G"],
        status: 1,
        name: "real",
        headers: new Map([["zio.port.in.socket", "CLIENT"]]),
      });

    // Into the peer: a HELLO as pyre sent it (its endpoint swapped for ours), then the recorded bytes verbatim.
    await out.send(hello(boxEndpoint));
    const enter = await nextEvent(events, (e) => e.type === "ENTER");
    assert.deepEqual([enter.uuid, enter.name], [fakeUuid, "real"]);
    assert.equal(enter.type === "ENTER" && enter.headers.get("zio.port.in.socket"), "CLIENT");
    assert.equal((await nextEvent(events, (e) => e.type === "JOIN")).uuid, fakeUuid);

    // Out of the peer: its HELLO is real Zyre's, byte for byte once the endpoint is substituted.
    const [identity, frame0] = await box.receive({ timeout: 10000 });
    assert.equal(identity!.toString("hex"), `01${real.uuid.toLowerCase()}`);
    assert.equal(frame0!.toString("hex"), hello(real.endpoint)[0]!.toString("hex"));
    const recordedHello = decodeZre([hex(fromReal[0]!.frame0_hex)]);
    assert.equal(
      frame0!.toString("hex"),
      encodeZre({ ...recordedHello, endpoint: real.endpoint } as typeof recordedHello)[0]!.toString("hex"),
    );

    for (const m of fromReal.slice(1)) await out.send([hex(m.frame0_hex), ...m.content_hex.map(hex)]);
    const w1 = await nextEvent(events, (e) => e.type === "WHISPER");
    assert.deepEqual(w1.type === "WHISPER" && w1.content.map((f) => f.toString("hex")), fromReal[1]!.content_hex);
    const s1 = await nextEvent(events, (e) => e.type === "SHOUT");
    assert.deepEqual(s1.type === "SHOUT" && [s1.group, s1.content[0]!.toString("hex")], [
      "G",
      fromReal[2]!.content_hex[0],
    ]);
    const w2 = await nextEvent(events, (e) => e.type === "WHISPER");
    assert.equal(w2.type === "WHISPER" && w2.content.length, 3);
    let sequence = 4;

    // The peer's WHISPER is real Zyre's too (its sequence 2 to us).
    await real.whisper(fakeUuid, [hex(fromReal[1]!.content_hex[0]!), hex(fromReal[1]!.content_hex[1]!)]);
    const whisper = await box.receive({ timeout: 10000 });
    assert.deepEqual(
      whisper.slice(1).map((f) => f.toString("hex")),
      [fromReal[1]!.frame0_hex, ...fromReal[1]!.content_hex],
    );
    let theirSequence = 2;

    /** Sends a PING and waits for the PING-OK: everything sent before it on this connection was handled. */
    const sync = async () => {
      await out.send(encodeZre({ command: "PING", sequence: ++sequence }));
      const [, reply] = await box.receive({ timeout: 10000 });
      assert.deepEqual(decodeZre([reply!]), { command: "PING-OK", sequence: ++theirSequence });
    };
    await sync();

    // Malformed frames: bad signature, bad version, truncated, huge lengths, no frame 0 fields.
    const before = real.stats;
    const hostile = [
      hex("aaa206020001"),
      hex("aaa106030001"),
      hello(boxEndpoint)[0]!.subarray(0, 20),
      hex("aaa101020001" + "00" + "ffffffff"),
      hex("aaa101020001" + "00" + "00000001" + "ffffffff"),
      hex("aa"),
    ];
    for (const frame of hostile) await out.send(frame);
    await sync();
    assert.equal(real.stats.messagesMalformed - before.messagesMalformed, hostile.length);

    // Unknown ids (ELECT, LEADER) are numbered but ignored; a JOIN with an inexact status is counted.
    await out.send(hex(`aaa108020${(++sequence).toString(16).padStart(3, "0")}0147`));
    await out.send(encodeZre({ command: "JOIN", sequence: ++sequence, group: "H", status: 7 }));
    assert.equal((await nextEvent(events, (e) => e.type === "JOIN")).type, "JOIN");
    await sync();
    assert.equal(real.stats.messagesUnknown - before.messagesUnknown, 1);
    assert.equal(real.stats.statusMismatches - before.statusMismatches, 1);
    await out.send(encodeZre({ command: "LEAVE", sequence: ++sequence, group: "H", status: 8 }));
    assert.equal((await nextEvent(events, (e) => e.type === "LEAVE")).type, "LEAVE");
    assert.equal(real.stats.statusMismatches - before.statusMismatches, 1);

    // A wrong identity, and messages from a peer that never said HELLO, are counted, never heard.
    const stranger = new Dealer({
      linger: 0,
      routingId: Buffer.concat([Buffer.from([1]), randomBytes(16)]) as unknown as string,
    });
    const noId = new Dealer({ linger: 0 });
    stranger.connect(real.endpoint);
    noId.connect(real.endpoint);
    await stranger.send(encodeZre({ command: "WHISPER", sequence: 2, content: [] }));
    await noId.send(encodeZre({ command: "PING", sequence: 1 }));
    await until(() => real.stats.messagesBeforeHello - before.messagesBeforeHello === 1, "the stranger's whisper");
    await until(
      () => real.stats.messagesMalformed - before.messagesMalformed === hostile.length + 1,
      "the bad identity",
    );
    stranger.close();
    noId.close();

    // Malformed beacons of each kind, then a good one from a fake peer: the peer connects and says HELLO.
    const box2 = new Router({ linger: 0 });
    const box2Endpoint = await box2.bind("tcp://127.0.0.1:*");
    const good = encodeBeacon(randomBytes(16), Number(box2Endpoint.split(":").pop()));
    const bad = [
      good.subarray(0, 21),
      Buffer.concat([good, Buffer.alloc(1)]),
      Buffer.from(good).fill(0x51, 1, 2),
      Buffer.from(good).fill(2, 3, 4),
    ];
    await new Promise<void>((resolve) => udp.bind(0, "127.0.0.1", () => resolve()));
    udp.setBroadcast(true);
    const beacon = (datagram: Buffer) =>
      new Promise<void>((resolve, reject) =>
        udp.send(datagram, port, "127.255.255.255", (e) => (e ? reject(e) : resolve())),
      );
    for (const datagram of bad) await beacon(datagram);
    await beacon(good);
    const [fromBeacon, helloToBeacon] = await box2.receive({ timeout: 10000 });
    box2.close();
    assert.equal(fromBeacon!.toString("hex"), `01${real.uuid.toLowerCase()}`);
    assert.equal(decodeZre([helloToBeacon!]).command, "HELLO");
    assert.equal(real.stats.beaconsMalformed - before.beaconsMalformed, bad.length);

    // A new HELLO from a known uuid replaces the peer: EXIT, then ENTER.
    await out.send(hello(boxEndpoint));
    assert.equal((await nextEvent(events, (e) => e.type === "EXIT" || e.type === "ENTER")).type, "EXIT");
    assert.equal((await nextEvent(events, (e) => e.type === "ENTER")).uuid, fakeUuid);
    sequence = 1;

    // A sequence gap drops the peer.
    await out.send(encodeZre({ command: "PING", sequence: sequence + 2 }));
    assert.equal((await nextEvent(events, (e) => e.type === "EXIT")).uuid, fakeUuid);
    assert.equal(real.stats.sequenceGaps - before.sequenceGaps, 1);

    // GOODBYE ends it at once.
    await out.send(hello(boxEndpoint));
    await nextEvent(events, (e) => e.type === "ENTER");
    await out.send(encodeZre({ command: "GOODBYE", sequence: 2 }));
    assert.equal((await nextEvent(events, (e) => e.type === "EXIT")).uuid, fakeUuid);

    // So does a port-0 beacon.
    await out.send(hello(boxEndpoint));
    await nextEvent(events, (e) => e.type === "ENTER");
    await beacon(encodeBeacon(uuid, 0));
    assert.equal((await nextEvent(events, (e) => e.type === "EXIT")).uuid, fakeUuid);
  } finally {
    udp.close();
    out.close();
    box.close();
    await real.stop();
  }
});

test("remote peer state: sequences, group status and liveness on a fake clock", () => {
  const peer = new RemotePeer("A", "tcp://127.0.0.1:1", { evasive: 5000, expired: 30000 }, 0);
  assert.equal(peer.accept(1, true), true);
  assert.equal(peer.accept(2, false), true);
  assert.equal(peer.accept(4, false), false);
  assert.equal(peer.accept(1, true), true);
  assert.deepEqual([peer.nextSequence(), peer.nextSequence()], [1, 2]);
  // sequences wrap at 65536
  const wrap = new RemotePeer("B", "tcp://127.0.0.1:2", { evasive: 5, expired: 30 }, 0);
  wrap.accept(1, true);
  for (let i = 2; i <= 65535; i++) assert.equal(wrap.accept(i, false), true);
  assert.equal(wrap.accept(0, false), true);

  peer.hello("a", new Map(), ["G"], 1);
  assert.deepEqual(peer.join("H", 2), { changed: true, exact: true });
  assert.deepEqual(peer.join("H", 3), { changed: false, exact: true });
  assert.deepEqual(peer.leave("G", 9), { changed: true, exact: false });
  assert.deepEqual(peer.leave("H", 10), { changed: true, exact: true });
  assert.deepEqual([...peer.groups], []);

  // Defaults evasive 5 s, expired 30 s: the reap interval is 1 s, so SILENT comes at 6 s, once.
  const live = { vitality: "alive", firstEvasive: false, firstSilent: false };
  assert.deepEqual(peer.check(4999), live);
  assert.deepEqual(peer.check(5000), { vitality: "evasive", firstEvasive: true, firstSilent: false });
  assert.deepEqual(peer.check(5999), { vitality: "evasive", firstEvasive: false, firstSilent: false });
  assert.deepEqual(peer.check(6000), { vitality: "evasive", firstEvasive: false, firstSilent: true });
  assert.deepEqual(peer.check(7000), { vitality: "evasive", firstEvasive: false, firstSilent: false });
  peer.refresh(7000);
  assert.deepEqual(peer.check(11999), live);
  assert.deepEqual(peer.check(12000), { vitality: "evasive", firstEvasive: true, firstSilent: false });
  assert.deepEqual(peer.check(13000), { vitality: "evasive", firstEvasive: false, firstSilent: true });
  assert.deepEqual(peer.check(37000), { vitality: "expired", firstEvasive: false, firstSilent: false });
});

test("a flood of beacons with fresh uuids from one address holds at most maxPeers, the rest counted", {
  timeout: 30000,
}, async () => {
  const port = randomPort();
  const peer = await startPeer("flooded", { ...loOptions(port), maxPeers: 5 });
  const udp = createSocket({ type: "udp4" });
  try {
    await new Promise<void>((resolve) => udp.bind(0, "127.0.0.1", () => resolve()));
    udp.setBroadcast(true);
    // Ports nobody listens on: each beacon would cost a DEALER if nothing bounded them.
    for (let i = 0; i < 50; i++) {
      await new Promise<void>((resolve) =>
        udp.send(encodeBeacon(randomBytes(16), 1 + i), port, "127.255.255.255", () => resolve()),
      );
    }
    await until(() => peer.stats.peersRefused === 45, "45 refusals");
    assert.deepEqual(peer.peers(), []);
  } finally {
    udp.close();
    await peer.stop();
  }
});

test("a peer in more than 10,000 groups is followed in 10,000, the rest and an overlong name counted", {
  timeout: 30000,
}, async () => {
  const peer = await startPeer("bounded", loOptions(randomPort()));
  const box = new Router({ linger: 0 });
  const out = new Dealer({
    linger: 0,
    routingId: Buffer.concat([Buffer.from([1]), randomBytes(16)]) as unknown as string,
  });
  try {
    const boxEndpoint = await box.bind("tcp://127.0.0.1:*");
    out.connect(peer.endpoint);
    // An overlong name first (no JOIN could carry it), then 5 beyond the bound.
    const groups = ["x".repeat(256), ...Array.from({ length: 10_005 }, (_, i) => `g${i}`)];
    const hello = {
      command: "HELLO",
      sequence: 1,
      endpoint: boxEndpoint,
      groups,
      status: 0,
      name: "greedy",
      headers: new Map(),
    } as const;
    await out.send(encodeZre(hello));
    await box.receive({ timeout: 10000 }); // its HELLO to us
    await out.send(encodeZre({ command: "JOIN", sequence: 2, group: "one more", status: 1 }));
    await out.send(encodeZre({ command: "PING", sequence: 3 }));
    const [, reply] = await box.receive({ timeout: 10000 });
    assert.equal(decodeZre([reply!]).command, "PING-OK");
    assert.equal(peer.stats.groupsRefused, 7);
    assert.equal(peer.peers()[0]!.groups.length, 10_000);
    assert.ok(!peer.peers()[0]!.groups.includes("x".repeat(256)));
  } finally {
    out.close();
    box.close();
    await peer.stop();
  }
});
