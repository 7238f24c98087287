/**
 * Numbers through the RPC hot paths (the hand-written event reader and the fast encoder), checked
 * against bytes recorded from Python's msgpack (test/fixtures/vectors/msgpack/python_numbers.json).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { float64, packWire, unpackWire } from "../../src/index.js";
import { RpcClient, RpcServer } from "../../src/rpc/index.js";
import { decodeEvent, encodeFast, nextIdNumber } from "../../src/rpc/protocol.js";
import { freshEndpoint, readVector } from "../helpers.js";

const T = { timeout: 15_000 };

interface FromPython {
  python: string;
  type: "int" | "float";
  hex: string;
}
const recorded = readVector<{ from_python: FromPython[]; python_event: string }>("msgpack/python_numbers.json");
const TWO_53 = 2n ** 53n;

function expectedJs(entry: FromPython): number | bigint {
  if (entry.type === "float") return Number(entry.python);
  const n = BigInt(entry.python);
  return n >= -TWO_53 && n <= TWO_53 ? Number(n) : n;
}

test("a Python event's numbers decode by the same rule on the fast reader as in unpackWire", T, () => {
  const blob = Buffer.from(recorded.python_event, "hex");
  const event = decodeEvent(blob);
  const expected = recorded.from_python.map(expectedJs);
  assert.deepEqual(event.args, expected);
  assert.deepEqual((unpackWire(blob) as unknown[])[2], expected);
  for (const [i, entry] of recorded.from_python.entries()) {
    assert.equal(typeof (event.args as unknown[])[i], typeof expectedJs(entry), `type of Python ${entry.python}`);
  }
  // The same values one by one as header values and as scalar args.
  const prefix = Buffer.concat([Buffer.from([0x93, 0x83]), packWire("message_id"), packWire("n"), packWire("v")]);
  for (const entry of recorded.from_python) {
    const value = Buffer.from(entry.hex, "hex");
    const single = Buffer.concat([prefix, value, packWire("t"), value, packWire("OK"), value]);
    const decoded = decodeEvent(single);
    assert.equal(decoded.args, expectedJs(entry), `args ${entry.python}`);
    assert.equal(decoded.header.v, expectedJs(entry), `header v ${entry.python}`);
    assert.equal(decoded.header.t, expectedJs(entry));
  }
});

test("the fast encoder writes whole numbers as ints and float64() as floats, as Python does", T, () => {
  const args = [2 ** 31, 2 ** 32, 1764633600123, Number.MAX_SAFE_INTEGER, 2 ** 53, -(2 ** 63), float64(3), 0.5];
  const blob = encodeFast(nextIdNumber(), undefined, "echo", args);
  assert.ok(blob.subarray(blob.length - packWire(args).length).equals(packWire(args)));
  const bytesOf = (python: string) => recorded.from_python.find((e) => e.python === python)?.hex;
  let expectedArgs = "98";
  for (const python of ["2147483648", "4294967296", "1764633600123", "9007199254740991", "9007199254740992"]) {
    expectedArgs += bytesOf(python);
  }
  expectedArgs += `${bytesOf("-9223372036854775808")}${bytesOf("3.0")}${bytesOf("0.5")}`;
  assert.ok(blob.toString("hex").endsWith(expectedArgs), "args bytes equal Python's packb of the same values");
  assert.deepEqual(decodeEvent(blob).args, [
    2 ** 31,
    2 ** 32,
    1764633600123,
    Number.MAX_SAFE_INTEGER,
    2 ** 53,
    -(2n ** 63n),
    3,
    0.5,
  ]);
});

test("an RPC round trip keeps integers integers and numbers numbers", T, async () => {
  const seen: string[] = [];
  const server = new RpcServer(
    {
      echo: (x: unknown[]) => {
        for (const item of x) seen.push(typeof item);
        return x;
      },
      stamp: () => float64(1764633600123),
    },
    { name: "numbers", heartbeat: 200 },
  );
  const client = new RpcClient({ heartbeat: 200, timeout: 5000 });
  try {
    client.connect(await server.bind(freshEndpoint("tcp")));
    const values = [1764633600123, 2 ** 33, Number.MAX_SAFE_INTEGER, -(2 ** 40), 0.25, 2n ** 63n - 1n];
    assert.deepEqual(await client.call("echo", [values]), values);
    assert.deepEqual(seen, ["number", "number", "number", "number", "number", "bigint"]);
    assert.equal(await client.call("stamp", []), 1764633600123);
  } finally {
    await client[Symbol.asyncDispose]();
    await server[Symbol.asyncDispose]();
  }
});
