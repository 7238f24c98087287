/**
 * Codecs: how values become frames and back. MessagePack comes from msgpackr, chosen by
 * measurement on this machine (zerorpc event, 108 B): pack 0.75 µs and unpack 0.31 µs against
 * 1.18 µs and 0.67 µs for @msgpack/msgpack, with byte-identical output. Records are disabled so
 * it writes standard MessagePack (str for strings, bin for bytes) that Python peers read.
 *
 * Numbers keep their type for Python: a whole JS number is a MessagePack integer whatever its size
 * (uint64/int64 from 2^32 up and below -2^31, as Python's msgpack writes them), anything else a
 * float64, and {@link float64} marks a whole number that must stay a float. Integers decode as
 * `number` when |n| ≤ 2^53 (every such value is exact) and as `BigInt` beyond; the
 * `int64AsBigInt` option of {@link createMsgpackCodec} decodes every 64-bit integer as `BigInt`.
 */
import { isAscii, isUtf8 } from "node:buffer";
import { addExtension, Packr, RESET_BUFFER_MODE } from "msgpackr";
import { InvalidArgumentError, ProtocolError } from "./errors.js";
import { checkBoolean, checkObject } from "./options.js";

/** Turns values of type `T` into one frame and back. */
export interface Codec<T = unknown> {
  /** A short name for messages and docs. */
  readonly name: string;
  encode(value: T): Buffer;
  /** @throws {ProtocolError} when the frame is not a valid encoding. */
  decode(frame: Uint8Array): T;
}

const TypedArrayBase = Object.getPrototypeOf(Uint8Array) as abstract new (...args: never[]) => ArrayBufferView;
const TYPED_ARRAY_KINDS = [
  "Int8Array",
  "Uint8Array",
  "Uint8ClampedArray",
  "Int16Array",
  "Uint16Array",
  "Int32Array",
  "Uint32Array",
  "Float32Array",
  "Float64Array",
  "BigInt64Array",
  "BigUint64Array",
];
type TypedArrayConstructor = {
  new (buffer: ArrayBuffer, byteOffset: number, length: number): ArrayBufferView;
  BYTES_PER_ELEMENT: number;
};
const EXT_TYPED_ARRAY = 0x74;
const EXT_MAP = 0x6d;

type Allocate = (size: number) => { target: Uint8Array; targetView: DataView; position: number };

// msgpackr copies typed arrays element by element into its byte buffer (a Float64Array comes out
// as garbage, see notes/measured-traps.md #6). This replaces that for every packer: plain
// MessagePack gets the bytes as bin, the object codec tags them with their kind.
addExtension({
  Class: TypedArrayBase as unknown as new () => unknown,
  type: EXT_TYPED_ARRAY,
  pack(this: { moreTypes?: boolean }, value: ArrayBufferView, allocate: Allocate) {
    const bytes = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    const kind = TYPED_ARRAY_KINDS.indexOf(value.constructor.name);
    const tagged = this.moreTypes === true && kind !== 1 && kind >= 0;
    const length = bytes.length + (tagged ? 1 : 0);
    let header: number[];
    if (tagged) {
      header =
        length < 0x100
          ? [0xc7, length, EXT_TYPED_ARRAY, kind]
          : length < 0x10000
            ? [0xc8, length >> 8, length & 0xff, EXT_TYPED_ARRAY, kind]
            : [
                0xc9,
                (length >>> 24) & 0xff,
                (length >> 16) & 0xff,
                (length >> 8) & 0xff,
                length & 0xff,
                EXT_TYPED_ARRAY,
                kind,
              ];
    } else {
      header =
        length < 0x100
          ? [0xc4, length]
          : length < 0x10000
            ? [0xc5, length >> 8, length & 0xff]
            : [0xc6, (length >>> 24) & 0xff, (length >> 16) & 0xff, (length >> 8) & 0xff, length & 0xff];
    }
    const { target, position } = allocate(header.length + bytes.length);
    target.set(header, position);
    target.set(bytes, position + header.length);
  },
  // Registering the class above also replaces msgpackr's reader of ext 0x74, so read it here:
  // kind byte, then the bytes, copied so that the array is aligned (same codes as msgpackr).
  unpack(data: Uint8Array) {
    const kind = data[0] ?? -1;
    const bytes = new Uint8Array(data.subarray(1));
    if (kind === 16) return bytes.buffer;
    if (kind === 17) return new DataView(bytes.buffer);
    const ctor = (globalThis as unknown as Record<string, TypedArrayConstructor | undefined>)[
      TYPED_ARRAY_KINDS[kind] ?? ""
    ];
    if (!ctor) throw new Error(`unknown typed array kind ${kind}`);
    return new ctor(bytes.buffer, 0, bytes.byteLength / ctor.BYTES_PER_ELEMENT);
  },
} as never);

/**
 * A number that travels as a MessagePack float64 even when it is whole: `float64(3)` is `3.0` for
 * a Python peer, where a plain `3` would be the int `3`. It decodes to a plain `number` (JS has one
 * number type). Immutable; safe to share and to send from several calls at once.
 * @example
 * await socket.sendMsgpack({ price: float64(3) }); // Python reads {"price": 3.0}
 */
export class Float64 {
  /** The number to send. */
  readonly value: number;
  constructor(value: number) {
    if (typeof value !== "number") throw new TypeError(`Float64 wraps a number, not ${typeof value}`);
    this.value = value;
  }
  valueOf(): number {
    return this.value;
  }
}

/**
 * Marks `value` to be sent as a MessagePack float64 even when it is whole (see {@link Float64}).
 * @example
 * packWire([float64(3), 3]); // Python unpacks [3.0, 3]
 */
export function float64(value: number): Float64 {
  return new Float64(value);
}

// Float64, WideInteger and TaggedBigInt write their whole encoding themselves (no ext header),
// but msgpackr requires an ext code and installs a reader for it: this code is one nobody uses,
// and its reader fails exactly as msgpackr fails on an unknown extension.
const WRITE_ONLY_EXT = 0x7f;
function unknownExtension(): never {
  throw new Error(`Unknown extension type ${WRITE_ONLY_EXT}`);
}

addExtension({
  Class: Float64,
  type: WRITE_ONLY_EXT,
  unpack: unknownExtension,
  pack(value: Float64, allocate: Allocate) {
    const { target, targetView, position } = allocate(9);
    target[position] = 0xcb;
    targetView.setFloat64(position + 1, value.value);
  },
} as never);

/** A whole number outside int32/uint32 that fits 64 bits: written as Python writes that int. */
class WideInteger {
  constructor(readonly value: number) {}
}

const TWO_32 = 0x100000000;
const TWO_63 = 2 ** 63;
const TWO_64 = 2 ** 64;

addExtension({
  Class: WideInteger,
  type: WRITE_ONLY_EXT,
  unpack: unknownExtension,
  pack(wide: WideInteger, allocate: Allocate) {
    const n = wide.value;
    const { target, targetView, position } = allocate(9);
    // Division by 2^32 and the remainder are exact for any whole double, so no bit is lost.
    const high = Math.floor(n / TWO_32);
    const low = n - high * TWO_32;
    if (n >= 0) {
      target[position] = 0xcf;
      targetView.setUint32(position + 1, high);
    } else {
      target[position] = 0xd3;
      targetView.setInt32(position + 1, high);
    }
    targetView.setUint32(position + 5, low);
  },
} as never);

/**
 * Whether a number is whole but outside what msgpackr writes as an integer (int32/uint32), and
 * still fits a 64-bit integer. Cheap first: nearly every number fails the range test.
 */
function isWideInteger(n: number): boolean {
  return (n > 0xffffffff || n < -0x80000000) && n < TWO_64 && n >= -TWO_63 && Number.isInteger(n);
}

/** Marks a Map for the object codec, which must keep Maps apart from plain objects. */
class TaggedMap {
  constructor(readonly entries: unknown[]) {}
}
addExtension({
  Class: TaggedMap,
  type: EXT_MAP,
  write: (tagged: TaggedMap) => tagged.entries,
  read: (entries: unknown) => {
    const map = new Map(entries as [unknown, unknown][]);
    taggedMaps?.add(map);
    return map;
  },
} as never);

/**
 * The packer for the wire: standard MessagePack as Python's msgpack writes it (fixmaps, str, bin,
 * `undefined` as nil). Maps decode to plain objects, bin to Buffer.
 */
// "auto" (number within ±2^53, BigInt beyond) is in msgpackr's README and code, not its typings.
const INT64_AUTO = "auto" as "number";
const WIRE_OPTIONS = {
  useRecords: false,
  mapsAsObjects: true,
  variableMapSize: true,
  encodeUndefinedAsNil: true,
} as const;
const wirePackr = new Packr({ ...WIRE_OPTIONS, int64AsType: INT64_AUTO });
const wireBigIntPackr = new Packr({ ...WIRE_OPTIONS, int64AsType: "bigint" });

/** The packer for JS objects: adds tags for Map, Set, BigInt and typed arrays (see README). */
const OBJECT_OPTIONS = {
  useRecords: false,
  mapsAsObjects: true,
  variableMapSize: true,
  moreTypes: true,
  useBigIntExtension: true,
} as const;
const objectPackr = new Packr({ ...OBJECT_OPTIONS, int64AsType: INT64_AUTO });
const objectBigIntPackr = new Packr({ ...OBJECT_OPTIONS, int64AsType: "bigint" });

/** How MessagePack integers decode (see {@link createMsgpackCodec}). */
export interface MsgpackOptions {
  /**
   * Decode every 64-bit MessagePack integer (uint64/int64: what Python writes from 2^32 up and
   * below -2^31) as a `BigInt`, whatever its value. Default `false`: such an integer is a
   * `number` when |n| ≤ 2^53 and a `BigInt` only beyond.
   */
  int64AsBigInt?: boolean;
}

/** Checks {@link MsgpackOptions} and returns whether 64-bit integers decode as BigInt. */
function int64AsBigInt(options: MsgpackOptions | undefined): boolean {
  if (options === undefined) return false;
  checkObject("options", options);
  checkBoolean("int64AsBigInt", options.int64AsBigInt);
  return options.int64AsBigInt === true;
}

/**
 * Whether a value holds a whole number msgpackr would write as float64. This scan allocates
 * nothing, so the usual value (no such number) costs one walk; Map keys, Sets and class
 * instances are left to {@link widenIntegers}' caller rules below.
 */
function holdsWideInteger(value: unknown): boolean {
  if (typeof value === "number") return isWideInteger(value);
  if (value === null || typeof value !== "object") return false;
  if (value instanceof Date) {
    assertValidDate(value);
    return false;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (typeof item === "number" ? isWideInteger(item) : typeof item === "object" && holdsWideInteger(item))
        return true;
    }
    return false;
  }
  if (isPlainObject(value)) {
    for (const key in value) {
      const item = (value as Record<string, unknown>)[key];
      if (typeof item === "number" ? isWideInteger(item) : typeof item === "object" && holdsWideInteger(item))
        return true;
    }
    return false;
  }
  if (value instanceof Map) {
    for (const [k, v] of value) if (holdsWideInteger(k) || holdsWideInteger(v)) return true;
    return false;
  }
  if (value instanceof Set) {
    for (const item of value) if (holdsWideInteger(item)) return true;
  }
  return false;
}

/** A plain or null-prototype object; the `constructor` test first, as it is the cheaper one. */
function isPlainObject(value: object): boolean {
  if ((value as { constructor?: unknown }).constructor === Object) return true;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Replaces whole numbers msgpackr would write as float64 by {@link WideInteger}s, copying only the
 * parts of the value that hold one. Arrays, plain objects, Maps and Sets are searched; class
 * instances and what they serialise through `toJSON` are left to msgpackr.
 */
function widenIntegers(value: unknown): unknown {
  if (!holdsWideInteger(value)) return value;
  if (typeof value === "number") return new WideInteger(value);
  if (Array.isArray(value)) return value.map(widenIntegers);
  if (value instanceof Map) {
    const entries: [unknown, unknown][] = [];
    for (const [k, v] of value) entries.push([widenIntegers(k), widenIntegers(v)]);
    return new Map(entries);
  }
  if (value instanceof Set) return new Set([...value].map(widenIntegers));
  const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  for (const key in copy) setOwn(copy, key, widenIntegers(copy[key]));
  return copy;
}

/**
 * msgpackr writes an Invalid Date as `d4 ff ff`, a timestamp no MessagePack reader accepts (Python's
 * msgpack refuses the whole message), so zerokit never sends one: encoding it is an error.
 */
function assertValidDate(date: Date): void {
  if (Number.isNaN(date.getTime()))
    throw new InvalidArgumentError("value", date, "a valid Date (this one is Invalid Date)");
}

/** Sets an own property, also for a key such as "__proto__" that `copy[key] = ...` would not. */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * Encodes a value as standard MessagePack, the way Python's msgpack would: a whole number is an
 * integer whatever its size, other numbers float64, {@link float64} forces a float.
 * @example
 * packWire(1764633600123); // cf 00 00 01 9a …: Python reads the int 1764633600123
 */
export function packWire(value: unknown): Buffer {
  return wirePackr.pack(widenIntegers(value));
}

/**
 * {@link packWire} into the packer's own scratch space: the result is only valid until the next
 * pack of any kind, so the caller must copy it out at once. Saves the allocation on hot paths
 * that copy anyway (the RPC event encoder).
 */
export function packWireTransient(value: unknown): Buffer {
  return wirePackr.pack(widenIntegers(value), RESET_BUFFER_MODE);
}

// --- Large values -------------------------------------------------------------------------------
// A Buffer, typed array or string this large is never copied through msgpackr's scratch space:
// it is cut out of the value, the rest is packed with a 4-byte reference in its place (fixext 2,
// type 0x7a: kind, index), and the caller writes the bytes around it: straight into the one frame
// of a plain zerorpc event, or (zerokit framing) as a frame of its own, without any copy. A fresh
// 1 MiB allocation and copy costs milliseconds here (page faults), a copy into warm memory 70 µs.

/** Bytes (or UTF-16 units of a string) from which a value travels as a large part. */
export const LARGE_PART_BYTES = 8192;
/** Most large parts one value may have cut out (the reference holds the index in one byte). */
export const MAX_PARTS = 255;
const EXT_PART = 0x7a;
const PART_BYTES = 0;
const PART_TEXT = 1;
/** How deep {@link packWireAround} looks for large parts (deeper ones are packed inline). */
const PART_SCAN_DEPTH = 8;

/** A large part as it is cut out: typed arrays become a `Uint8Array` view over their bytes. */
export type LargePart = Uint8Array | string;

/** A value packed around its large parts (see {@link packWireAround}). */
export interface PackedAround {
  /**
   * The value as MessagePack with a reference (`d5 7a kind index`) in place of each large part.
   * Transient: it lives in the packer's scratch space until the next pack of any kind.
   */
  readonly body: Buffer;
  /** The parts, in the order of their references. */
  readonly parts: LargePart[];
  /** Where each part's reference starts in `body`. */
  readonly at: number[];
  /**
   * The UTF-8 byte length of each part; for a string, its length in UTF-16 units until
   * {@link measureAround} (exact when the string is ASCII, see {@link writeAround}).
   */
  readonly sizes: number[];
  /** Whether the string sizes are still that guess. */
  guessed: boolean;
}

class PartRef {
  constructor(
    readonly index: number,
    readonly text: boolean,
  ) {}
}
addExtension({
  Class: PartRef,
  type: WRITE_ONLY_EXT,
  unpack: unknownExtension,
  pack(ref: PartRef, allocate: Allocate) {
    const { target, position } = allocate(4);
    target[position] = 0xd5;
    target[position + 1] = EXT_PART;
    target[position + 2] = ref.text ? PART_TEXT : PART_BYTES;
    target[position + 3] = ref.index;
  },
} as never);

/** The frames that the references of the value being decoded point at (see {@link unpackWireParts}). */
let activeParts: readonly Buffer[] | undefined;
addExtension({
  type: EXT_PART,
  unpack(data: Uint8Array) {
    if (activeParts === undefined) throw new Error(`Unknown extension type ${EXT_PART}`);
    return partValue(activeParts, data[0] ?? -1, data[1] ?? -1);
  },
} as never);

/**
 * The value of a reference to a large part: the frame itself for bytes (a view, no copy), its text
 * for a string. Both are what a plain event would decode to.
 */
export function partValue(parts: readonly Buffer[], kind: number, index: number): Buffer | string {
  const frame = parts[index];
  if (frame === undefined) throw new ProtocolError(`a reference to part ${index} of ${parts.length}`);
  if (kind === PART_BYTES) return frame;
  if (kind !== PART_TEXT) throw new ProtocolError(`a reference to a part of unknown kind ${kind}`);
  // Invalid UTF-8 reads as a plain str would (U+FFFD for each bad sequence).
  return textOf(frame, 0, frame.length) ?? frame.toString("utf8");
}

/**
 * UTF-8 bytes as text, or undefined when they are not valid UTF-8 (msgpackr then decides what they
 * are). Checked ASCII is read as latin1, several times faster than the UTF-8 decoder on long text
 * (and than msgpackr's native extraction of it).
 */
export function textOf(frame: Buffer, start: number, stop: number): string | undefined {
  const bytes = frame.subarray(start, stop);
  if (isAscii(bytes)) return frame.toString("latin1", start, stop);
  return isUtf8(bytes) ? frame.toString("utf8", start, stop) : undefined;
}

function isLargePart(value: unknown): boolean {
  if (typeof value === "string") return value.length >= LARGE_PART_BYTES;
  return value instanceof TypedArrayBase && (value as ArrayBufferView).byteLength >= LARGE_PART_BYTES;
}

/** Whether a value holds a large part in arrays and plain objects within the scan depth; allocates nothing. */
function holdsLargePart(value: unknown, depth: number): boolean {
  if (typeof value !== "object" || value === null) return typeof value === "string" && isLargePart(value);
  if (isLargePart(value)) return true;
  if (depth === 0) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if ((typeof item === "object" || typeof item === "string") && holdsLargePart(item, depth - 1)) return true;
    }
    return false;
  }
  if (!isPlainObject(value)) return false;
  for (const key in value) {
    const item = (value as Record<string, unknown>)[key];
    if ((typeof item === "object" || typeof item === "string") && holdsLargePart(item, depth - 1)) return true;
  }
  return false;
}

/** Copies the containers that hold large parts, with a {@link PartRef} in each part's place. */
function cutParts(value: unknown, depth: number, parts: LargePart[]): unknown {
  if (parts.length >= MAX_PARTS || !holdsLargePart(value, depth)) return value;
  if (typeof value === "string") {
    parts.push(value);
    return new PartRef(parts.length - 1, true);
  }
  if (isLargePart(value)) {
    const view = value as ArrayBufferView;
    parts.push(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
    return new PartRef(parts.length - 1, false);
  }
  if (Array.isArray(value)) {
    const copy: unknown[] = new Array(value.length);
    for (let i = 0; i < value.length; i++) copy[i] = cutParts(value[i], depth - 1, parts);
    return copy;
  }
  const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  for (const key in copy) setOwn(copy, key, cutParts(copy[key], depth - 1, parts));
  return copy;
}

/** Whether {@link packWireAround} would cut large parts out of a value. Allocates nothing. */
export function hasLargeParts(value: unknown): boolean {
  return holdsLargePart(value, PART_SCAN_DEPTH);
}

/**
 * Packs a value as {@link packWire} does, except that its large Buffers, typed arrays and strings
 * (see {@link LARGE_PART_BYTES}) are left out, for the caller to write around the body without
 * copying them through the packer. Undefined when the value holds none.
 */
export function packWireAround(value: unknown): PackedAround | undefined {
  if (!hasLargeParts(value)) return undefined;
  const parts: LargePart[] = [];
  const cut = cutParts(value, PART_SCAN_DEPTH, parts);
  const body = wirePackr.pack(widenIntegers(cut), RESET_BUFFER_MODE);
  // Measuring a string's UTF-8 length is a pass over it as long as writing it (164 µs per MiB
  // here, then 65 to write): a string's sizes are guessed as its length, right for ASCII, and
  // writeAround tells when the guess was wrong.
  let guessed = false;
  const sizes = parts.map((part) => {
    if (typeof part !== "string") return part.byteLength;
    guessed = true;
    return part.length;
  });
  return { body, parts, at: findPartRefs(body, parts.length), sizes, guessed };
}

/** Replaces the guessed sizes of a {@link PackedAround}'s strings with their UTF-8 lengths. */
export function measureAround(packed: PackedAround): void {
  const { parts, sizes } = packed;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    if (typeof part === "string") sizes[i] = Buffer.byteLength(part, "utf8");
  }
  packed.guessed = false;
}

const utf8Encoder = new TextEncoder();

/**
 * Writes a string into exactly `bytes.length` bytes of UTF-8 without measuring it first; false
 * when it does not fit (it is not ASCII and `bytes` was sized by its length).
 */
export function writeTextGuessed(text: string, bytes: Uint8Array): boolean {
  return utf8Encoder.encodeInto(text, bytes).read === text.length;
}

/** The size of a plain MessagePack value written by {@link writeAround}. */
export function sizeAround(packed: PackedAround): number {
  let size = packed.body.length - 4 * packed.parts.length;
  for (const n of packed.sizes) size += n + (n < 0x100 ? 2 : n < 0x10000 ? 3 : 5);
  return size;
}

/**
 * Writes the plain MessagePack of a {@link PackedAround} into `out` at `offset` (the bytes
 * {@link packWire} gives for the value) and returns where it ends. Each part is copied once.
 * Returns -1 when a guessed string size was wrong (a string that is not ASCII): the caller then
 * calls {@link measureAround} and writes again into memory of the measured size.
 */
export function writeAround(packed: PackedAround, out: Buffer, offset: number): number {
  const { body, parts, at, sizes, guessed } = packed;
  let from = 0;
  for (const ref of at) {
    offset += body.copy(out, offset, from, ref);
    from = ref + 4;
    const index = body[ref + 3] as number; // the packer's order of the parts may not be ours
    const part = parts[index] as LargePart;
    const n = sizes[index] as number;
    const text = typeof part === "string";
    if (n < 0x100) {
      out[offset++] = text ? 0xd9 : 0xc4;
      out[offset++] = n;
    } else if (n < 0x10000) {
      out[offset++] = text ? 0xda : 0xc5;
      out.writeUInt16BE(n, offset);
      offset += 2;
    } else {
      out[offset++] = text ? 0xdb : 0xc6;
      out.writeUInt32BE(n, offset);
      offset += 4;
    }
    if (text) {
      if (guessed) {
        if (!writeTextGuessed(part, out.subarray(offset, offset + n))) return -1;
        offset += n;
      } else offset += out.write(part, offset, n, "utf8");
    } else {
      out.set(part, offset);
      offset += n;
    }
  }
  return offset + body.copy(out, offset, from);
}

/**
 * Where the part references are in a body this module packed. A walk over the value's type bytes
 * (a reference's bytes may also occur inside a bin or str, so a byte search would not do).
 */
function findPartRefs(body: Buffer, count: number): number[] {
  const at: number[] = [];
  let pos = 0;
  let todo = 1;
  while (todo > 0 && at.length < count) {
    todo--;
    const code = body[pos++] as number;
    if (code <= 0x7f || code >= 0xe0) continue;
    if (code <= 0x8f) todo += (code & 0x0f) * 2;
    else if (code <= 0x9f) todo += code & 0x0f;
    else if (code <= 0xbf) pos += code & 0x1f;
    else if (code === 0xd5 && body[pos] === EXT_PART) {
      at.push(pos - 1);
      pos += 3;
    } else {
      const width = LENGTH_BYTES[code] as number;
      const length =
        width === 1
          ? (body[pos] as number)
          : width === 2
            ? body.readUInt16BE(pos)
            : width === 4
              ? body.readUInt32BE(pos)
              : 0;
      pos += width;
      if (code === 0xdc || code === 0xdd) todo += length;
      else if (code === 0xde || code === 0xdf) todo += length * 2;
      else pos += length + (AFTER_LENGTH[code] as number);
    }
  }
  return at;
}

/** Bytes of the length field after a type code (0 when it has none). */
const LENGTH_BYTES = new Uint8Array(256);
/** Bytes after the length field that the length does not count (the value of fixed-size codes, an ext's type byte). */
const AFTER_LENGTH = new Uint8Array(256);
for (const [code, width, after] of [
  [0xc4, 1, 0],
  [0xc5, 2, 0],
  [0xc6, 4, 0],
  [0xc7, 1, 1],
  [0xc8, 2, 1],
  [0xc9, 4, 1],
  [0xca, 0, 4],
  [0xcb, 0, 8],
  [0xcc, 0, 1],
  [0xcd, 0, 2],
  [0xce, 0, 4],
  [0xcf, 0, 8],
  [0xd0, 0, 1],
  [0xd1, 0, 2],
  [0xd2, 0, 4],
  [0xd3, 0, 8],
  [0xd4, 0, 2],
  [0xd5, 0, 3],
  [0xd6, 0, 5],
  [0xd7, 0, 9],
  [0xd8, 0, 17],
  [0xd9, 1, 0],
  [0xda, 2, 0],
  [0xdb, 4, 0],
  [0xdc, 2, 0],
  [0xdd, 4, 0],
  [0xde, 2, 0],
  [0xdf, 4, 0],
] as const) {
  LENGTH_BYTES[code] = width;
  AFTER_LENGTH[code] = after;
}

/**
 * {@link unpackWire} for a zerokit event whose large parts travel as frames of their own: each
 * reference decodes to its frame (bytes, as a view) or to the frame's text.
 * @throws {ProtocolError} when the bytes are not one valid value or a reference is out of range.
 */
export function unpackWireParts(frame: Uint8Array, parts: readonly Buffer[]): unknown {
  activeParts = parts;
  try {
    return unpackWire(frame);
  } finally {
    activeParts = undefined;
  }
}

/**
 * Decodes one standard MessagePack value. Integers are numbers when |n| ≤ 2^53, BigInts beyond
 * (or every 64-bit integer with `int64AsBigInt`, see {@link MsgpackOptions}).
 * @throws {ProtocolError} when the bytes are not exactly one valid MessagePack value.
 * @throws {InvalidArgumentError} when an option is not allowed.
 */
export function unpackWire(frame: Uint8Array, options?: MsgpackOptions): unknown {
  const bigInts = int64AsBigInt(options);
  try {
    if (holdsProtoKey(frame)) return unpackKeepingProto(frame, bigInts ? WIRE_BIGINT : WIRE_AUTO);
    return (bigInts ? wireBigIntPackr : wirePackr).unpack(frame);
  } catch (error) {
    throw new ProtocolError(`malformed MessagePack (${(error as Error).message})`, { cause: error });
  }
}

/**
 * Replaces Maps by tagged entries, wide whole numbers by {@link WideInteger}s and BigInts by
 * {@link TaggedBigInt}s, copying only the parts of the value that hold one of them.
 */
function tagMaps(value: unknown): unknown {
  if (typeof value === "number") return isWideInteger(value) ? new WideInteger(value) : value;
  if (typeof value === "bigint") return value >= -BIGINT_2_63 && value < BIGINT_2_63 ? new TaggedBigInt(value) : value;
  if (value === null || typeof value !== "object") return value;
  if (value instanceof Map) {
    const entries: unknown[] = [];
    for (const [k, v] of value) entries.push([tagMaps(k), tagMaps(v)]);
    return new TaggedMap(entries);
  }
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const tagged = tagMaps(value[i]);
      if (tagged !== value[i]) {
        copy ??= value.slice();
        copy[i] = tagged;
      }
    }
    return copy ?? value;
  }
  if (value instanceof Set) {
    let changed = false;
    const items = [...value].map((item) => {
      const tagged = tagMaps(item);
      if (tagged !== item) changed = true;
      return tagged;
    });
    return changed ? new Set(items) : value;
  }
  if (value instanceof Date) {
    assertValidDate(value);
    return value;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null) return value;
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(value)) {
    const item = (value as Record<string, unknown>)[key];
    const tagged = tagMaps(item);
    if (tagged !== item) {
      copy ??= { ...(value as Record<string, unknown>) };
      setOwn(copy, key, tagged);
    }
  }
  return copy ?? value;
}

const BIGINT_2_63 = 2n ** 63n;

/**
 * A BigInt in the int64 range, for the object codec: msgpackr would write it as a plain int64,
 * which now decodes as a number when small; ext 0x42 (msgpackr's own BigInt tag, 8 bytes
 * big-endian two's complement here) keeps it a BigInt whatever its value.
 */
class TaggedBigInt {
  constructor(readonly value: bigint) {}
}
addExtension({
  Class: TaggedBigInt,
  type: WRITE_ONLY_EXT,
  unpack: unknownExtension,
  pack(tagged: TaggedBigInt, allocate: Allocate) {
    const { target, targetView, position } = allocate(10);
    target[position] = 0xd7; // fixext 8
    target[position + 1] = 0x42;
    targetView.setBigInt64(position + 2, tagged.value);
  },
} as never);

/**
 * Encodes a JS value so that {@link unpackObject} gives back the same types: everything
 * {@link packWire} carries plus Date (timestamp ext -1), Map (ext 0x6d), Set (ext 0x73), BigInt
 * (ext 0x42, whatever its value), typed arrays (ext 0x74), `undefined`, Error and RegExp. This is
 * zerokit's `send_pyobj`: a Python peer reads the plain parts and sees the tagged ones as ExtType.
 */
export function packObject(value: unknown): Buffer {
  return objectPackr.pack(tagMaps(value));
}

/**
 * Decodes what {@link packObject} wrote; untagged integers follow {@link unpackWire}'s rule.
 * @throws {ProtocolError} when the bytes are not one valid value.
 * @throws {InvalidArgumentError} when an option is not allowed.
 */
export function unpackObject(frame: Uint8Array, options?: MsgpackOptions): unknown {
  const bigInts = int64AsBigInt(options);
  try {
    if (holdsProtoKey(frame)) return unpackKeepingProto(frame, bigInts ? OBJECT_BIGINT : OBJECT_AUTO);
    return (bigInts ? objectBigIntPackr : objectPackr).unpack(frame);
  } catch (error) {
    throw new ProtocolError(`malformed MessagePack (${(error as Error).message})`, { cause: error });
  }
}

// msgpackr renames a map key "__proto__" to "__proto_" when it builds an object, to keep the
// prototype safe; but the key is a peer's data (a Python dict may hold it). A frame that holds
// those bytes anywhere is decoded again with maps as Maps, which are then turned into objects
// with the key as an own property. Other frames, nearly all, pay one byte search.
const PROTO_BYTES = Buffer.from("__proto__", "latin1");
const WIRE_AUTO = 0;
const WIRE_BIGINT = 1;
const OBJECT_AUTO = 2;
const OBJECT_BIGINT = 3;
type PackrKind = typeof WIRE_AUTO | typeof WIRE_BIGINT | typeof OBJECT_AUTO | typeof OBJECT_BIGINT;
const mapPackrs: (Packr | undefined)[] = [];
/** The Maps that came from the Map tag (ext 0x6d) during a decode that keeps "__proto__". */
let taggedMaps: WeakSet<Map<unknown, unknown>> | undefined;

function holdsProtoKey(frame: Uint8Array): boolean {
  return Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).indexOf(PROTO_BYTES) !== -1;
}

function mapPackr(kind: PackrKind): Packr {
  let packr = mapPackrs[kind];
  if (!packr) {
    const options = kind === WIRE_AUTO || kind === WIRE_BIGINT ? WIRE_OPTIONS : OBJECT_OPTIONS;
    const int64AsType = kind === WIRE_BIGINT || kind === OBJECT_BIGINT ? "bigint" : INT64_AUTO;
    packr = new Packr({ ...options, mapsAsObjects: false, int64AsType });
    mapPackrs[kind] = packr;
  }
  return packr;
}

function unpackKeepingProto(frame: Uint8Array, kind: PackrKind): unknown {
  const tagged = new WeakSet<Map<unknown, unknown>>();
  taggedMaps = tagged;
  let value: unknown;
  try {
    value = mapPackr(kind).unpack(frame);
  } finally {
    taggedMaps = undefined;
  }
  return objectsFromMaps(value, tagged);
}

/** Turns the MessagePack maps of a decoded value into objects (own properties), keeping tagged Maps. */
function objectsFromMaps(value: unknown, tagged: WeakSet<Map<unknown, unknown>>): unknown {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = objectsFromMaps(value[i], tagged);
    return value;
  }
  if (value instanceof Map) {
    if (tagged.has(value)) {
      const entries: [unknown, unknown][] = [];
      for (const [k, v] of value) entries.push([objectsFromMaps(k, tagged), objectsFromMaps(v, tagged)]);
      return new Map(entries);
    }
    const object: Record<string, unknown> = {};
    for (const [k, v] of value) setOwn(object, typeof k === "string" ? k : String(k), objectsFromMaps(v, tagged));
    return object;
  }
  if (value instanceof Set) return new Set([...value].map((item) => objectsFromMaps(item, tagged)));
  return value;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** UTF-8 text frames (pyzmq `send_string`). */
export const stringCodec: Codec<string> = {
  name: "string",
  encode: (value) => Buffer.from(value, "utf8"),
  decode: (frame) => {
    try {
      return utf8.decode(frame);
    } catch (error) {
      throw new ProtocolError("frame is not valid UTF-8", { cause: error });
    }
  },
};

/** JSON frames (pyzmq `send_json`). */
export const jsonCodec: Codec<unknown> = {
  name: "json",
  encode: (value) => {
    const text = JSON.stringify(value);
    if (text === undefined) throw new TypeError(`cannot encode ${typeof value} as JSON`);
    return Buffer.from(text, "utf8");
  },
  decode: (frame) => {
    try {
      return JSON.parse(stringCodec.decode(frame)) as unknown;
    } catch (error) {
      throw new ProtocolError(`malformed JSON (${(error as Error).message})`, { cause: error });
    }
  },
};

/** Standard MessagePack frames, readable by any MessagePack peer (see {@link packWire}). */
export const msgpackCodec: Codec<unknown> = { name: "msgpack", encode: packWire, decode: (frame) => unpackWire(frame) };

/**
 * A MessagePack codec with its own integer decoding (see {@link MsgpackOptions}); use it with
 * `sendAs`/`receiveAs`. Stateless, safe to share between sockets.
 * @throws {InvalidArgumentError} when an option is not allowed.
 * @example
 * const codec = createMsgpackCodec({ int64AsBigInt: true });
 * const stamp = await socket.receiveAs(codec); // time.time_ns() from Python: always a bigint
 */
export function createMsgpackCodec(options: MsgpackOptions = {}): Codec<unknown> {
  const decodeOptions = { int64AsBigInt: int64AsBigInt(options) };
  return { name: "msgpack", encode: packWire, decode: (frame) => unpackWire(frame, decodeOptions) };
}

/** MessagePack with JS type tags (see {@link packObject}); zerokit's `send_pyobj`. */
export const objectCodec: Codec<unknown> = {
  name: "object",
  encode: packObject,
  decode: (frame) => unpackObject(frame),
};

/** Bytes as they are. */
export const rawCodec: Codec<Buffer> = {
  name: "raw",
  encode: (value) => value,
  decode: (frame) => (Buffer.isBuffer(frame) ? frame : Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength)),
};
