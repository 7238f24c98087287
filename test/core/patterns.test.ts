/** Every socket pattern, over every transport, with real ZeroMQ sockets. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Client, Dish, Radio, Server } from "../../src/draft.js";
import {
  ClosedError,
  Dealer,
  InvalidArgumentError,
  Pair,
  Pub,
  Pull,
  Push,
  Rep,
  Req,
  Router,
  Sub,
  XPub,
  XSub,
} from "../../src/index.js";
import { freshEndpoint, publishUntilReceived, texts, transports } from "../helpers.js";

const T = { timeout: 10_000 };

for (const transport of transports) {
  describe(`patterns over ${transport}`, () => {
    test("REQ/REP round trips, single and multipart", T, async () => {
      await using rep = new Rep();
      await using req = new Req();
      req.connect(await rep.bind(freshEndpoint(transport)));
      for (let i = 0; i < 3; i++) {
        await req.send(`ping ${i}`);
        assert.deepEqual(texts(await rep.receive()), [`ping ${i}`]);
        await rep.send(["pong", String(i)]);
        assert.deepEqual(texts(await req.receive()), ["pong", String(i)]);
      }
    });

    test("DEALER/ROUTER: the router sees the identity and routes the reply back", T, async () => {
      await using router = new Router();
      await using dealer = new Dealer({ routingId: "dealer-1" });
      dealer.connect(await router.bind(freshEndpoint(transport)));
      await dealer.send(["", "hello", "world"]);
      const [identity, empty, ...body] = await router.receive();
      assert.equal(identity?.toString(), "dealer-1");
      assert.equal(empty?.length, 0);
      assert.deepEqual(texts(body), ["hello", "world"]);
      await router.send([identity!, "", "reply"]);
      assert.deepEqual(texts(await dealer.receive()), ["", "reply"]);
    });

    test("PUB/SUB delivers only subscribed prefixes", T, async () => {
      await using pub = new Pub();
      await using sub = new Sub();
      sub.subscribe("news.", Buffer.from("alerts"));
      sub.connect(await pub.bind(freshEndpoint(transport)));
      const first = await publishUntilReceived(async (i) => {
        await pub.send(["sports", `s${i}`]);
        await pub.send(["news.local", `n${i}`]);
      }, sub);
      assert.equal(first[0]?.toString(), "news.local");
      // Now that the subscription is known: a marker ends the stream; nothing unsubscribed gets through.
      await pub.send(["sports", "never"]);
      await pub.send(["alerts!", "fire"]);
      await pub.send(["news.end", "marker"]);
      const topics: string[] = [];
      for (;;) {
        const [topic, body] = texts(await sub.receive({ timeout: 5000 }));
        topics.push(topic!);
        if (body === "marker") break;
      }
      assert.ok(
        topics.every((t) => t.startsWith("news.") || t === "alerts!"),
        topics.join(),
      );
      assert.ok(topics.includes("alerts!"));
    });

    test("PUSH/PULL keeps order of a multipart stream", T, async () => {
      await using pull = new Pull();
      await using push = new Push();
      push.connect(await pull.bind(freshEndpoint(transport)));
      for (let i = 0; i < 50; i++) await push.send(["part-a", String(i), Buffer.alloc(200, i)]);
      for (let i = 0; i < 50; i++) {
        const message = await pull.receive();
        assert.equal(message.length, 3);
        assert.equal(message[1]?.toString(), String(i));
        assert.ok(message[2]?.equals(Buffer.alloc(200, i)));
      }
    });

    test("PAIR talks both ways", T, async () => {
      await using a = new Pair();
      await using b = new Pair();
      b.connect(await a.bind(freshEndpoint(transport)));
      await b.send(["from b", "2"]);
      assert.deepEqual(texts(await a.receive()), ["from b", "2"]);
      await a.send("from a");
      assert.deepEqual(texts(await b.receive()), ["from a"]);
    });

    test("XPUB sees subscriptions sent by XSUB, then publishes to it", T, async () => {
      await using xpub = new XPub();
      await using xsub = new XSub();
      xsub.connect(await xpub.bind(freshEndpoint(transport)));
      await xsub.send(Buffer.concat([Buffer.from([1]), Buffer.from("topic")]));
      const [subscription] = await xpub.receive();
      assert.equal(subscription?.[0], 1);
      assert.equal(subscription?.subarray(1).toString(), "topic");
      await xpub.send(["other", "no"]);
      await xpub.send(["topic.x", "yes"]);
      assert.deepEqual(texts(await xsub.receive({ timeout: 5000 })), ["topic.x", "yes"]);
      await xsub.send(Buffer.concat([Buffer.from([0]), Buffer.from("topic")]));
      const [unsubscription] = await xpub.receive();
      assert.equal(unsubscription?.[0], 0);
    });

    test("draft CLIENT/SERVER: the server replies by routing id", T, async () => {
      await using server = new Server();
      await using client1 = new Client();
      await using client2 = new Client();
      const address = await server.bind(freshEndpoint(transport));
      client1.connect(address);
      client2.connect(address);
      await client1.send("one");
      await client2.send("two");
      const got = new Map<string, number>();
      for (let i = 0; i < 2; i++) {
        const [frame, { routingId }] = await server.receive();
        assert.equal(typeof routingId, "number");
        got.set(frame.toString(), routingId);
      }
      assert.notEqual(got.get("one"), got.get("two"));
      await server.send("to two", { routingId: got.get("two")! });
      await server.send("to one", { routingId: got.get("one")! });
      assert.deepEqual(texts(await client1.receive()), ["to one"]);
      assert.deepEqual(texts(await client2.receive()), ["to two"]);
    });
  });
}

describe("draft RADIO/DISH (tcp)", () => {
  test(
    "a DISH gets what is sent to the groups it joined; bad group names and closed sockets are typed errors",
    T,
    async () => {
      await using radio = new Radio();
      await using dish = new Dish();
      const address = await radio.bind(freshEndpoint("tcp"));
      dish.connect(address);
      dish.join("g1");
      // A DISH's join reaches the RADIO some time after connecting: send until it arrives.
      for (;;) {
        await radio.sendTo("g2", Buffer.from("not mine"));
        await radio.sendTo("g1", Buffer.from("mine"));
        const got = await dish.receive({ timeout: 50 }).catch(() => undefined);
        if (!got) continue;
        assert.equal(got[0].toString(), "mine");
        assert.equal(got[1].group.toString(), "g1");
        break;
      }
      for (const bad of ["", "x".repeat(256)]) {
        assert.throws(() => dish.join(bad), InvalidArgumentError);
        assert.throws(() => dish.leave(bad), InvalidArgumentError);
        await assert.rejects(radio.sendTo(bad, Buffer.from("x")), InvalidArgumentError);
      }
      assert.throws(() => dish.join("g1"), { code: "EINVAL" }); // joined already: libzmq refuses
      assert.throws(() => dish.leave("never"), { code: "EINVAL" });
      dish.leave("g1");
      radio.close();
      dish.close();
      await assert.rejects(radio.sendTo("g1", Buffer.from("x")), ClosedError);
      assert.throws(() => dish.join("g3"), ClosedError);
    },
  );

  test("a RADIO's sends wait for an unbind under way, and a DISH refuses to join during one", T, async () => {
    // zeromq.js unbinds in a worker thread; a send or join on the libzmq socket meanwhile would
    // race it (libzmq sockets are not thread-safe).
    await using radio = new Radio();
    const first = await radio.bind(freshEndpoint("tcp"));
    await radio.bind(freshEndpoint("tcp"));
    const order: string[] = [];
    const unbound = radio.unbind(first).then(() => void order.push("unbind"));
    const sent = radio.sendTo("g", Buffer.from("x")).then(() => void order.push("send"));
    await Promise.all([unbound, sent]);
    assert.deepEqual(order, ["unbind", "send"]);

    await using dish = new Dish();
    const endpoint = await dish.bind(freshEndpoint("tcp"));
    await dish.bind(freshEndpoint("tcp"));
    const unbinding = dish.unbind(endpoint);
    assert.throws(() => dish.join("g"), { code: "EBUSY" });
    assert.throws(() => dish.leave("g"), { code: "EBUSY" });
    await unbinding;
    dish.join("g");
  });
});
