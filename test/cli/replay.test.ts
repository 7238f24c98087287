/**
 * The requests a Python client sent, recorded in test/fixtures/vectors/zerorpc/server_replies.json,
 * replayed byte for byte with a raw DEALER to `zerokit rpc --server` serving the reference
 * service: the replies carry the same event names, args and header keys as the Python server's.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import * as zmq from "zeromq";
import { Dealer } from "../../src/core/sockets.js";
import { decodeEvent, encodeEvent, type RpcEvent } from "../../src/rpc/protocol.js";
import { anchorJs, type Served, startServer, zerorpcVectors } from "../helpers.js";

zmq.context.blocky = false;

interface Recorded {
  hex: string;
  event: [Record<string, unknown>, string, unknown];
}

interface Scenario {
  request: Recorded;
  replies: Recorded[];
  sent_after_first_reply?: Recorded[];
}

const vectors = JSON.parse(readFileSync(join(zerorpcVectors, "server_replies.json"), "utf8")) as {
  scenarios: Record<string, Scenario>;
};

/** Our decoded values in the vectors' JSON form (bytes as {"$bin": hex}). */
function asRecorded(value: unknown): unknown {
  if (value instanceof Uint8Array) return { $bin: Buffer.from(value).toString("hex") };
  if (Array.isArray(value)) return value.map(asRecorded);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, asRecorded(v)]));
  }
  return value === undefined ? null : value;
}

/** Python lists `self` among a method's args; a JavaScript method has none. */
function withoutSelf(inspect: unknown): unknown {
  const copy = structuredClone(inspect) as { methods: Record<string, { args: { name: string }[] }> };
  for (const method of Object.values(copy.methods)) method.args = method.args.filter((a) => a.name !== "self");
  return copy;
}

async function replay(address: string, name: string, scenario: Scenario): Promise<RpcEvent[]> {
  const dealer = new Dealer({ linger: 0 });
  dealer.connect(address);
  const requestId = decodeEvent(Buffer.from(scenario.request.hex, "hex")).header.message_id;
  // A live client beats on the channel (the server would otherwise drop it after 2 periods).
  const beat = setInterval(() => {
    const header = { message_id: Buffer.from(`hb-${Math.random()}`), v: 3, response_to: requestId };
    void dealer.send([Buffer.alloc(0), encodeEvent(header, "_zpc_hb", [0])]).catch(() => {});
  }, 300);
  try {
    await dealer.send([Buffer.alloc(0), Buffer.from(scenario.request.hex, "hex")]);
    const replies: RpcEvent[] = [];
    while (replies.length < scenario.replies.length) {
      const frames = await dealer.receive({ timeout: 5000 });
      assert.equal(frames.length, 2, `${name}: reply frames ['', blob]`);
      assert.equal(frames[0]?.length, 0);
      replies.push(decodeEvent(frames[1] as Buffer));
      if (replies.length === 1) {
        for (const extra of scenario.sent_after_first_reply ?? []) {
          await dealer.send([Buffer.alloc(0), Buffer.from(extra.hex, "hex")]);
        }
      }
    }
    return replies;
  } finally {
    clearInterval(beat);
    dealer.close();
  }
}

describe("recorded Python requests answered by zerokit rpc --server", () => {
  let server: Served;
  before(async () => {
    // The recording used a 1 s heartbeat.
    server = await startServer(["--heartbeat", "1", "--bind", "tcp://127.0.0.1:0", anchorJs]);
  });
  after(async () => {
    await server?.cli.stop();
  });

  test("every scenario gets the recorded replies", { timeout: 20_000 }, async () => {
    const names = Object.keys(vectors.scenarios);
    assert.ok(names.length >= 10);
    const results = await Promise.all(
      names.map((name) => replay(server.address, name, vectors.scenarios[name] as Scenario)),
    );
    names.forEach((name, i) => {
      const scenario = vectors.scenarios[name] as Scenario;
      const replies = results[i] as RpcEvent[];
      const requestHeader = scenario.request.event[0];
      scenario.replies.forEach((expected, j) => {
        const [expectedHeader, expectedName, expectedArgs] = expected.event;
        const got = replies[j] as RpcEvent;
        const where = `${name} reply ${j}`;
        assert.equal(got.name, expectedName, where);
        assert.deepEqual(Object.keys(got.header), Object.keys(expectedHeader), `${where}: header keys`);
        assert.ok(got.header.message_id instanceof Uint8Array, `${where}: message_id is bin like Python's`);
        assert.deepEqual(asRecorded(got.header.response_to), requestHeader.message_id, `${where}: response_to`);
        assert.equal(got.header.v, 3);
        const args = asRecorded(got.args);
        if (expectedName === "ERR") {
          const [errName, message, trace] = args as [string, string, unknown];
          const [expectedErrName, expectedMessage] = expectedArgs as [string, string];
          assert.deepEqual([errName, message], [expectedErrName, expectedMessage], where);
          assert.equal(typeof trace, "string", `${where}: a stack string`);
        } else if (name === "inspect") {
          assert.deepEqual(args, [withoutSelf((expectedArgs as unknown[])[0])], where);
        } else {
          assert.deepEqual(args, expectedArgs, where);
        }
      });
    });
  });
});
