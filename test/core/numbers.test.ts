/**
 * Numbers keep their type between JS and Python's msgpack, checked against bytes recorded from
 * Python (test/fixtures/vectors/msgpack/python_numbers.json, see its description).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  createMsgpackCodec,
  Float64,
  float64,
  InvalidArgumentError,
  Pair,
  packObject,
  packWire,
  unpackObject,
  unpackWire,
} from "../../src/index.js";
import { freshEndpoint, vectorsDir } from "../helpers.js";

const T = { timeout: 10_000 };

interface FromPython {
  python: string;
  type: "int" | "float";
  hex: string;
}
interface FromZerokit {
  js: { kind: "number" | "float64" | "bigint"; value: string };
  hex: string;
  python_reads: { type: string; repr: string };
}
const recorded = JSON.parse(readFileSync(join(vectorsDir, "msgpack", "python_numbers.json"), "utf8")) as {
  from_python: FromPython[];
  python_event: string;
  from_zerokit: FromZerokit[];
};

const TWO_53 = 2n ** 53n;

/** What a Python value must decode to: numbers within ±2^53, BigInts beyond, floats as numbers. */
function expectedJs(entry: FromPython, int64AsBigInt = false): number | bigint {
  if (entry.type === "float") return Number(entry.python);
  const n = BigInt(entry.python);
  const sixtyFourBit = entry.hex.startsWith("cf") || entry.hex.startsWith("d3");
  if (int64AsBigInt && sixtyFourBit) return n;
  return n >= -TWO_53 && n <= TWO_53 ? Number(n) : n;
}

/** The JS value a recorded zerokit case was packed from. */
function jsValue(c: FromZerokit["js"]): unknown {
  if (c.kind === "bigint") return BigInt(c.value);
  if (c.kind === "float64") return float64(Number(c.value));
  return Number(c.value);
}

describe("numbers from Python", () => {
  test("Python ints decode as numbers up to ±2^53 and as BigInts beyond; floats as numbers", T, () => {
    assert.ok(recorded.from_python.length > 40);
    for (const entry of recorded.from_python) {
      const bytes = Buffer.from(entry.hex, "hex");
      assert.equal(unpackWire(bytes), expectedJs(entry), `unpackWire of Python ${entry.python}`);
      assert.equal(unpackObject(bytes), expectedJs(entry), `unpackObject of Python ${entry.python}`);
    }
    // The recorded boundaries, spelled out.
    const value = (python: string) => {
      const entry = recorded.from_python.find((e) => e.python === python);
      assert.ok(entry, python);
      return unpackWire(Buffer.from(entry.hex, "hex"));
    };
    assert.equal(value(String(2 ** 32)), 2 ** 32);
    assert.equal(value("1764633600123"), 1764633600123);
    assert.equal(value(String(Number.MAX_SAFE_INTEGER)), Number.MAX_SAFE_INTEGER);
    assert.equal(value(String(2 ** 53)), 2 ** 53);
    assert.equal(value(String(2n ** 53n + 1n)), 2n ** 53n + 1n);
    assert.equal(value(String(2n ** 63n - 1n)), 2n ** 63n - 1n);
    assert.equal(value(String(-(2n ** 63n))), -(2n ** 63n));
    assert.equal(value("1764633600123456789"), 1764633600123456789n);
    assert.equal(value("3.0"), 3);
  });

  test("int64AsBigInt decodes every 64-bit integer as a BigInt, whatever its value", T, () => {
    const codec = createMsgpackCodec({ int64AsBigInt: true });
    for (const entry of recorded.from_python) {
      const bytes = Buffer.from(entry.hex, "hex");
      assert.equal(codec.decode(bytes), expectedJs(entry, true), `Python ${entry.python}`);
      assert.equal(unpackWire(bytes, { int64AsBigInt: true }), expectedJs(entry, true));
      assert.equal(unpackObject(bytes, { int64AsBigInt: true }), expectedJs(entry, true));
    }
    assert.equal(createMsgpackCodec().decode(packWire(2 ** 40)), 2 ** 40);
    assert.equal(createMsgpackCodec({ int64AsBigInt: false }).decode(packWire(2 ** 40)), 2 ** 40);
  });

  test("the decoding options are checked", T, () => {
    for (const bad of [{ int64AsBigInt: "yes" }, { int64AsBigInt: 1 }, null, "auto"]) {
      assert.throws(() => createMsgpackCodec(bad as never), InvalidArgumentError);
      assert.throws(
        () => unpackWire(packWire(1), bad as never),
        (e: unknown) => {
          assert.ok(e instanceof InvalidArgumentError && e.code === "EINVAL");
          return /int64AsBigInt|options/.test(e.message);
        },
      );
    }
  });
});

describe("numbers to Python", () => {
  test("zerokit writes the bytes Python read as the recorded type", T, () => {
    for (const entry of recorded.from_zerokit) {
      const value = jsValue(entry.js);
      assert.equal(packWire(value).toString("hex"), entry.hex, `packWire of ${entry.js.kind} ${entry.js.value}`);
      const whole =
        entry.js.kind === "bigint" || (entry.js.kind === "number" && Number.isInteger(Number(entry.js.value)));
      const fits = entry.js.kind !== "number" || Math.abs(Number(entry.js.value)) < 2 ** 64;
      assert.equal(entry.python_reads.type, whole && fits ? "int" : "float", `Python's type of ${entry.js.value}`);
      if (entry.python_reads.type === "int") assert.equal(entry.python_reads.repr, BigInt(entry.js.value).toString());
    }
  });

  test("a whole JS number is packed exactly as Python packs that int, whatever its size", T, () => {
    let compared = 0;
    for (const entry of recorded.from_python) {
      if (entry.type !== "int") continue;
      const n = BigInt(entry.python);
      if (BigInt(Number(n)) !== n) continue; // not a JS number
      assert.equal(packWire(Number(n)).toString("hex"), entry.hex, `packWire(${entry.python})`);
      assert.equal(packObject(Number(n)).toString("hex"), entry.hex, `packObject(${entry.python})`);
      compared++;
    }
    assert.ok(compared >= 30, `${compared} ints compared`);
    // Nested, as Map keys and in Sets too, and the caller's value is left alone.
    const value = { at: 1764633600123, list: [2 ** 33, { deep: -(2 ** 40) }], map: new Map([[2 ** 40, 2 ** 41]]) };
    const bytes = packWire(value);
    assert.equal(bytes.indexOf(0xcb), -1, "no float64 in the bytes");
    assert.deepEqual(unpackWire(bytes), {
      at: 1764633600123,
      list: [2 ** 33, { deep: -(2 ** 40) }],
      map: { [String(2 ** 40)]: 2 ** 41 },
    });
    assert.equal(value.list[0], 2 ** 33);
    assert.equal(packWire(new Set([2 ** 33])).toString("hex"), `91${packWire(2 ** 33).toString("hex")}`);
  });

  test("float64() keeps a whole number a float for Python, as packb(3.0) writes it", T, () => {
    let compared = 0;
    for (const entry of recorded.from_python) {
      if (entry.type !== "float") continue;
      const x = Number(entry.python);
      assert.equal(packWire(float64(x)).toString("hex"), entry.hex, `float64(${entry.python})`);
      assert.equal(packObject([float64(x)]).toString("hex"), `91${entry.hex}`);
      compared++;
    }
    assert.ok(compared >= 5);
    assert.equal(packWire(3).toString("hex"), "03", "a plain 3 stays an int");
    assert.deepEqual(unpackWire(packWire({ price: float64(3) })), { price: 3 });
    assert.ok(float64(2) instanceof Float64);
    assert.equal(+float64(2.5), 2.5);
    assert.throws(() => float64("3" as never), TypeError);
  });
});

describe("the object codec keeps JS types", () => {
  test("numbers stay numbers and BigInts stay BigInts, whatever their size", T, () => {
    const value = [
      2 ** 40,
      -(2 ** 40),
      Number.MAX_SAFE_INTEGER,
      5n,
      -3n,
      2n ** 63n - 1n,
      2n ** 70n,
      0.5,
      new Map([[1n, 2 ** 33]]),
    ];
    assert.deepEqual(unpackObject(packObject(value)), value);
    assert.equal(unpackObject(packObject(0n)), 0n);
  });

  test("over a real socket, each helper keeps the types", T, async () => {
    const a = new Pair();
    const b = new Pair();
    try {
      const address = await a.bind(freshEndpoint("tcp"));
      b.connect(address);
      const payload = { at: 1764633600123, big: 2n ** 64n - 1n, f: float64(3) };
      await a.sendMsgpack(payload);
      assert.deepEqual(await b.receiveMsgpack(), { at: 1764633600123, big: 2n ** 64n - 1n, f: 3 });
      await a.sendObject({ at: 1764633600123, small: 7n });
      assert.deepEqual(await b.receiveObject(), { at: 1764633600123, small: 7n });
      await a.sendAs(createMsgpackCodec(), [2 ** 40]);
      assert.deepEqual(await b.receiveAs(createMsgpackCodec({ int64AsBigInt: true })), [2n ** 40n]);
    } finally {
      a.close();
      b.close();
    }
  });
});
