/**
 * A map key "__proto__" is a peer's data like any other: msgpackr alone renames it to "__proto_"
 * (to protect the prototype), so zerokit's decoders keep it as an own property instead, in the
 * wire codec, the object codec and through an RPC call, and the object's prototype stays
 * Object.prototype.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { packObject, packWire, unpackObject, unpackWire } from "../../src/index.js";
import { RpcClient, RpcServer } from "../../src/rpc/index.js";
import { freshEndpoint } from "../helpers.js";

// msgpack.packb({"__proto__": 1, "a": {"__proto__": [1, {"__proto__": "x"}]}, "b": 2}) in Python.
const PYTHON_BYTES = "83a95f5f70726f746f5f5f01a16181a95f5f70726f746f5f5f920181a95f5f70726f746f5f5fa178a16202";
const EXPECTED_JSON = '{"__proto__":1,"a":{"__proto__":[1,{"__proto__":"x"}]},"b":2}';

function own(key: string, value: unknown): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
  return object;
}

function sample(): Record<string, unknown> {
  const value = own("__proto__", 1);
  value.a = own("__proto__", [1, own("__proto__", "x")]);
  value.b = 2;
  return value;
}

function assertKept(value: unknown): void {
  assert.equal(JSON.stringify(value), EXPECTED_JSON);
  assert.equal(Object.getPrototypeOf(value), Object.prototype);
  assert.ok(Object.hasOwn(value as object, "__proto__"));
  assert.equal(({} as { polluted?: unknown }).polluted, undefined);
}

test("the wire codec keeps a __proto__ key as sent, both ways, byte for byte with Python", () => {
  assertKept(unpackWire(Buffer.from(PYTHON_BYTES, "hex")));
  assert.equal(packWire(sample()).toString("hex"), PYTHON_BYTES);
  assertKept(unpackWire(Buffer.from(PYTHON_BYTES, "hex"), { int64AsBigInt: true }));
});

test("the object codec keeps __proto__ keys in objects, Maps and Sets", () => {
  const value = {
    k: sample(),
    m: new Map<unknown, unknown>([
      ["__proto__", sample()],
      [1, "one"],
    ]),
    s: new Set(["__proto__"]),
  };
  const back = unpackObject(packObject(value)) as typeof value;
  assertKept(back.k);
  assert.ok(back.m instanceof Map);
  assert.deepEqual([...back.m.keys()], ["__proto__", 1]);
  assertKept(back.m.get("__proto__"));
  assert.deepEqual([...back.s], ["__proto__"]);
});

test("a value that only mentions __proto__ as a string or in bytes decodes unchanged", () => {
  const value = { text: "__proto__", bytes: Buffer.from("__proto__"), list: ["__proto__"] };
  assert.deepEqual(unpackWire(packWire(value)), value);
});

test("an RPC echo returns an object with a __proto__ key intact", { timeout: 15_000 }, async () => {
  await using server = new RpcServer({ echo: (x: unknown) => x }, { heartbeat: 5000 });
  const address = await server.bind(freshEndpoint("tcp"));
  await using client = new RpcClient({ heartbeat: 5000, timeout: 5000 });
  client.connect(address);
  assertKept(await client.call("echo", [sample()]));
});
