/** Zero-copy typed arrays (pyzmq's send_array/recv_array recipe) over real sockets. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  decodeArray,
  dtypeOf,
  encodeArray,
  InvalidArgumentError,
  Pair,
  ProtocolError,
  type TypedArray,
} from "../../src/index.js";
import { freshEndpoint, type TestTransport, transports } from "../helpers.js";

const T = { timeout: 10_000 };

function samples(): { array: TypedArray; dtype: string; expected: TypedArray }[] {
  const make = <A extends TypedArray>(array: A, dtype: string, expected: TypedArray = array) => ({
    array,
    dtype,
    expected,
  });
  return [
    make(new Int8Array([-128, 0, 127, 5, 6, 7]), "|i1"),
    make(new Uint8Array([0, 1, 255, 3, 4, 5]), "|u1"),
    make(new Uint8ClampedArray([0, 128, 255, 1, 2, 3]), "|u1", new Uint8Array([0, 128, 255, 1, 2, 3])),
    make(new Int16Array([-32768, 0, 32767, 1, 2, 3]), "<i2"),
    make(new Uint16Array([0, 1, 65535, 4, 5, 6]), "<u2"),
    make(new Int32Array([-2147483648, 0, 2147483647, 1, 2, 3]), "<i4"),
    make(new Uint32Array([0, 1, 4294967295, 3, 4, 5]), "<u4"),
    make(new Float32Array([-1.5, 0, 3.25, 4, 5, Number.NEGATIVE_INFINITY]), "<f4"),
    make(new Float64Array([-1e300, 0, Math.PI, 4, 5, Number.NaN]), "<f8"),
    make(new BigInt64Array([-(2n ** 63n), 0n, 2n ** 63n - 1n, 1n, 2n, 3n]), "<i8"),
    make(new BigUint64Array([0n, 1n, 2n ** 64n - 1n, 3n, 4n, 5n]), "<u8"),
  ];
}

async function connectedPair(transport: TestTransport) {
  const a = new Pair();
  const b = new Pair();
  b.connect(await a.bind(freshEndpoint(transport)));
  return {
    a,
    b,
    async [Symbol.asyncDispose]() {
      a.close();
      b.close();
    },
  };
}

for (const transport of transports) {
  describe(`typed arrays over ${transport}`, () => {
    test("sendArray/receiveArray round-trips every TypedArray kind and shape", T, async () => {
      await using p = await connectedPair(transport);
      for (const { array, dtype, expected } of samples()) {
        for (const shape of [undefined, [6], [2, 3], [3, 2, 1]]) {
          await p.b.sendArray(array, shape ? { shape } : {});
          const got = await p.a.receiveArray();
          assert.equal(got.dtype, dtype);
          assert.deepEqual(got.shape, shape ?? [6]);
          assert.equal(got.data.constructor, expected.constructor, dtype);
          assert.deepEqual(got.data, expected, dtype);
          // A standalone frame at offset 0: the data is the frame itself, not a copy into something larger.
          assert.equal(got.data.byteOffset, 0);
          assert.equal(got.data.buffer.byteLength, got.data.byteLength);
        }
      }
    });

    test("the data is a view over the received frame (no copy) and the header is pyzmq's JSON", T, async () => {
      await using p = await connectedPair(transport);
      const array = new Float64Array(4096).map((_, i) => i * 0.5);
      await p.b.sendArray(array, { shape: [64, 64] });
      const [header, frame, ...rest] = await p.a.receive();
      assert.equal(rest.length, 0);
      assert.equal(header?.toString(), '{"dtype":"<f8","shape":[64,64]}');
      assert.deepEqual(JSON.parse(header!.toString()), { dtype: "<f8", shape: [64, 64] });
      const decoded = decodeArray(header!, frame!);
      assert.equal(decoded.data.buffer, frame!.buffer, "same memory as the frame");
      assert.equal(decoded.data.byteOffset, frame!.byteOffset);
      assert.equal(decoded.data.byteLength, frame!.byteLength);
      frame![0] = 0xff; // writing the frame shows through the view
      assert.notEqual(decoded.data[0], 0);
      assert.equal(decoded.data[4095], 4095 * 0.5);
    });

    test("a sub-array view sends only its own elements", T, async () => {
      await using p = await connectedPair(transport);
      const base = new Int32Array([0, 1, 2, 3, 4, 5, 6, 7]);
      await p.b.sendArray(base.subarray(2, 6), { shape: [2, 2] });
      const got = await p.a.receiveArray();
      assert.deepEqual(got.data, new Int32Array([2, 3, 4, 5]));
      assert.deepEqual(got.shape, [2, 2]);
    });

    test("big-endian headers (>f8, >f4, >i4, >u2, >i8) decode with a byte swap", T, async () => {
      await using p = await connectedPair(transport);
      const cases: [string, number, (v: DataView, i: number) => void, TypedArray][] = [
        [">f8", 8, (v, i) => v.setFloat64(i * 8, i + 0.25, false), new Float64Array([0.25, 1.25, 2.25])],
        [">f4", 4, (v, i) => v.setFloat32(i * 4, -i - 0.5, false), new Float32Array([-0.5, -1.5, -2.5])],
        [">i4", 4, (v, i) => v.setInt32(i * 4, -1000 * i - 1, false), new Int32Array([-1, -1001, -2001])],
        [">u2", 2, (v, i) => v.setUint16(i * 2, 0x1234 + i, false), new Uint16Array([0x1234, 0x1235, 0x1236])],
        [
          ">i8",
          8,
          (v, i) => v.setBigInt64(i * 8, -(2n ** 40n) - BigInt(i), false),
          new BigInt64Array([-(2n ** 40n), -(2n ** 40n) - 1n, -(2n ** 40n) - 2n]),
        ],
      ];
      for (const [dtype, size, write, expected] of cases) {
        const bytes = Buffer.alloc(3 * size);
        const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        for (let i = 0; i < 3; i++) write(view, i);
        await p.b.send([JSON.stringify({ dtype, shape: [3] }), bytes]);
        const got = await p.a.receiveArray();
        assert.deepEqual(got.data, expected, dtype);
        assert.equal(got.dtype, dtype);
      }
    });

    test("malformed array messages are ProtocolErrors and the socket keeps working", T, async () => {
      await using p = await connectedPair(transport);
      const bad: (string | Buffer)[][] = [
        ["not json", Buffer.alloc(8)],
        [JSON.stringify({ shape: [1] }), Buffer.alloc(8)],
        [JSON.stringify({ dtype: 8, shape: [1] }), Buffer.alloc(8)],
        [JSON.stringify({ dtype: "<c16", shape: [1] }), Buffer.alloc(16)],
        [JSON.stringify({ dtype: "<f8", shape: [2] }), Buffer.alloc(8)],
        [JSON.stringify({ dtype: "<f8", shape: "1" }), Buffer.alloc(8)],
        [JSON.stringify({ dtype: "<f8", shape: [-1] }), Buffer.alloc(8)],
        [JSON.stringify({ dtype: "<f8", shape: [1.5] }), Buffer.alloc(8)],
        [JSON.stringify({ dtype: "<f8" }), Buffer.alloc(7)],
        ["null", Buffer.alloc(8)],
        [JSON.stringify({ dtype: "<f8", shape: [1] })],
        [JSON.stringify({ dtype: "<f8", shape: [1] }), Buffer.alloc(8), Buffer.alloc(8)],
      ];
      for (const message of bad) {
        await p.b.send(message);
        await assert.rejects(p.a.receiveArray(), ProtocolError, JSON.stringify(message[0]));
      }
      await p.b.sendArray(new Float64Array([42]));
      assert.deepEqual((await p.a.receiveArray()).data, new Float64Array([42]));
    });
  });
}

describe("array encoding", () => {
  test("dtypeOf and pyzmq dtype spellings", T, () => {
    assert.equal(dtypeOf(new Float64Array(1)), "<f8");
    assert.equal(dtypeOf(Buffer.alloc(1)), "|u1");
    assert.throws(() => dtypeOf(new DataView(new ArrayBuffer(1))), InvalidArgumentError);
    const data = new Uint8Array(new Float64Array([1, 2]).buffer);
    for (const dtype of ["float64", "=f8", "<f8", "f8"]) {
      assert.deepEqual(
        decodeArray(Buffer.from(JSON.stringify({ dtype, shape: [2] })), data).data,
        new Float64Array([1, 2]),
      );
    }
    assert.deepEqual(
      decodeArray(Buffer.from('{"dtype":"bool","shape":[2]}'), new Uint8Array([1, 0])).data,
      new Uint8Array([1, 0]),
    );
  });

  test("encodeArray views the same memory and checks the shape", T, () => {
    const array = new Float32Array([1, 2, 3, 4]);
    const [header, data] = encodeArray(array, [2, 2]);
    assert.equal(header.toString(), '{"dtype":"<f4","shape":[2,2]}');
    assert.equal(data.buffer, array.buffer);
    assert.throws(() => encodeArray(array, [3, 3]), InvalidArgumentError);
    assert.throws(() => encodeArray(array, [2, -2]), InvalidArgumentError);
  });

  test("an unaligned data frame is copied once into an aligned array", T, () => {
    const bytes = new Uint8Array(17);
    new DataView(bytes.buffer).setFloat64(1, 6.5, true);
    new DataView(bytes.buffer).setFloat64(9, -7.5, true);
    const decoded = decodeArray(Buffer.from('{"dtype":"<f8","shape":[2]}'), bytes.subarray(1));
    assert.deepEqual(decoded.data, new Float64Array([6.5, -7.5]));
  });

  test("sendArray rejects a shape that does not fit, without sending", T, async () => {
    await using a = new Pair();
    await assert.rejects(a.sendArray(new Float64Array(4), { shape: [3, 3] }), InvalidArgumentError);
  });
});
