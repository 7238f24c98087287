/**
 * Several processes (three children and this one) find each other, join a group, whisper and
 * shout: over beacons on `lo`, and over a zgossip hub on 127.0.0.1. A SIGKILLed child is reported
 * EVASIVE then EXIT (clocks shortened); a child that stops cleanly is reported EXIT.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Peer, PeerEvent } from "../../src/zre/index.js";
import "../helpers.js";
import { ChildPeer, loOptions, nextEvent, randomPort, startPeer } from "./util.js";

const CLOCKS = { interval: 100, evasive: 400, expired: 2000 };

async function exercise(parent: Peer, children: ChildPeer[], events: AsyncIterator<PeerEvent>): Promise<void> {
  const uuids = await Promise.all(children.map((c) => c.ready()));
  const everyone = [parent.uuid, ...uuids];
  // Everyone sees everyone else enter.
  for (const child of children) {
    for (const other of everyone) {
      if (other === child.uuid) continue;
      await child.waitLine((l) => l.type === "ENTER" && l.uuid === other);
    }
  }
  const entered = new Set<string>();
  while (entered.size < children.length) entered.add((await nextEvent(events, (e) => e.type === "ENTER")).uuid);
  assert.deepEqual([...entered].sort(), [...uuids].sort());
  const enter = children[0]!.lines.find((l) => l.type === "ENTER" && l.uuid === uuids[1]) as {
    headers?: Record<string, string>;
  };
  assert.equal(enter.headers?.["x-name"], "b");

  // Every child joins G; each sees the others' JOIN.
  for (const child of children) child.send({ op: "join", group: "G" });
  for (const child of children) {
    for (const other of uuids) {
      if (other === child.uuid) continue;
      await child.waitLine((l) => l.type === "JOIN" && l.uuid === other && l.group === "G");
    }
  }
  // Every child shouts; the others (and this process, which is not in G) hear only what is theirs.
  for (const child of children) child.send({ op: "shout", group: "G", text: `shout from ${child.uuid}` });
  for (const child of children) {
    for (const other of children) {
      if (other === child) continue;
      const line = await child.waitLine((l) => l.type === "SHOUT" && l.uuid === other.uuid);
      assert.deepEqual((line as { text?: string[] }).text, [`shout from ${other.uuid}`]);
    }
  }
  // This process shouts to G without being in it, and whispers to each child; a child whispers back.
  await parent.shout("G", ["from the parent"]);
  for (const child of children) {
    await parent.whisper(child.uuid, [`to ${child.uuid}`]);
    await child.waitLine((l) => l.type === "SHOUT" && l.uuid === parent.uuid);
    const line = await child.waitLine((l) => l.type === "WHISPER" && l.uuid === parent.uuid);
    assert.deepEqual((line as { text?: string[] }).text, [`to ${child.uuid}`]);
  }
  children[0]!.send({ op: "whisper", uuid: parent.uuid, text: "back" });
  const back = await nextEvent(events, (e) => e.type === "WHISPER");
  assert.equal(back.type === "WHISPER" && back.content[0]!.toString(), "back");

  // A killed child: EVASIVE, SILENT (its PING unanswered one reap interval later), then EXIT, here
  // and at the others.
  const killed = children[2]!;
  killed.kill();
  // (idle peers go EVASIVE too, until the PING it brings is answered: only the killed one's count here)
  await nextEvent(events, (e) => e.type === "EVASIVE" && e.uuid === killed.uuid);
  await nextEvent(events, (e) => e.type === "SILENT" && e.uuid === killed.uuid);
  await nextEvent(events, (e) => e.type === "EXIT" && e.uuid === killed.uuid);
  await children[0]!.waitLine((l) => l.type === "EXIT" && l.uuid === killed.uuid);

  // A child that stops cleanly: EXIT.
  const stopped = children[1]!;
  stopped.send({ op: "stop" });
  await stopped.exited();
  await nextEvent(events, (e) => e.type === "EXIT" && e.uuid === stopped.uuid);
  assert.deepEqual(
    parent.peers().map((p) => p.uuid),
    [children[0]!.uuid],
  );
  await children[0]!.waitLine((l) => l.type === "EXIT" && l.uuid === stopped.uuid);
}

describe("zre across processes", () => {
  test("three child processes and this one over beacons on lo", { timeout: 60000 }, async () => {
    const port = randomPort();
    const parent = await startPeer("parent", loOptions(port, CLOCKS));
    const events = parent.events();
    const children = ["a", "b", "c"].map((name) => new ChildPeer(name, ["beacon", String(port)], CLOCKS));
    try {
      await exercise(parent, children, events);
    } finally {
      for (const child of children) child.kill();
      await parent.stop();
    }
  });

  test("three child processes and this one (the hub) over zgossip on 127.0.0.1", { timeout: 60000 }, async () => {
    const parent = await startPeer("parent", {
      ...CLOCKS,
      discovery: { mode: "gossip", endpoint: "tcp://127.0.0.1:*", bind: true, interface: "lo" },
    });
    const events = parent.events();
    const children = ["a", "b", "c"].map((name) => new ChildPeer(name, ["gossip", parent.hubEndpoint], CLOCKS));
    try {
      await exercise(parent, children, events);
    } finally {
      for (const child of children) child.kill();
      await parent.stop();
    }
  });
});
