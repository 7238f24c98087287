/**
 * Codecs: how values become frames and back. MessagePack comes from msgpackr, chosen by
 * measurement on this machine (zerorpc event, 108 B): pack 0.75 µs and unpack 0.31 µs against
 * 1.18 µs and 0.67 µs for @msgpack/msgpack, with byte-identical output. Records are disabled so
 * it writes standard MessagePack (str for strings, bin for bytes) that Python peers read.
 */
import { addExtension, Packr, RESET_BUFFER_MODE } from "msgpackr";
import { ProtocolError } from "./errors.js";

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

/** Marks a Map for the object codec, which must keep Maps apart from plain objects. */
class TaggedMap {
  constructor(readonly entries: unknown[]) {}
}
addExtension({
  Class: TaggedMap,
  type: EXT_MAP,
  write: (tagged: TaggedMap) => tagged.entries,
  read: (entries: unknown) => new Map(entries as [unknown, unknown][]),
} as never);

/**
 * The packer for the wire: standard MessagePack as Python's msgpack writes it (fixmaps, str, bin,
 * `undefined` as nil). Maps decode to plain objects, bin to Buffer.
 */
const wirePackr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  variableMapSize: true,
  encodeUndefinedAsNil: true,
});

/** The packer for JS objects: adds tags for Map, Set, BigInt and typed arrays (see README). */
const objectPackr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  variableMapSize: true,
  moreTypes: true,
  useBigIntExtension: true,
});

/** Encodes a value as standard MessagePack, the way Python's msgpack would. */
export function packWire(value: unknown): Buffer {
  return wirePackr.pack(value);
}

/**
 * {@link packWire} into the packer's own scratch space: the result is only valid until the next
 * pack of any kind, so the caller must copy it out at once. Saves the allocation on hot paths
 * that copy anyway (the RPC event encoder).
 */
export function packWireTransient(value: unknown): Buffer {
  return wirePackr.pack(value, RESET_BUFFER_MODE);
}

/**
 * Decodes one standard MessagePack value.
 * @throws {ProtocolError} when the bytes are not exactly one valid MessagePack value.
 */
export function unpackWire(frame: Uint8Array): unknown {
  try {
    return wirePackr.unpack(frame);
  } catch (error) {
    throw new ProtocolError(`malformed MessagePack (${(error as Error).message})`, { cause: error });
  }
}

/** Replaces Maps by tagged entries, copying only the parts of the value that contain a Map. */
function tagMaps(value: unknown): unknown {
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
  if (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null) return value;
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(value)) {
    const item = (value as Record<string, unknown>)[key];
    const tagged = tagMaps(item);
    if (tagged !== item) {
      copy ??= { ...(value as Record<string, unknown>) };
      copy[key] = tagged;
    }
  }
  return copy ?? value;
}

/**
 * Encodes a JS value so that {@link unpackObject} gives back the same types: everything
 * {@link packWire} carries plus Date (timestamp ext -1), Map (ext 0x6d), Set (ext 0x73), BigInt
 * (ext 0x42), typed arrays (ext 0x74), `undefined`, Error and RegExp. This is zerokit's
 * `send_pyobj`: a Python peer reads the plain parts and sees the tagged ones as ExtType.
 */
export function packObject(value: unknown): Buffer {
  return objectPackr.pack(tagMaps(value));
}

/**
 * Decodes what {@link packObject} wrote.
 * @throws {ProtocolError} when the bytes are not one valid value.
 */
export function unpackObject(frame: Uint8Array): unknown {
  try {
    return objectPackr.unpack(frame);
  } catch (error) {
    throw new ProtocolError(`malformed MessagePack (${(error as Error).message})`, { cause: error });
  }
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
export const msgpackCodec: Codec<unknown> = { name: "msgpack", encode: packWire, decode: unpackWire };

/** MessagePack with JS type tags (see {@link packObject}); zerokit's `send_pyobj`. */
export const objectCodec: Codec<unknown> = { name: "object", encode: packObject, decode: unpackObject };

/** Bytes as they are. */
export const rawCodec: Codec<Buffer> = {
  name: "raw",
  encode: (value) => value,
  decode: (frame) => (Buffer.isBuffer(frame) ? frame : Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength)),
};
