/**
 * ZIO messages: a prefix (`"ZIO"`, a level digit, a 4-character form, a UTF-8 label), a 24-byte
 * coord (origin, granule, seqno as little-endian uint64) and payload frames, as ZIO (C++ and
 * Python) builds them. Multipart sockets carry `[prefix, coord, ...payload]`; the single-part
 * sockets (SERVER, CLIENT, RADIO, DISH) carry the same parts packed into one frame, each behind a
 * 1-byte length (or 0xFF and a 4-byte big-endian one from 255 bytes on), as CZMQ's `zmsg_encode`.
 */
import { isUtf8 } from "node:buffer";
import { InvalidArgumentError, ProtocolError } from "../core/errors.js";
import { checkObject, checkString } from "../core/options.js";

/** The level names in wire order: `undefined` is digit 0, `fatal` is 8. */
export const LEVELS = [
  "undefined",
  "trace",
  "verbose",
  "debug",
  "info",
  "summary",
  "warning",
  "error",
  "fatal",
] as const;

/** A level by name. */
export type LevelName = (typeof LEVELS)[number];
/** A level by name or by its number (0 to 8). */
export type Level = LevelName | 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8;
/** A 64-bit unsigned value: a number when it is a safe integer, a BigInt otherwise (both accepted). */
export type Uint64 = number | bigint;
/** A payload frame as given: bytes, or a string sent as UTF-8. */
export type PayloadFrame = Buffer | Uint8Array | string;

/** What {@link Message} is built from; every field is optional. */
export interface MessageInit {
  /** Default `"undefined"` (0). */
  level?: Level;
  /** Up to 4 ASCII characters, padded with spaces (`"TEXT"`, `"FLOW"`, `"JSON"`...). Default four spaces. */
  form?: string;
  /** Free UTF-8 text, often JSON. Default "". */
  label?: string;
  /** Where the message comes from. Default 0. */
  origin?: Uint64;
  /** When: microseconds since the epoch unless the application means something else. Default now. */
  granule?: Uint64;
  /** Which message in a stream. Default 0. */
  seqno?: Uint64;
  /** The payload frames. Default none. */
  payload?: readonly PayloadFrame[];
  /**
   * The peer a ROUTER or SERVER port replies to: a ROUTER routing id (bytes) or a SERVER's
   * numeric one. A received message carries its sender's.
   */
  routingId?: Buffer | number;
}

const MAX_UINT64 = 0xffff_ffff_ffff_ffffn;
/** The init a decoded message is made with: the constructor skips its checks for it. */
const DECODED: MessageInit = Object.freeze({});
const PREFIX_MAGIC = [0x5a, 0x49, 0x4f]; // "ZIO"
const COORD_SIZE = 24;
const ZERO = 0x30;
const SPACE = 0x20;
/** Parts a single-part frame may unpack into: bounds what one hostile frame makes us allocate. */
const MAX_PACKED_PARTS = 100_000;

/** Fails unless `value` is a 64-bit unsigned integer (a safe number or a BigInt), or undefined. */
export function checkUint64(name: string, value: unknown): void {
  if (value === undefined) return;
  const ok =
    typeof value === "bigint"
      ? value >= 0n && value <= MAX_UINT64
      : typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
  if (!ok) throw new InvalidArgumentError(name, value, "an integer from 0 to 2^64 - 1 (a safe number or a BigInt)");
}

/** A number when it is safe, a BigInt otherwise: the form every getter hands back. */
function normalize(value: Uint64): Uint64 {
  if (typeof value === "number") return value;
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

function checkLevel(name: string, value: unknown): void {
  if (value === undefined) return;
  if (typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= 8) return;
  if (typeof value === "string" && (LEVELS as readonly string[]).includes(value)) return;
  throw new InvalidArgumentError(name, value, `a level number 0-8 or one of ${LEVELS.join(", ")}`);
}

function levelNumber(level: Level): number {
  return typeof level === "number" ? level : (LEVELS as readonly string[]).indexOf(level);
}

function checkForm(name: string, value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== "string" || !/^[\x20-\x7e]{0,4}$/.test(value)) {
    throw new InvalidArgumentError(name, value, "at most 4 printable ASCII characters");
  }
}

function checkPayload(name: string, value: unknown): void {
  if (value === undefined) return;
  const ok = Array.isArray(value) && value.every((f) => typeof f === "string" || f instanceof Uint8Array);
  if (!ok) throw new InvalidArgumentError(name, value, "an array of frames (Buffer, Uint8Array or string)");
}

function checkRoutingId(name: string, value: unknown): void {
  if (value === undefined) return;
  if (value instanceof Uint8Array) return;
  if (typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= 0xffffffff) return;
  throw new InvalidArgumentError(name, value, "a ROUTER routing id (bytes) or a SERVER routing id (1 to 2^32 - 1)");
}

function toBuffer(frame: PayloadFrame): Buffer {
  if (typeof frame === "string") return Buffer.from(frame, "utf8");
  if (Buffer.isBuffer(frame)) return frame;
  return Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
}

function writeUint64(target: Buffer, offset: number, value: Uint64): void {
  if (typeof value === "bigint") {
    target.writeBigUInt64LE(value, offset);
    return;
  }
  // Two 32-bit halves: a safe number never needs BigInt arithmetic.
  target.writeUInt32LE(value >>> 0, offset);
  target.writeUInt32LE(Math.floor(value / 0x1_0000_0000), offset + 4);
}

function readUint64(source: Buffer, offset: number): Uint64 {
  const low = source.readUInt32LE(offset);
  const high = source.readUInt32LE(offset + 4);
  if (high < 0x20_0000) return high * 0x1_0000_0000 + low;
  return source.readBigUInt64LE(offset);
}

let lastMicros = 0;

/**
 * Microseconds since the epoch on the wall clock, ZIO's default granule (zclock_usecs):
 * `Date.now()` for the milliseconds and the monotonic clock for the microseconds within one.
 * `performance.timeOrigin + performance.now()` alone drifts from the wall clock (2 ms in a
 * fresh process on this VM, more over a long run). The two clocks' millisecond edges differ, so
 * a value is kept from stepping back less than a millisecond (a wall-clock step back passes).
 */
function nowMicros(): number {
  let micros = Date.now() * 1000 + (Math.floor(performance.now() * 1000) % 1000);
  if (micros < lastMicros && micros > lastMicros - 1000) micros = lastMicros;
  lastMicros = micros;
  return micros;
}

/**
 * A ZIO message. Fields are plain properties with checked setters; the encoded prefix and coord
 * are kept and rebuilt only when a field they hold changes, so a received message sent on as it
 * is (an echo, a relay) is never re-encoded.
 *
 * Messages are plain values: use one from any callback, but do not change one while a port is
 * sending it (the send encodes it when called, so changing it after `send()` returns is fine).
 *
 * @example
 * const m = new Message({ level: "info", form: "TEXT", label: "greeting", payload: ["hello"] });
 * const frames = m.encode(); // [prefix, coord, payload]
 * const back = Message.decode(frames);
 */
export class Message {
  #level: number;
  #form: string;
  #label: string;
  #origin: Uint64;
  #granule: Uint64;
  #seqno: Uint64;
  #payload: Buffer[];
  /** The peer a ROUTER or SERVER port replies to (see {@link MessageInit.routingId}). */
  routingId: Buffer | number | undefined;
  #prefix: Buffer | undefined;
  #coord: Buffer | undefined;

  /** @throws {InvalidArgumentError} naming the first field that is not allowed. */
  constructor(init: MessageInit = {}) {
    if (init === DECODED) {
      this.#level = 0;
      this.#form = "";
      this.#label = "";
      this.#origin = 0;
      this.#granule = 0;
      this.#seqno = 0;
      this.#payload = [];
      return;
    }
    checkObject("init", init);
    checkLevel("init.level", init.level);
    checkForm("init.form", init.form);
    checkString("init.label", init.label);
    checkUint64("init.origin", init.origin);
    checkUint64("init.granule", init.granule);
    checkUint64("init.seqno", init.seqno);
    checkPayload("init.payload", init.payload);
    checkRoutingId("init.routingId", init.routingId);
    this.#level = init.level === undefined ? 0 : levelNumber(init.level);
    this.#form = (init.form ?? "").padEnd(4, " ");
    this.#label = init.label ?? "";
    this.#origin = normalize(init.origin ?? 0);
    this.#granule = normalize(init.granule ?? nowMicros());
    this.#seqno = normalize(init.seqno ?? 0);
    this.#payload = (init.payload ?? []).map(toBuffer);
    this.routingId = init.routingId;
  }

  /** The level's name. Set it by name or number. */
  get level(): LevelName {
    return LEVELS[this.#level]!;
  }
  set level(value: Level) {
    checkLevel("level", value);
    this.#level = levelNumber(value);
    this.#prefix = undefined;
  }

  /** The level's number, 0 (`undefined`) to 8 (`fatal`). */
  get levelNumber(): number {
    return this.#level;
  }

  /** The form, always 4 characters (space padded). */
  get form(): string {
    return this.#form;
  }
  set form(value: string) {
    checkForm("form", value);
    this.#form = value.padEnd(4, " ");
    this.#prefix = undefined;
  }

  get label(): string {
    return this.#label;
  }
  set label(value: string) {
    if (typeof value !== "string") throw new InvalidArgumentError("label", value, "a string");
    this.#label = value;
    this.#prefix = undefined;
  }

  get origin(): Uint64 {
    return this.#origin;
  }
  set origin(value: Uint64) {
    checkUint64("origin", value);
    this.#origin = normalize(value);
    this.#coord = undefined;
  }

  get granule(): Uint64 {
    return this.#granule;
  }
  set granule(value: Uint64) {
    checkUint64("granule", value);
    this.#granule = normalize(value);
    this.#coord = undefined;
  }

  get seqno(): Uint64 {
    return this.#seqno;
  }
  set seqno(value: Uint64) {
    checkUint64("seqno", value);
    this.#seqno = normalize(value);
    this.#coord = undefined;
  }

  /** The payload frames (received frames are the Buffers ZeroMQ handed over, not copies). */
  get payload(): Buffer[] {
    return this.#payload;
  }
  set payload(value: readonly PayloadFrame[]) {
    checkPayload("payload", value);
    this.#payload = value.map(toBuffer);
  }

  /** The prefix frame: `ZIO`, level digit, form, label. */
  get prefix(): Buffer {
    if (this.#prefix === undefined) {
      this.#prefix = Buffer.from(`ZIO${this.#level}${this.#form}${this.#label}`, "utf8");
    }
    return this.#prefix;
  }

  /** The coord frame: origin, granule, seqno as little-endian uint64. */
  get coord(): Buffer {
    if (this.#coord === undefined) {
      const coord = Buffer.allocUnsafe(COORD_SIZE);
      writeUint64(coord, 0, this.#origin);
      writeUint64(coord, 8, this.#granule);
      writeUint64(coord, 16, this.#seqno);
      this.#coord = coord;
    }
    return this.#coord;
  }

  /**
   * The multipart form `[prefix, coord, ...payload]`.
   *
   * @example
   * await push.send(message.encode());
   */
  encode(): Buffer[] {
    const payload = this.#payload;
    if (payload.length === 1) return [this.prefix, this.coord, payload[0]!];
    return [this.prefix, this.coord, ...payload];
  }

  /**
   * The single-part form the SERVER, CLIENT, RADIO and DISH sockets carry: every part of
   * {@link encode} behind its length.
   *
   * @example
   * await client.send(message.pack());
   */
  pack(): Buffer {
    return packParts(this.encode());
  }

  /**
   * The label parsed as JSON (`{}` for an empty label), as ZIO's `label_object`.
   * @throws {ProtocolError} when the label is not JSON.
   */
  labelObject(): unknown {
    if (this.#label === "") return {};
    try {
      return JSON.parse(this.#label) as unknown;
    } catch (error) {
      throw new ProtocolError(`the label is not JSON: ${JSON.stringify(this.#label.slice(0, 80))}`, { cause: error });
    }
  }

  /**
   * Reads the multipart form. The frames are kept, not copied.
   *
   * @throws {ProtocolError} for fewer than 2 parts, a prefix that is not `ZIO` + a level digit +
   *   4 ASCII characters + UTF-8, or a coord that is not 24 bytes.
   * @example
   * const m = Message.decode(await pull.receive());
   */
  static decode(frames: readonly Uint8Array[], routingId?: Buffer | number): Message {
    if (!Array.isArray(frames) || frames.length < 2) {
      throw new ProtocolError(`a ZIO message has at least 2 parts, got ${Array.isArray(frames) ? frames.length : 0}`);
    }
    const prefix = toBuffer(frames[0]!);
    const coord = toBuffer(frames[1]!);
    const level = checkPrefix(prefix);
    if (coord.length !== COORD_SIZE) {
      throw new ProtocolError(`a ZIO coord is ${COORD_SIZE} bytes, got ${coord.length}`);
    }
    const message = new Message(DECODED);
    message.#init(prefix, coord, level, frames.length === 2 ? [] : frames.slice(2).map(toBuffer), routingId);
    return message;
  }

  /**
   * Reads the single-part form (see {@link pack}).
   * @throws {ProtocolError} for a truncated length or part, or parts that are not a ZIO message.
   */
  static unpack(frame: Uint8Array, routingId?: Buffer | number): Message {
    return Message.decode(unpackParts(toBuffer(frame)), routingId);
  }

  #init(prefix: Buffer, coord: Buffer, level: number, payload: Buffer[], routingId: Buffer | number | undefined): void {
    this.#level = level;
    this.#form = prefix.toString("latin1", 4, 8);
    this.#label = prefix.length === 8 ? "" : prefix.toString("utf8", 8);
    this.#origin = readUint64(coord, 0);
    this.#granule = readUint64(coord, 8);
    this.#seqno = readUint64(coord, 16);
    this.#payload = payload;
    this.routingId = routingId;
    this.#prefix = prefix;
    this.#coord = coord;
  }

  toString(): string {
    return `zio.Message "ZIO${this.#level}${this.#form}${this.#label}" [${this.#origin},${this.#granule},${this.#seqno}] + ${this.#payload.length} part(s)`;
  }
}

/** Checks a prefix frame and returns its level. */
function checkPrefix(prefix: Buffer): number {
  if (
    prefix.length < 8 ||
    prefix[0] !== PREFIX_MAGIC[0] ||
    prefix[1] !== PREFIX_MAGIC[1] ||
    prefix[2] !== PREFIX_MAGIC[2]
  ) {
    throw new ProtocolError("a ZIO prefix starts with ZIO, a level digit and a 4-character form");
  }
  const level = prefix[3]! - ZERO;
  if (level < 0 || level > 8) throw new ProtocolError(`a ZIO level is a digit 0-8, got byte ${prefix[3]}`);
  for (let i = 4; i < 8; i++) {
    const byte = prefix[i]!;
    if (byte < SPACE || byte > 0x7e) throw new ProtocolError("a ZIO form is 4 printable ASCII characters");
  }
  let ascii = true;
  for (let i = 8; i < prefix.length; i++) {
    if (prefix[i]! >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (!ascii && !isUtf8(prefix.subarray(8))) throw new ProtocolError("a ZIO label is UTF-8");
  return level;
}

/** Packs parts into one frame, each behind a 1-byte length (< 255) or 0xFF + a 4-byte big-endian one. */
export function packParts(parts: readonly Uint8Array[]): Buffer {
  let size = 0;
  for (const part of parts) size += (part.length < 255 ? 1 : 5) + part.length;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const part of parts) {
    if (part.length < 255) {
      out[at++] = part.length;
    } else {
      out[at] = 0xff;
      out.writeUInt32BE(part.length, at + 1);
      at += 5;
    }
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Reverses {@link packParts}; the parts are views into `frame`. */
export function unpackParts(frame: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  let at = 0;
  while (at < frame.length) {
    if (parts.length >= MAX_PACKED_PARTS)
      throw new ProtocolError(`a packed message has over ${MAX_PACKED_PARTS} parts`);
    let size = frame[at++]!;
    if (size === 0xff) {
      if (at + 4 > frame.length) throw new ProtocolError("a packed message ends inside a part length");
      size = frame.readUInt32BE(at);
      at += 4;
    }
    if (at + size > frame.length) {
      throw new ProtocolError(`a packed part of ${size} bytes runs past the end of the frame`);
    }
    parts.push(frame.subarray(at, at + size));
    at += size;
  }
  return parts;
}
