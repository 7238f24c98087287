/** Codecs: the send/receive helpers over real sockets, the object codec's types, and wire bytes. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  jsonCodec,
  msgpackCodec,
  Pair,
  ProtocolError,
  packObject,
  packWire,
  stringCodec,
  unpackObject,
  unpackWire,
} from "../../src/index.js";
import { freshEndpoint, transports, vectorsDir } from "../helpers.js";

const T = { timeout: 10_000 };

const TYPED_ARRAYS = [
  new Int8Array([-128, -1, 0, 1, 127]),
  new Uint8Array([0, 1, 254, 255]),
  new Uint8ClampedArray([0, 128, 255]),
  new Int16Array([-32768, -1, 0, 32767]),
  new Uint16Array([0, 1, 65535]),
  new Int32Array([-2147483648, -1, 0, 2147483647]),
  new Uint32Array([0, 1, 4294967295]),
  new Float32Array([-1.5, 0, 3.25, Number.POSITIVE_INFINITY]),
  new Float64Array([-1e300, 0, Math.PI, Number.NaN]),
  new BigInt64Array([-(2n ** 63n), -1n, 0n, 2n ** 63n - 1n]),
  new BigUint64Array([0n, 1n, 2n ** 64n - 1n]),
];

/** Every kind of value the object codec promises to keep. */
function richValue() {
  return {
    date: new Date(1_700_000_000_123),
    map: new Map<unknown, unknown>([
      ["a", 1],
      [2, "two"],
      ["nested", new Map([["inner", new Set([1, 2])]])],
    ]),
    inObject: { deeper: { map: new Map([["k", [1, 2, 3]]]) } },
    inArray: [1, new Map([["x", new Date(0)]]), [new Map()]],
    set: new Set(["a", 1, null]),
    smallBig: 42n,
    negativeBig: -42n,
    hugeBig: 2n ** 200n + 12345n,
    hugeNegativeBig: -(3n ** 150n),
    undef: undefined,
    arrayWithUndefined: [undefined, 1],
    nil: null,
    text: "héllo ✓",
    float: 0.1,
    typed: TYPED_ARRAYS,
    offsetView: new Float64Array([1, 2, 3, 4, 5]).subarray(1, 4),
  };
}

/** Like deepEqual, but a Uint8Array may come back as a Buffer (its subclass) with the same bytes. */
function assertRich(actual: ReturnType<typeof richValue>, expected: ReturnType<typeof richValue>) {
  const { typed: gotTyped, ...gotRest } = actual;
  const { typed: wantTyped, ...wantRest } = expected;
  assert.deepEqual(gotRest, wantRest);
  assert.equal(gotTyped.length, wantTyped.length);
  wantTyped.forEach((want, i) => {
    const got = gotTyped[i];
    if (want.constructor === Uint8Array) {
      assert.ok(got instanceof Uint8Array);
      assert.deepEqual([...got], [...want]);
    } else {
      assert.equal(got?.constructor, want.constructor, want.constructor.name);
      assert.deepEqual(got, want, want.constructor.name);
    }
  });
}

describe("object codec (packObject/unpackObject)", () => {
  test("keeps Date, Map (nested), Set, BigInt, undefined and every TypedArray kind", T, () => {
    const value = richValue();
    assertRich(unpackObject(packObject(value)) as ReturnType<typeof richValue>, value);
    // Each on its own, at top level.
    const { typed: _typed, ...rest } = value;
    for (const item of Object.values(rest)) assert.deepEqual(unpackObject(packObject(item)), item);
    for (const array of TYPED_ARRAYS) {
      const back = unpackObject(packObject(array)) as ArrayBufferView;
      assert.ok(back instanceof array.constructor);
    }
  });

  test("a typed array decodes aligned even at an odd offset in the blob", T, () => {
    const back = unpackObject(packObject(["x", new Float64Array([1.5, 2.5])])) as [string, Float64Array];
    assert.deepEqual(back[1], new Float64Array([1.5, 2.5]));
    assert.equal(back[1].byteOffset % 8, 0);
  });

  test("malformed input is a ProtocolError", T, () => {
    assert.throws(() => unpackObject(Buffer.from([0x92, 0x01])), ProtocolError);
    assert.throws(() => unpackWire(Buffer.from([0x92, 0x01])), ProtocolError);
  });
});

describe("wire codec (packWire)", () => {
  test("packWire is byte-identical to Python msgpack for zerorpc server replies", T, () => {
    const file = join(vectorsDir, "zerorpc", "server_replies.json");
    const vectors = JSON.parse(readFileSync(file, "utf8")) as {
      scenarios: Record<string, { replies: { hex: string; event: unknown }[] }>;
    };
    const fromJson = (value: unknown): unknown => {
      if (Array.isArray(value)) return value.map(fromJson);
      if (value !== null && typeof value === "object") {
        const record = value as Record<string, unknown>;
        if (typeof record.$bin === "string" && Object.keys(record).length === 1) return Buffer.from(record.$bin, "hex");
        return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, fromJson(v)]));
      }
      return value;
    };
    let checked = 0;
    for (const [name, scenario] of Object.entries(vectors.scenarios)) {
      for (const reply of scenario.replies) {
        const event = fromJson(reply.event);
        assert.equal(packWire(event).toString("hex"), reply.hex, name);
        assert.deepEqual(unpackWire(Buffer.from(reply.hex, "hex")), event, name);
        checked++;
      }
    }
    assert.ok(checked >= 15, `only ${checked} vectors`);
  });

  test("typed arrays travel as plain bin bytes (not msgpackr's element copy)", T, () => {
    const array = new Float64Array([1.5, -2.25]);
    const back = unpackWire(packWire({ data: array })) as { data: Buffer };
    assert.ok(Buffer.from(array.buffer).equals(back.data));
  });
});

for (const transport of transports) {
  describe(`codec helpers over ${transport}`, () => {
    test("sendString/receiveString, sendJson/receiveJson, sendMsgpack/receiveMsgpack", T, async () => {
      await using a = new Pair();
      await using b = new Pair();
      b.connect(await a.bind(freshEndpoint(transport)));
      await b.sendString("grüße ✓");
      assert.equal(await a.receiveString(), "grüße ✓");
      const json = { a: [1, 2.5, null, true], b: { c: "d" } };
      await b.sendJson(json);
      assert.deepEqual(await a.receiveJson(), json);
      const packed = { id: Buffer.from([0, 1, 255]), n: -7, f: 0.5, s: "x", list: [1, "2"] };
      await b.sendMsgpack(packed);
      assert.deepEqual(await a.receiveMsgpack(), packed);
      await b.sendAs(jsonCodec, [1, 2]);
      assert.deepEqual(await a.receiveAs(jsonCodec), [1, 2]);
    });

    test("sendObject/receiveObject round-trips rich values", T, async () => {
      await using a = new Pair();
      await using b = new Pair();
      b.connect(await a.bind(freshEndpoint(transport)));
      const value = richValue();
      await b.sendObject(value);
      assertRich(await a.receiveObject(), value);
    });

    test("decoding failures are ProtocolErrors and the socket keeps working", T, async () => {
      await using a = new Pair();
      await using b = new Pair();
      b.connect(await a.bind(freshEndpoint(transport)));
      await b.send(Buffer.from([0xff, 0xfe]));
      await assert.rejects(a.receiveString(), ProtocolError);
      await b.send("{not json");
      await assert.rejects(a.receiveJson(), ProtocolError);
      await b.send(["two", "frames"]);
      await assert.rejects(a.receiveMsgpack(), ProtocolError);
      await b.send(Buffer.from([0x93, 0x01]));
      await assert.rejects(a.receiveObject(), ProtocolError);
      await assert.rejects(b.sendJson(undefined), TypeError);
      await b.sendString("ok");
      assert.equal(await a.receiveString(), "ok");
    });
  });
}

test("codecs are plain encode/decode pairs", T, () => {
  assert.equal(stringCodec.decode(stringCodec.encode("x")), "x");
  assert.deepEqual(msgpackCodec.decode(msgpackCodec.encode({ a: 1 })), { a: 1 });
});
