/**
 * The zgossip hub and client on 127.0.0.1, against a hand-built client replaying what real Zyre
 * sent and expecting what real Zyre's hub answered: every tuple on HELLO, each new tuple forwarded
 * to every client including its sender, PONG for PING, silent clients kept, bad input counted.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Dealer } from "../../src/core/sockets.js";
import { decodeGossip, encodeGossip, GossipClient, GossipHub } from "../../src/zre/gossip.js";
import { vectorsDir } from "../helpers.js";

const captures = JSON.parse(readFileSync(join(vectorsDir, "zre", "zyre_pyre_captures.json"), "utf8"));
const run = captures.zyre_c.gossip_mode_real_binds_hub;
const hex = (h: string) => Buffer.from(h, "hex");

test("a hub answers a recorded Zyre client as real Zyre's hub did", { timeout: 20000 }, async () => {
  const tuples: [string, string][] = [];
  let ignored = 0;
  const hub = new GossipHub({
    maxTuples: 10,
    maxClients: 10,
    onTuple: (key, value) => tuples.push([key, value]),
    onIgnored: () => ignored++,
  });
  const own = run.hub_sent[0].decoded as { key: string; value: string };
  const endpoint = await hub.bind("tcp://127.0.0.1:*");
  hub.publish(own.key, own.value);
  const client = new Dealer({ linger: 0 });
  const other = new Dealer({ linger: 0 });
  try {
    client.connect(endpoint);
    // HELLO, PUBLISH, PING exactly as the Zyre-side client sent them.
    for (const m of run.client_sent) await client.send(hex(m.hex));
    const answers: string[] = [];
    for (let i = 0; i < run.hub_sent.length; i++)
      answers.push((await client.receive({ timeout: 10000 }))[0]!.toString("hex"));
    assert.deepEqual(
      answers,
      run.hub_sent.map((m: { hex: string }) => m.hex),
    );
    const published = run.client_sent[1].decoded as { key: string; value: string };
    assert.deepEqual(tuples, [
      [own.key, own.value],
      [published.key, published.value],
    ]);

    // A second client gets both tuples on HELLO; its own tuple reaches the first, silent client too.
    other.connect(endpoint);
    await other.send(encodeGossip({ command: "HELLO" }));
    const first = decodeGossip((await other.receive({ timeout: 10000 }))[0]!);
    const second = decodeGossip((await other.receive({ timeout: 10000 }))[0]!);
    assert.deepEqual(
      [first, second].map((m) => m.command === "PUBLISH" && m.key),
      [own.key, published.key],
    );
    const key = "ABCDEF0123456789ABCDEF0123456789";
    await other.send(encodeGossip({ command: "PUBLISH", key, value: "tcp://127.0.0.1:9", ttl: 0 }));
    for (const socket of [other, client]) {
      const got = decodeGossip((await socket.receive({ timeout: 10000 }))[0]!);
      assert.deepEqual(got, { command: "PUBLISH", key, value: "tcp://127.0.0.1:9", ttl: 0 });
    }
    // A re-published tuple that did not change is not news (Zyre's clients re-publish what they learn).
    const count = tuples.length;
    await other.send(encodeGossip({ command: "PUBLISH", key, value: "tcp://127.0.0.1:9", ttl: 0 }));

    // Bad input: garbage, two frames, a key that is no uuid; then a PING to know they were handled.
    await other.send(hex("aaa0"));
    await other.send([encodeGossip({ command: "PING" }), encodeGossip({ command: "PING" })]);
    await other.send(encodeGossip({ command: "PUBLISH", key: "__proto__", value: "x", ttl: 0 }));
    await other.send(encodeGossip({ command: "PING" }));
    assert.deepEqual(decodeGossip((await other.receive({ timeout: 10000 }))[0]!), { command: "PONG" });
    assert.equal(ignored, 3);
    assert.equal(tuples.length, count);
    assert.deepEqual(hub.size, { clients: 2, tuples: 3 });
  } finally {
    client.close();
    other.close();
    await hub.close();
  }
});

test("a client says HELLO, publishes its tuple and reports what the hub holds", { timeout: 20000 }, async () => {
  const hub = new GossipHub({ maxTuples: 10, maxClients: 10, onTuple: () => {}, onIgnored: () => {} });
  const endpoint = await hub.bind("tcp://127.0.0.1:*");
  hub.publish("11111111111111111111111111111111", "tcp://127.0.0.1:1");
  const heard: string[] = [];
  let wake: () => void = () => {};
  const client = new GossipClient({
    onTuple: (key) => {
      heard.push(key);
      wake();
    },
    onIgnored: () => {},
  });
  try {
    client.connect(endpoint, "22222222222222222222222222222222", "tcp://127.0.0.1:2");
    while (heard.length < 2) await new Promise<void>((resolve) => (wake = resolve));
    assert.deepEqual(heard.sort(), ["11111111111111111111111111111111", "22222222222222222222222222222222"]);
  } finally {
    await client.close();
    await hub.close();
  }
});
