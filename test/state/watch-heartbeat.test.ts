/**
 * A watch that is fed without pause keeps beating (see test/rpc/stream-heartbeat.test.ts for
 * why): here a raw state server streams changes to a State's watch as fast as its credit allows,
 * beats every period, and counts the watch's own beats. Before the fix the client's frequent
 * credit grants stood in for its beats, so it sent none and zerokit's server dropped the watch
 * after 3 periods.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { packWire, unpackWire } from "../../src/core/codec.js";
import { Router } from "../../src/index.js";
import { State } from "../../src/state/index.js";
import { freshEndpoint } from "../helpers.js";

// Long enough that a busy test machine (two test files share two cores) blocking the loop for a
// while does not make either side give the other up (after 2 periods) mid-test.
const PERIOD = 250;

interface Header {
  message_id: Buffer;
}

let nextId = 0;
function event(name: string, args: unknown, responseTo: Buffer): Buffer {
  const id = Buffer.alloc(16);
  id.writeUInt32BE(++nextId);
  return packWire([{ message_id: id, v: 3, response_to: responseTo }, name, args]);
}

/** The events of a State client's message: one, or a zerokit batch (a marker frame, then one per frame). */
function eventsOf(frames: Buffer[]): [Header, string, unknown][] {
  const events = frames.length === 1 ? frames : frames.slice(1);
  return events.map((blob) => unpackWire(blob) as [Header, string, unknown]);
}

test("a watch fed faster than its heartbeat period still beats every period", { timeout: 20_000 }, async () => {
  await using router = new Router();
  const address = await router.bind(freshEndpoint("tcp"));
  await using state = new State(address, { heartbeat: PERIOD });
  let clientBeats = 0;
  let stop = false;
  const server = (async () => {
    const [identity, ...request] = await router.receive({ timeout: 5000 });
    const [[header, name]] = eventsOf(request as Buffer[]) as [[Header, string, unknown]];
    assert.equal(name, "watch");
    // State clients frame their events without an empty delimiter.
    const reply = (kind: string, args: unknown) =>
      router.send([identity as Buffer, event(kind, args, header.message_id)]);
    let credit = 1;
    let seq = 0;
    let beatAt = performance.now();
    await reply("STREAM", 1); // where the watch starts
    credit--;
    while (!stop) {
      while (credit > 0) {
        credit--;
        seq++;
        await reply("STREAM", [seq, Date.now(), "k", null, null, null]);
      }
      if (performance.now() - beatAt >= PERIOD) {
        beatAt = performance.now();
        await reply("_zpc_hb", [0]);
      }
      const message = await router.receive({ timeout: PERIOD / 4 }).catch(() => undefined);
      if (!message) continue;
      for (const [, kind, args] of eventsOf(message.slice(1) as Buffer[])) {
        if (kind === "_zpc_hb") clientBeats++;
        else if (kind === "_zpc_more") credit += (args as number[])[0] as number;
      }
    }
  })();
  const controller = new AbortController();
  const start = performance.now();
  let changes = 0;
  for await (const change of state.watch(["k"], { signal: controller.signal })) {
    assert.equal(change.seq, ++changes, "changes arrive in order, none twice");
    if (performance.now() - start >= 8 * PERIOD) break;
  }
  stop = true;
  await server;
  assert.ok(changes > 100, `${changes} changes`);
  assert.ok(clientBeats >= 4, `the watch sent ${clientBeats} beats in 8 periods of streaming`);
});
