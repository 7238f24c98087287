/** Endpoint validation, shorthands, defaultAddress() and bindToRandomPort(). */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { describe, test } from "node:test";
import {
  AddressInUseError,
  bindToRandomPort,
  defaultAddress,
  EndpointError,
  InvalidArgumentError,
  normalizeEndpoint,
  Pull,
  Push,
  parseEndpoint,
  Rep,
  Req,
} from "../../src/index.js";
import { texts } from "../helpers.js";

const T = { timeout: 10_000 };

const BAD = [
  ["tcp://127.0.0.1", "any"],
  ["foo://x", "any"],
  ["tcp://host:99999", "any"],
  ["tcp://*:*", "connect"],
  ["tcp://127.0.0.1:*", "connect"],
  ["tcp://*:5555", "connect"],
  ["", "any"],
  ["127.0.0.1:5555", "any"],
  ["tcp://", "any"],
  ["tcp://bad host:1", "any"],
  [`ipc://${"x".repeat(200)}`, "any"],
] as const;

describe("bad endpoints", () => {
  for (const [endpoint, use] of BAD) {
    test(`${JSON.stringify(endpoint)} is rejected for ${use} before any socket is touched`, T, async () => {
      const isNamed = (error: unknown) =>
        error instanceof EndpointError &&
        error.code === "EENDPOINT" &&
        error.endpoint === endpoint &&
        error.message.includes(JSON.stringify(endpoint)) &&
        // A failure reported by ZeroMQ would carry it as the cause: these come from the parser.
        error.cause === undefined;
      assert.throws(() => parseEndpoint(endpoint, use), isNamed);
      await using socket = new Req();
      assert.throws(() => socket.connect(endpoint), isNamed);
      if (use === "any") await assert.rejects(socket.bind(endpoint), isNamed);
      assert.equal(socket.lastEndpoint, null);
    });
  }

  test("a well-formed endpoint that cannot be bound is an EndpointError naming it", T, async () => {
    await using b = new Pull();
    const address = "ipc:///nonexistent-zerokit-dir/x.sock";
    await assert.rejects(b.bind(address), (error: unknown) => {
      return error instanceof EndpointError && error.message.includes(address) && error.cause !== undefined;
    });
  });

  test("a bind on a busy port is an AddressInUseError (EADDRINUSE), not an invalid endpoint", T, async () => {
    await using a = new Pull();
    await using b = new Pull();
    const address = await a.bind("tcp://127.0.0.1:*");
    await assert.rejects(b.bind(address), (error: unknown) => {
      assert.ok(error instanceof AddressInUseError, String(error));
      assert.equal(error.code, "EADDRINUSE");
      assert.equal(error.endpoint, address);
      assert.equal(error.message, `address already in use: ${address}`);
      assert.ok(!(error instanceof EndpointError));
      return error.cause !== undefined;
    });
  });
});

describe("endpoint shorthands", () => {
  test("normalisation", T, () => {
    assert.equal(normalizeEndpoint("tcp://0:1234"), "tcp://0.0.0.0:1234");
    assert.equal(normalizeEndpoint("tcp://127.0.0.1:0"), "tcp://127.0.0.1:*");
    assert.equal(normalizeEndpoint("tcp://*:*", "bind"), "tcp://*:*");
    assert.equal(normalizeEndpoint("tcp://localhost:5555", "connect"), "tcp://localhost:5555");
    assert.equal(normalizeEndpoint("tcp://[::1]:5555"), "tcp://[::1]:5555");
    assert.deepEqual(parseEndpoint("tcp://0:4242"), { transport: "tcp", host: "0.0.0.0", port: 4242 });
    assert.deepEqual(parseEndpoint("ipc:///tmp/x.sock"), { transport: "ipc", path: "/tmp/x.sock" });
    assert.deepEqual(parseEndpoint("inproc://name"), { transport: "inproc", name: "name" });
  });

  for (const shorthand of ["tcp://127.0.0.1:0", "tcp://127.0.0.1:*", "tcp://*:*", "tcp://0:0"]) {
    test(`binding ${shorthand} gives a real, connectable address`, T, async () => {
      await using rep = new Rep();
      await using req = new Req();
      const address = await rep.bind(shorthand);
      const match = /^tcp:\/\/127\.0\.0\.1:(\d+)$/.exec(address);
      assert.ok(match, address);
      assert.ok(Number(match[1]) > 0);
      req.connect(address);
      await req.send("hi");
      assert.deepEqual(texts(await rep.receive()), ["hi"]);
    });
  }

  test("defaultAddress() is a fresh ipc path under the temp dir on Linux", T, async (t) => {
    const a = defaultAddress();
    const b = defaultAddress();
    assert.notEqual(a, b);
    if (process.platform !== "linux") {
      t.skip("ipc default is Linux-specific");
      return;
    }
    assert.ok(a.startsWith(`ipc://${tmpdir()}/`), a);
    t.after(() => rmSync(a.slice("ipc://".length), { force: true })); // libzmq leaves the file
    await using pull = new Pull();
    await using push = new Push();
    const address = await pull.bind(a);
    assert.equal(address, a);
    push.connect(address);
    await push.send("via default");
    assert.deepEqual(texts(await pull.receive()), ["via default"]);
  });
});

describe("bindToRandomPort", () => {
  test("binds inside [min, max) and the port works", T, async () => {
    await using pull = new Pull();
    await using push = new Push();
    const port = await bindToRandomPort(pull, "tcp://127.0.0.1", { min: 41000, max: 42000, maxTries: 50 });
    assert.ok(Number.isInteger(port) && port >= 41000 && port < 42000, String(port));
    push.connect(`tcp://127.0.0.1:${port}`);
    await push.send("random");
    assert.deepEqual(texts(await pull.receive()), ["random"]);
  });

  test("gives up with EndpointError when every try finds the port taken", T, async () => {
    await using taken = new Pull();
    await using pull = new Pull();
    const port = Number(/:(\d+)$/.exec(await taken.bind("tcp://127.0.0.1:*"))![1]);
    await assert.rejects(
      bindToRandomPort(pull, "tcp://127.0.0.1", { min: port, max: port + 1, maxTries: 3 }),
      (error: unknown) => error instanceof EndpointError && /after 3 tries/.test(error.message),
    );
  });

  test("rejects a host endpoint with a port, a non-tcp endpoint, or a bad range", T, async () => {
    await using pull = new Pull();
    await assert.rejects(bindToRandomPort(pull, "tcp://127.0.0.1:5555"), EndpointError);
    await assert.rejects(bindToRandomPort(pull, "ipc:///tmp/x"), EndpointError);
    await assert.rejects(bindToRandomPort(pull, "tcp://127.0.0.1", { min: 10, max: 5 }), InvalidArgumentError);
    assert.equal(pull.lastEndpoint, null);
  });
});
