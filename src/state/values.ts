/**
 * The State client's value encoding: the object codec (`packObject`/`unpackObject`), with the
 * scalars most state holds (counters, flags, timestamps, null) written and read here directly.
 * The bytes are exactly the codec's (msgpackr with `useRecords: false`: the smallest integer
 * form for 32-bit integers, float64 for other non-integers), so any reader, Python's included,
 * sees no difference. What it spares: a client process that sets and gets numbers never runs
 * msgpackr's object encoder, whose optimizing compile alone costs ~90 ms of CPU per process
 * (it comes late, after ~1000 calls, so a short-lived client pays it in its busiest time), and
 * each such value skips the codec's tagging walk and its `__proto__` scan.
 */
import { packObject, unpackObject } from "../core/codec.js";

/** Encodes a value as {@link packObject} does. */
export function packValue(value: unknown): Buffer {
  if (typeof value === "number") {
    if (value >>> 0 === value) {
      // A 32-bit unsigned integer (and -0, which the codec writes as 0 too).
      if (value < 0x80) return Buffer.from([value]);
      if (value < 0x100) return Buffer.from([0xcc, value]);
      if (value < 0x10000) return Buffer.from([0xcd, value >> 8, value & 0xff]);
      const out = Buffer.allocUnsafe(5);
      out[0] = 0xce;
      out.writeUInt32BE(value, 1);
      return out;
    }
    if (value >> 0 === value) {
      if (value >= -0x20) return Buffer.from([0x100 + value]);
      if (value >= -0x80) return Buffer.from([0xd0, value + 0x100]);
      const out = Buffer.allocUnsafe(value >= -0x8000 ? 3 : 5);
      if (out.length === 3) {
        out[0] = 0xd1;
        out.writeInt16BE(value, 1);
      } else {
        out[0] = 0xd2;
        out.writeInt32BE(value, 1);
      }
      return out;
    }
    // Wider integers take the codec's int64 path; other numbers (fractions, NaN, ±Infinity) are float64.
    if (!Number.isInteger(value)) {
      const out = Buffer.allocUnsafe(9);
      out[0] = 0xcb;
      out.writeDoubleBE(value, 1);
      return out;
    }
  } else if (typeof value === "boolean") return Buffer.from([value ? 0xc3 : 0xc2]);
  else if (value === null) return Buffer.from([0xc0]);
  return packObject(value);
}

/** Decodes what {@link packValue} (or any writer of the object codec) wrote, as {@link unpackObject} does. */
export function unpackValue(bytes: Uint8Array): unknown {
  const length = bytes.length;
  const first = bytes[0] as number;
  if (length === 1) {
    if (first < 0x80) return first;
    if (first >= 0xe0) return first - 0x100;
    if (first === 0xc0) return null;
    if (first === 0xc2) return false;
    if (first === 0xc3) return true;
  } else {
    const view = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, length);
    switch (first) {
      case 0xcc:
        if (length === 2) return view[1];
        break;
      case 0xcd:
        if (length === 3) return view.readUInt16BE(1);
        break;
      case 0xce:
        if (length === 5) return view.readUInt32BE(1);
        break;
      case 0xd0:
        if (length === 2) return view.readInt8(1);
        break;
      case 0xd1:
        if (length === 3) return view.readInt16BE(1);
        break;
      case 0xd2:
        if (length === 5) return view.readInt32BE(1);
        break;
      case 0xcb:
        if (length === 9) return view.readDoubleBE(1);
        break;
    }
  }
  return unpackObject(bytes);
}
