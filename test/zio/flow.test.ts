/**
 * Flows: the BOT handshake (directions, the server lowering the credit), labels exactly as ZIO
 * Python's json.dumps writes them, seqno per message, EOT from either side with the echo and the
 * drain, protocol violations, and 100,000 messages at credit 10 to a slow consumer with never
 * more in flight than the credit.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { describe, test } from "node:test";
import * as zmq from "zeromq";
import { AbortError } from "../../src/index.js";
import { Flow, FlowEndedError, FlowError, Message, Port, type SocketType } from "../../src/zio/index.js";
import { pyJson } from "../../src/zio/pyjson.js";
import { distDir } from "../helpers.js";

async function pair(server: SocketType, client: SocketType): Promise<[Port, Port]> {
  const s = new Port("s", server);
  s.bind();
  await s.online();
  const c = new Port("c", client);
  c.connect(s.addresses[0]!);
  await c.online();
  return [s, c];
}

/** A ROUTER taker and a DEALER giver at credit 2, past their BOT handshake. */
async function flowingPair(): Promise<{ s: Port; c: Port; taker: Flow; giver: Flow }> {
  const [s, c] = await pair("ROUTER", "DEALER");
  const taker = new Flow(s, { direction: "inject", credit: 2 });
  const giver = new Flow(c, { direction: "extract", credit: 2 });
  await Promise.all([taker.bot({ timeout: 5000 }), giver.bot({ timeout: 5000 })]);
  return { s, c, taker, giver };
}

const yieldTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("zio Flow", () => {
  test("labels are Python's json.dumps text", { timeout: 1000 }, () => {
    assert.equal(
      pyJson({ flow: "BOT", credit: 10, direction: "extract" }),
      '{"flow": "BOT", "credit": 10, "direction": "extract"}',
    );
    assert.equal(
      pyJson({ a: [1, 2.5, true, null], b: 'h\u00e9"\n\u2603\u{1f600}' }),
      '{"a": [1, 2.5, true, null], "b": "h\\u00e9\\"\\n\\u2603\\ud83d\\ude00"}',
    );
    assert.equal(pyJson({}), "{}");
  });

  test("in one process, with a slow consumer: never more in flight than the credit", { timeout: 30_000 }, async () => {
    const [s, c] = await pair("SERVER", "CLIENT");
    const giver = new Flow(s, { direction: "extract", credit: 10 });
    const taker = new Flow(c, { direction: "inject", credit: 10 });
    const [clientBot] = await Promise.all([giver.bot({ timeout: 5000 }), taker.bot({ timeout: 5000 })]);
    assert.equal(clientBot.label, '{"flow": "BOT", "credit": 10, "direction": "inject"}');
    const total = 2000;
    let sent = 0;
    let taken = 0;
    let most = 0;
    const producing = (async () => {
      for (let i = 0; i < total; i++) {
        await giver.put(new Message({ payload: [String(i)] }));
        sent++;
        most = Math.max(most, sent - taken);
      }
      return giver.eot({ timeout: 10_000 });
    })();
    for (;;) {
      let m: Message | null;
      try {
        m = await taker.get({ timeout: 10_000 });
      } catch (error) {
        assert.ok(error instanceof FlowEndedError, String(error));
        break;
      }
      assert.ok(m);
      assert.equal(Number(m.seqno), taken + 1); // BOT was 0
      assert.equal(m.payload[0]!.toString(), String(taken));
      taken++;
      if (taken === 1) assert.equal(m.label, '{"flow": "DAT"}');
      await yieldTurn(); // the slow consumer
    }
    const echo = await producing;
    assert.equal(echo.label, '{"flow": "EOT"}');
    assert.equal(taken, total);
    assert.ok(most <= 10, `in flight peaked at ${most}`);
    assert.ok(most >= 1);
    assert.ok(giver.ended && taker.ended);
    await s.close();
    await c.close();
  });

  test("100,000 messages at credit 10 from another process to a slow consumer", { timeout: 60_000 }, async () => {
    await using port = new Port("taker", "ROUTER");
    port.bind();
    await port.online();
    // The giver offers 100; this server lowers it to 10.
    const taker = new Flow(port, { direction: "inject", credit: 10 });
    const total = 100_000;
    const child = spawn(
      process.execPath,
      [join(distDir, "test", "zio", "flow-child.js"), "DEALER", port.addresses[0]!, "100", String(total)],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      await taker.bot({ timeout: 10_000 });
      assert.equal(taker.totalCredit, 10);
      let taken = 0;
      for (;;) {
        let m: Message | null;
        try {
          // A DAT beyond the credit would fail this get with a FlowError: the flow counts them.
          m = await taker.get({ timeout: 20_000 });
        } catch (error) {
          assert.ok(error instanceof FlowEndedError, String(error));
          break;
        }
        assert.ok(m, "a DAT within 20 s");
        assert.equal(Number(m.seqno), taken + 1);
        taken++;
        if (taken % 100 === 0) await yieldTurn(); // slower than the giver
      }
      assert.equal(taken, total);
      assert.equal(await exited, 0, output);
      assert.deepEqual(JSON.parse(output), { echo: '{"flow": "EOT"}', credit: 10 });
    } finally {
      child.kill("SIGKILL");
    }
  });

  test("over ROUTER/DEALER the server lowers its credit to the client's; EOT from the taker drains", {
    timeout: 10_000,
  }, async () => {
    const [s, c] = await pair("ROUTER", "DEALER");
    const taker = new Flow(s, { direction: "inject", credit: 8 });
    const giver = new Flow(c, { direction: "extract", credit: 3 });
    const [theirBot, serverBot] = await Promise.all([
      taker.bot({ timeout: 5000 }),
      giver.bot({ timeout: 5000, message: new Message({ label: '{"stream": "x"}' }) }),
    ]);
    assert.equal(theirBot.label, '{"stream": "x", "flow": "BOT", "credit": 3, "direction": "extract"}');
    assert.equal(serverBot.label, '{"flow": "BOT", "credit": 3, "direction": "inject"}');
    assert.equal(taker.totalCredit, 3);
    assert.equal(giver.totalCredit, 3);
    for (let i = 0; i < 3; i++) await giver.put(new Message({ label: '{"n": 1}' }));
    const first = (await taker.get({ timeout: 5000 }))!;
    assert.equal(first.label, '{"n": 1, "flow": "DAT"}');
    const echo = taker.eot({ timeout: 5000 });
    // The giver sees the end while waiting for credit, and has echoed it.
    await assert.rejects(
      (async () => {
        for (;;) await giver.put(new Message(), { timeout: 5000 });
      })(),
      FlowEndedError,
    );
    assert.equal((await echo).label, '{"flow": "EOT"}');
    await s.close();
    await c.close();
  });

  test("a wait for a DAT or for credit ends at its timeout or signal, with its typed error", {
    timeout: 10_000,
  }, async () => {
    const { s, c, taker, giver } = await flowingPair();
    assert.equal(await taker.get({ timeout: 20 }), null); // nothing sent yet
    await giver.put(new Message(), { timeout: 5000 });
    await giver.put(new Message(), { timeout: 5000 });
    // No credit left, and the taker takes nothing, so no PAY comes.
    await assert.rejects(giver.put(new Message(), { timeout: 20 }), {
      name: "TimeoutError",
      message: /no PAY within 20 ms/,
    });
    const controller = new AbortController();
    const waiting = giver.put(new Message(), { signal: controller.signal });
    await new Promise(setImmediate); // the put is waiting for credit now, not still queued
    controller.abort();
    await assert.rejects(waiting, { name: "AbortError" });
    await assert.rejects(giver.put(new Message(), { signal: controller.signal }), { name: "AbortError" });
    assert.ok(await taker.get({ timeout: 5000 })); // what was sent before is still there
    // The ports first: a flow's receive loop ends with its port (Flow.close waits for it).
    await s.close();
    await c.close();
    await taker.close();
    await giver.close();
  });

  test("an EOT wait ends when its flow closes, even when its signal aborts in the same turn", {
    timeout: 10_000,
  }, async () => {
    for (const abortToo of [false, true]) {
      const [s, c] = await pair("ROUTER", "DEALER");
      const taker = new Flow(s, { direction: "inject", credit: 2 });
      const giver = new Flow(c, { direction: "extract", credit: 2 });
      await Promise.all([taker.bot({ timeout: 5000 }), giver.bot({ timeout: 5000 })]);
      const giverClosed = giver.close(); // it will not echo the EOT (its loop ends on the next message)
      const controller = new AbortController();
      const echo = taker.eot({ signal: controller.signal, timeout: 60_000 });
      await new Promise(setImmediate); // the EOT is sent and its echo awaited
      const closed = taker.close();
      if (abortToo) controller.abort(); // the close woke the wait first: this abort fires before it re-arms
      await assert.rejects(echo, abortToo ? /FlowEnded|Abort/ : FlowEndedError);
      await s.close();
      await c.close();
      await Promise.all([closed, giverClosed]);
    }
  });

  test("close() stops a flow whose peer is silent, and the port keeps what comes after", {
    timeout: 10_000,
  }, async () => {
    const { s, c, taker, giver } = await flowingPair();
    // Both loops wait for a message that never comes: close() must not wait for one, twice.
    await Promise.all([taker.close(), giver.close()]);
    await Promise.all([taker.close(), giver[Symbol.asyncDispose]()]);
    // The loop's receive was abandoned: receivers that give up, and those after them, keep order.
    assert.equal(await s.recv({ timeout: 20 }), null);
    const controller = new AbortController();
    const aborted = s.recv({ signal: controller.signal });
    controller.abort();
    await assert.rejects(aborted, AbortError);
    const timedOut = s.recv({ timeout: 1 });
    const plain = s.recv();
    assert.equal(await timedOut, null);
    await c.send(new Message({ payload: ["first after the flow"] }));
    await c.send(new Message({ payload: ["second"] }));
    assert.equal((await plain)?.payload[0]?.toString(), "first after the flow");
    assert.equal((await s.recv({ timeout: 5000 }))?.payload[0]?.toString(), "second");
    // Offline and online again: nothing of the old socket is left for the new one.
    const c3 = new Port("c3", "DEALER");
    c3.connect(s.addresses[0]!);
    await c3.online();
    const other = new Flow(s, { direction: "inject", credit: 2 });
    const again = new Flow(c3, { direction: "extract", credit: 2 });
    await Promise.all([other.bot({ timeout: 5000 }), again.bot({ timeout: 5000 })]);
    await other.close();
    await s.offline();
    await s.online();
    const fresh = new Port("c2", "DEALER");
    fresh.connect(s.addresses[0]!);
    await fresh.online();
    await fresh.send(new Message({ payload: ["on the new socket"] }));
    assert.equal((await s.recv({ timeout: 5000 }))?.payload[0]?.toString(), "on the new socket");
    await again.close();
    await fresh.close();
    await c3.close();
    await s.close();
    await c.close();
  });

  test("protocol violations are FlowErrors", { timeout: 10_000 }, async () => {
    // A BOT with the same direction.
    const [s, c] = await pair("SERVER", "CLIENT");
    const a = new Flow(s, { direction: "extract" });
    const b = new Flow(c, { direction: "extract" });
    const results = await Promise.allSettled([a.bot({ timeout: 2000 }), b.bot({ timeout: 2000 })]);
    assert.ok(results[0].status === "rejected" && results[0].reason instanceof FlowError);
    await s.close();
    await c.close();

    // Too much PAY, from a raw DEALER that speaks ZIO framing.
    const port = new Port("g", "ROUTER");
    port.bind();
    await port.online();
    const giver = new Flow(port, { direction: "extract", credit: 2 });
    const raw = new zmq.Dealer({ linger: 0 });
    raw.connect(port.addresses[0]!);
    const bot = new Message({ form: "FLOW", label: pyJson({ flow: "BOT", credit: 2, direction: "inject" }) });
    await raw.send(["", ...bot.encode()]);
    await giver.bot({ timeout: 5000 });
    await raw.receive(); // the server's BOT
    const pay = new Message({ form: "FLOW", label: pyJson({ flow: "PAY", credit: 3 }) });
    await raw.send(["", ...pay.encode()]);
    await assert.rejects(giver.put(new Message(), { timeout: 5000 }), FlowError);
    raw.close();
    await port.close();
    assert.throws(() => new Flow(port, { direction: "sideways" as never }), /direction/);
  });
});
