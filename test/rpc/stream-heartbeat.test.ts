/**
 * Heartbeats while a stream flows. The zerorpc spec: each side sends `_zpc_hb` every period, and
 * only `_zpc_hb` refreshes liveness, so neither stream items nor credit grants may stand in for
 * a beat. When they did, a zerokit side that streamed or granted credit more often than once a
 * period never beat, and its peer (a zerorpc-python one, or zerokit's own server) declared it lost
 * mid-stream: a State watch fed every 10 ms lost its server after 15 s and stalled for 10 more.
 * Each test counts the beats a zerokit side sends during 8 periods of steady streaming, against
 * a raw zerorpc peer that beats and grants as the spec says.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { packWire, unpackWire } from "../../src/core/codec.js";
import { Dealer, Router } from "../../src/index.js";
import { RpcClient, RpcServer } from "../../src/rpc/index.js";
import { freshEndpoint } from "../helpers.js";

const T = { timeout: 20_000 };
// Long enough that a busy test machine (two test files share two cores) blocking the loop for a
// while does not make either side give the other up (after 2 periods) mid-test.
const PERIOD = 250;
const EMPTY = Buffer.alloc(0);

interface Header {
  message_id: Buffer;
  response_to?: Buffer;
}

let nextId = 0;
function event(name: string, args: unknown, responseTo?: Buffer): Buffer {
  const id = Buffer.alloc(16);
  id.writeUInt32BE(++nextId);
  return packWire([{ message_id: id, v: 3, ...(responseTo ? { response_to: responseTo } : {}) }, name, args]);
}

function decode(blob: Buffer): [Header, string, unknown] {
  return unpackWire(blob) as [Header, string, unknown];
}

describe("heartbeats during a stream", () => {
  test("a server beats every period while it streams items", T, async () => {
    await using server = new RpcServer(
      {
        async *ticks() {
          for (let i = 0; ; i++) yield i;
        },
      },
      { heartbeat: PERIOD },
    );
    const address = await server.bind(freshEndpoint("tcp"));
    await using dealer = new Dealer();
    dealer.connect(address);
    const request = event("ticks", []);
    const requestId = decode(request)[0].message_id;
    await dealer.send([EMPTY, request]);
    let beats = 0;
    let items = 0;
    const start = performance.now();
    let beatAt = start;
    while (performance.now() - start < 8 * PERIOD) {
      const [, blob] = await dealer.receive({ timeout: 5000 });
      const [, name] = decode(blob as Buffer);
      if (name === "_zpc_hb") beats++;
      else if (name === "STREAM") {
        items++;
        // One credit per item: a consumer that keeps up grants far more often than once a period.
        await dealer.send([EMPTY, event("_zpc_more", [1], requestId)]);
      } else assert.fail(`unexpected ${name}`);
      if (performance.now() - beatAt >= PERIOD) {
        beatAt = performance.now();
        await dealer.send([EMPTY, event("_zpc_hb", [0], requestId)]);
      }
    }
    assert.ok(items > 8, `${items} items`);
    // One beat a period from the first period on: 7 in 8 periods, less a late timer or two.
    assert.ok(beats >= 4, `the server sent ${beats} beats in 8 periods of streaming`);
  });

  test("a client beats every period while it takes items and grants credit", T, async () => {
    await using router = new Router();
    const address = await router.bind(freshEndpoint("tcp"));
    await using client = new RpcClient({ heartbeat: PERIOD, streamWindow: 2, timeout: 60_000 });
    client.connect(address);
    let clientBeats = 0;
    let stop = false;
    const server = (async () => {
      const [identity, , request] = await router.receive({ timeout: 5000 });
      const requestId = decode(request as Buffer)[0].message_id;
      const reply = (name: string, args: unknown) =>
        router.send([identity as Buffer, EMPTY, event(name, args, requestId)]);
      let credit = 1;
      let n = 0;
      let beatAt = performance.now();
      while (!stop) {
        while (credit > 0) {
          credit--;
          await reply("STREAM", n++);
        }
        if (performance.now() - beatAt >= PERIOD) {
          beatAt = performance.now();
          await reply("_zpc_hb", [0]);
        }
        const message = await router.receive({ timeout: PERIOD / 4 }).catch(() => undefined);
        if (!message) continue;
        const [, name, args] = decode(message[2] as Buffer);
        if (name === "_zpc_hb") clientBeats++;
        else if (name === "_zpc_more") credit += (args as number[])[0] as number;
      }
    })();
    const start = performance.now();
    let items = 0;
    for await (const _item of client.call("ticks")) {
      items++;
      if (performance.now() - start >= 8 * PERIOD) break;
    }
    stop = true;
    await server;
    assert.ok(items > 8, `${items} items`);
    assert.ok(clientBeats >= 4, `the client sent ${clientBeats} beats in 8 periods of streaming`);
  });
});
