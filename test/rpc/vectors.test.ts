/** Wire compatibility with the recorded Python zerorpc peers (shared/vectors/zerorpc). */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { packWire, unpackWire } from "../../src/core/codec.js";
import { Dealer, Pub, Pull, Push, Router, Sub } from "../../src/index.js";
import { Puller, RemoteError, RpcClient, RpcServer, Subscriber } from "../../src/rpc/index.js";
import * as anchor from "../fixtures/anchor.js";
import { freshEndpoint, readVector, revive } from "../helpers.js";

interface Recorded {
  hex: string;
  event: unknown;
}
interface Scenario {
  request: Recorded;
  replies: Recorded[];
  sent_after_first_reply?: Recorded[];
}

const T = { timeout: 20_000 };
const replies = readVector<{ scenarios: Record<string, Scenario> }>("zerorpc/server_replies.json");
type Event = [Record<string, unknown>, string, unknown];

function decode(blob: Buffer): Event {
  return unpackWire(blob) as Event;
}

describe("a zerokit server answers the recorded Python requests like Python did", () => {
  for (const [name, scenario] of Object.entries(replies.scenarios)) {
    test(name, T, async () => {
      await using server = new RpcServer(anchor, { name: "anchor", heartbeat: 1000 });
      const address = await server.bind(freshEndpoint("tcp"));
      await using raw = new Dealer();
      raw.connect(address);
      await raw.send([Buffer.alloc(0), Buffer.from(scenario.request.hex, "hex")]);
      const requestId = (revive(scenario.request.event) as Event)[0].message_id as Buffer;
      for (const [i, recorded] of scenario.replies.entries()) {
        if (i === 1 && scenario.sent_after_first_reply) {
          for (const extra of scenario.sent_after_first_reply) {
            const [header, evName, args] = revive(extra.event) as Event;
            header.response_to = requestId;
            await raw.send([Buffer.alloc(0), packWire([header, evName, args])]);
          }
        }
        const frames = await raw.receive({ timeout: 5000 });
        assert.equal(frames.length, 2, "[empty delimiter, blob]");
        assert.equal(frames[0]?.length, 0);
        const [header, evName, args] = decode(frames[1] as Buffer);
        const [expHeader, expName, expArgs] = revive(recorded.event) as Event;
        assert.equal(evName, expName, `reply ${i} name`);
        assert.deepEqual(Object.keys(header), Object.keys(expHeader), `reply ${i} header keys`);
        assert.ok(Buffer.isBuffer(header.message_id), "message_id is bin, like Python's");
        assert.ok(Buffer.isBuffer(header.response_to), "response_to echoed as bin");
        assert.deepEqual(header.response_to, requestId);
        assert.equal(header.v, 3);
        if (expName === "ERR") {
          const [errName, errMessage, tb] = args as string[];
          const [expErrName, expMessage] = expArgs as string[];
          assert.equal(errName, expErrName);
          assert.equal(errMessage, expMessage);
          assert.equal(typeof tb, "string");
        } else if (name !== "inspect") {
          assert.deepEqual(args, expArgs, `reply ${i} args`);
        } else {
          // Python lists `self`; JS methods have none. Everything else must match.
          const expected = structuredClone((expArgs as [{ methods: Record<string, { args: { name: string }[] }> }])[0]);
          for (const m of Object.values(expected.methods)) m.args = m.args.filter((a) => a.name !== "self");
          assert.deepEqual((args as unknown[])[0], expected);
        }
      }
    });
  }
});

describe("a zerokit client speaks like the recorded Python client", () => {
  const recorded = readVector<{ received: Recorded[]; reply_sent: Recorded }>("zerorpc/client_requests.json");

  test("request shape: [header{message_id, v:3}, str name, args]", T, async () => {
    await using router = new Router();
    const address = await router.bind(freshEndpoint("tcp"));
    await using client = new RpcClient({ heartbeat: 1000 });
    client.connect(address);
    const call = client.call("add", [1, 2]);
    const frames = await router.receive({ timeout: 5000 });
    assert.equal(frames.length, 3, "[identity, empty, blob] like Python");
    const [header, name, args] = decode(frames[2] as Buffer);
    const [expHeader, expName, expArgs] = revive(recorded.received[0]?.event) as Event;
    assert.deepEqual(Object.keys(header), Object.keys(expHeader));
    assert.equal(header.v, 3);
    assert.equal(name, expName);
    assert.deepEqual(args, expArgs);
    // Python's OK reply, re-addressed to our id.
    const [replyHeader, replyName, replyArgs] = revive(recorded.reply_sent.event) as Event;
    replyHeader.response_to = header.message_id;
    await router.send([frames[0] as Buffer, Buffer.alloc(0), packWire([replyHeader, replyName, replyArgs])]);
    assert.equal(await call, 3);
  });

  for (const [name, scenario] of Object.entries(replies.scenarios)) {
    test(`accepts the recorded replies of ${name}`, T, async () => {
      await using router = new Router();
      const address = await router.bind(freshEndpoint("tcp"));
      await using client = new RpcClient({ heartbeat: 1000, timeout: 5000 });
      client.connect(address);
      const [, method, args] = revive(scenario.request.event) as Event;
      const call = client.call(method, args as unknown[]);
      const frames = await router.receive({ timeout: 5000 });
      const ourId = decode(frames[2] as Buffer)[0].message_id;
      for (const reply of scenario.replies) {
        const [h, n, a] = revive(reply.event) as Event;
        h.response_to = ourId;
        await router.send([frames[0] as Buffer, Buffer.alloc(0), packWire([h, n, a])]);
      }
      const last = scenario.replies[scenario.replies.length - 1]?.event as Event;
      if (name === "stream_range_3_no_credit") {
        // Python stopped after STREAM 0 waiting for credit: the client must have granted some.
        const more = await router.receive({ timeout: 5000 });
        const [h, n, a] = decode(more[2] as Buffer);
        assert.equal(n, "_zpc_more");
        assert.deepEqual(h.response_to, ourId);
        assert.ok((a as number[])[0]! > 0);
        return;
      }
      if (last[1] === "ERR") {
        await assert.rejects(
          call,
          (e: unknown) => e instanceof RemoteError && e.remoteName === (last[2] as string[])[0],
        );
      } else if (last[1] === "STREAM_DONE") {
        assert.deepEqual(await call, [0, 1, 2]);
      } else {
        assert.deepEqual(await call, revive((last[2] as unknown[])[0]));
      }
    });
  }
});

describe("one-way events match the recorded Python pusher and publisher", () => {
  const oneway = readVector<{ pushed: Recorded[]; published: Recorded[] }>("zerorpc/oneway_events.json");

  test("a Puller dispatches recorded PUSH events; a Pusher writes the same shape", T, async () => {
    const got: unknown[] = [];
    let done!: () => void;
    const all = new Promise<void>((r) => {
      done = r;
    });
    const target = {
      hello: (who: string) => void got.push(["hello", who]),
      tick: (n: number) => {
        got.push(["tick", n]);
        done();
      },
    };
    await using puller = new Puller(target);
    const address = await puller.bind(freshEndpoint("ipc"));
    await using push = new Push();
    push.connect(address);
    for (const event of oneway.pushed) await push.send(Buffer.from(event.hex, "hex"));
    await all;
    assert.deepEqual(got, [
      ["hello", "world"],
      ["tick", 7],
    ]);

    const { Pusher } = await import("../../src/rpc/index.js");
    await using pull = new Pull();
    const pullAddress = await pull.bind(freshEndpoint("tcp"));
    await using pusher = new Pusher();
    pusher.connect(pullAddress);
    await pusher.proxy<{ hello(who: string): void }>().hello("world");
    const [frame, ...rest] = await pull.receive({ timeout: 5000 });
    assert.equal(rest.length, 0, "one frame, like Python");
    const [header, name, args] = decode(frame as Buffer);
    const [expHeader, expName, expArgs] = revive(oneway.pushed[0]?.event) as Event;
    assert.deepEqual(Object.keys(header), Object.keys(expHeader));
    assert.equal(name, expName);
    assert.deepEqual(args, expArgs);
  });

  test("a Subscriber dispatches recorded PUB events", T, async () => {
    let resolve!: (value: string) => void;
    const heard = new Promise<string>((r) => {
      resolve = r;
    });
    await using pub = new Pub();
    const address = await pub.bind(freshEndpoint("tcp"));
    await using subscriber = new Subscriber({ hello: (who: string) => resolve(who) });
    subscriber.connect(address);
    const blob = Buffer.from(oneway.published[0]?.hex as string, "hex");
    // PUB drops messages until the subscription arrives: publish until the subscriber hears one.
    let heardValue: string | undefined;
    heard.then((v) => {
      heardValue = v;
    });
    for (let i = 0; i < 500 && heardValue === undefined; i++) {
      await pub.send(blob);
      await Promise.race([heard, new Promise((r) => setImmediate(r))]);
    }
    assert.equal(await heard, "all");
    void Sub;
  });
});
