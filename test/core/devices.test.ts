/** Devices relaying between real sockets: queue, forwarder, streamer and the monitored queue. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  Dealer,
  forwarder,
  monitoredQueue,
  Pub,
  Pull,
  Push,
  queue,
  Rep,
  Req,
  Router,
  Sub,
  streamer,
  XPub,
  XSub,
} from "../../src/index.js";
import { freshEndpoint, publishUntilReceived, texts, transports } from "../helpers.js";

const T = { timeout: 10_000 };

/** Answers every request on `rep` with `prefix + request` until the socket closes. */
async function echoWorker(rep: Rep, prefix: string): Promise<number> {
  let served = 0;
  for await (const [frame] of rep) {
    await rep.send(`${prefix}${frame!.toString()}`);
    served++;
  }
  return served;
}

for (const transport of transports) {
  describe(`devices over ${transport}`, () => {
    test("queue: REQ clients -> ROUTER frontend, DEALER backend -> REP workers; stop() ends done", T, async () => {
      await using frontend = new Router();
      await using backend = new Dealer();
      const front = await frontend.bind(freshEndpoint(transport));
      const back = await backend.bind(freshEndpoint(transport));
      const device = queue(frontend, backend);
      const workers = [new Rep(), new Rep()];
      const clients = [new Req(), new Req(), new Req()];
      try {
        for (const worker of workers) worker.connect(back);
        for (const client of clients) client.connect(front);
        const serving = workers.map((w, i) => echoWorker(w, `w${i}:`));
        const replies = await Promise.all(
          clients.map(async (client, c) => {
            const got: string[] = [];
            for (let i = 0; i < 10; i++) {
              await client.send(`c${c}-${i}`);
              got.push(texts(await client.receive())[0]!);
            }
            return got;
          }),
        );
        for (const [c, got] of replies.entries()) {
          for (const [i, reply] of got.entries()) assert.match(reply, new RegExp(`^w[01]:c${c}-${i}$`));
        }
        device.stop();
        await device.done;
        assert.equal(frontend.closed, false, "the device leaves its sockets open");
        for (const worker of workers) worker.close();
        const served = await Promise.all(serving);
        assert.equal(
          served.reduce((a, b) => a + b),
          30,
        );
      } finally {
        device.stop();
        for (const socket of [...workers, ...clients]) socket.close();
      }
    });

    test("forwarder: PUB -> XSUB frontend, XPUB backend -> SUB, subscriptions flow back", T, async () => {
      await using frontend = new XSub();
      await using backend = new XPub();
      await using pub = new Pub();
      await using sub = new Sub();
      pub.connect(await frontend.bind(freshEndpoint(transport)));
      sub.connect(await backend.bind(freshEndpoint(transport)));
      sub.subscribe("weather");
      const controller = new AbortController();
      const device = forwarder(frontend, backend, { signal: controller.signal });
      const first = await publishUntilReceived(async (i) => {
        await pub.send(["sports", String(i)]);
        await pub.send(["weather", String(i)]);
      }, sub);
      assert.equal(first[0]?.toString(), "weather");
      controller.abort();
      await device.done;
    });

    test("streamer: PUSH -> PULL frontend, PUSH backend -> PULL, in order; abort ends done", T, async () => {
      await using frontend = new Pull();
      await using backend = new Push();
      await using producer = new Push();
      await using consumer = new Pull();
      producer.connect(await frontend.bind(freshEndpoint(transport)));
      consumer.connect(await backend.bind(freshEndpoint(transport)));
      const controller = new AbortController();
      const device = streamer(frontend, backend, { signal: controller.signal });
      for (let i = 0; i < 20; i++) await producer.send(["job", String(i)]);
      for (let i = 0; i < 20; i++) assert.deepEqual(texts(await consumer.receive()), ["job", String(i)]);
      controller.abort();
      await device.done;
      // A device started with an already aborted signal ends at once.
      await streamer(frontend, backend, { signal: AbortSignal.abort() }).done;
    });

    test("monitoredQueue: a SUB on the monitor PUB sees ['in', ...] and ['out', ...]", T, async () => {
      await using inSocket = new Router();
      await using outSocket = new Dealer();
      await using monitor = new Pub();
      await using hub = new Sub();
      await using client = new Req();
      await using worker = new Rep();
      client.connect(await inSocket.bind(freshEndpoint(transport)));
      worker.connect(await outSocket.bind(freshEndpoint(transport)));
      hub.connect(await monitor.bind(freshEndpoint(transport)));
      hub.subscribe();
      const serving = echoWorker(worker, "re:");
      {
        await using device = monitoredQueue(inSocket, outSocket, monitor);
        // Round trips until the hub's subscription has reached the monitor.
        await publishUntilReceived(async (i) => {
          await client.send(`warmup ${i}`);
          await client.receive();
        }, hub);
        await client.send("final");
        assert.deepEqual(texts(await client.receive()), ["re:final"]);
        const seen = { in: false, out: false };
        while (!(seen.in && seen.out)) {
          const frames = texts(await hub.receive({ timeout: 5000 }));
          const [direction, , empty, body] = frames;
          assert.ok(direction === "in" || direction === "out", frames.join("|"));
          assert.equal(frames.length, 4, "prefix, client identity, empty delimiter, body");
          assert.equal(empty, "");
          if (direction === "in" && body === "final") seen.in = true;
          if (direction === "out" && body === "re:final") seen.out = true;
        }
        device.stop();
        await device.done;
      }
      worker.close();
      await serving;
    });

    test("closing a device's socket ends done without an error", T, async () => {
      const frontend = new Pull();
      await using backend = new Push();
      await frontend.bind(freshEndpoint(transport));
      const device = streamer(frontend, backend);
      frontend.close();
      await device.done;
    });
  });
}

describe("a message that cannot be relayed", () => {
  test("is dropped and reported; the device keeps relaying for everyone", T, async () => {
    await using frontend = new Router({ mandatory: true });
    await using backend = new Dealer();
    const front = await frontend.bind(freshEndpoint("tcp"));
    const back = await backend.bind(freshEndpoint("tcp"));
    const errors: unknown[] = [];
    // The handler itself throws: that must not stop the device either.
    const device = queue(frontend, backend, {
      onError: (error) => {
        errors.push(error);
        throw new Error("handler failed");
      },
    });
    await using worker = new Dealer();
    await using client = new Dealer();
    worker.connect(back);
    client.connect(front);
    await client.send("hello");
    const [identity, request] = await worker.receive();
    assert.equal(request!.toString(), "hello");
    // A reply to a routing id nobody has: the ROUTER refuses it (mandatory).
    await worker.send([Buffer.from("nobody"), "lost"]);
    await worker.send([identity!, "answer"]);
    const [reply] = await client.receive({ timeout: 5000 });
    assert.equal(reply!.toString(), "answer");
    assert.equal(device.dropped, 1);
    assert.equal(errors.length, 1);
    device.stop();
    await device.done;
  });

  test("a monitor that fails does not stop the relaying", T, async () => {
    await using inSocket = new Router();
    await using outSocket = new Dealer();
    const monitor = new Pub();
    const front = await inSocket.bind(freshEndpoint("inproc"));
    const back = await outSocket.bind(freshEndpoint("inproc"));
    monitor.close(); // every monitored send now fails
    const device = monitoredQueue(inSocket, outSocket, monitor, { onError: () => undefined });
    await using worker = new Dealer();
    await using client = new Dealer();
    worker.connect(back);
    client.connect(front);
    await client.send("ping");
    const [identity, request] = await worker.receive({ timeout: 5000 });
    await worker.send([identity!, `${request!.toString()}-pong`]);
    assert.equal((await client.receive({ timeout: 5000 }))[0]!.toString(), "ping-pong");
    assert.equal(device.dropped, 2);
    device.stop();
    await device.done;
  });
});
