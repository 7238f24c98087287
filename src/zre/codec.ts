/**
 * The ZRE mailbox codec (ZRE v2, as Zyre 2.x and pyre speak it): frame 0 is `AA A1`, a command
 * id, version 2, a 16-bit sequence and the command's fields; WHISPER and SHOUT carry the
 * application's frames after it. Decoding is bounded by the frame itself: every declared length
 * and count is checked against the bytes left before anything is allocated, so a hostile frame
 * costs at most its own size and ends in a {@link ProtocolError}.
 */
import { ProtocolError } from "../core/errors.js";

/** The command ids this side understands. ELECT (8) and LEADER (9) decode as `"UNKNOWN"`. */
export const ZRE_COMMANDS = {
  HELLO: 1,
  WHISPER: 2,
  SHOUT: 3,
  JOIN: 4,
  LEAVE: 5,
  PING: 6,
  "PING-OK": 7,
  GOODBYE: 10,
} as const;

export type ZreCommand = keyof typeof ZRE_COMMANDS;

/** One decoded (or to be encoded) mailbox message. Strings are UTF-8; invalid bytes from others become U+FFFD. */
export type ZreMessage =
  | {
      command: "HELLO";
      sequence: number;
      endpoint: string;
      groups: string[];
      status: number;
      name: string;
      headers: ReadonlyMap<string, string>;
    }
  | { command: "WHISPER"; sequence: number; content: Buffer[] }
  | { command: "SHOUT"; sequence: number; group: string; content: Buffer[] }
  | { command: "JOIN" | "LEAVE"; sequence: number; group: string; status: number }
  | { command: "PING" | "PING-OK" | "GOODBYE"; sequence: number }
  /** A well-formed header with an id this side does not know (Zyre's ELECT and LEADER): ignored. */
  | { command: "UNKNOWN"; id: number; sequence: number };

const SIGNATURE_0 = 0xaa;
const SIGNATURE_1 = 0xa1;
const VERSION = 2;
const EMPTY = Buffer.alloc(0);
const NAMES = new Map<number, ZreCommand>(Object.entries(ZRE_COMMANDS).map(([k, v]) => [v, k as ZreCommand]));

/** Encodes `message` as the frames to send on a DEALER: frame 0, then the content (an empty content is one empty frame). */
export function encodeZre(message: ZreMessage): Buffer[] {
  if (message.command === "UNKNOWN") throw new ProtocolError("cannot encode an unknown command");
  const w = new Writer();
  w.u8(SIGNATURE_0);
  w.u8(SIGNATURE_1);
  w.u8(ZRE_COMMANDS[message.command]);
  w.u8(VERSION);
  w.u16(message.sequence & 0xffff);
  switch (message.command) {
    case "HELLO":
      w.string(message.endpoint);
      w.u32(message.groups.length);
      for (const group of message.groups) w.longstr(Buffer.from(group, "utf8"));
      w.u8(message.status & 0xff);
      w.string(message.name);
      w.u32(message.headers.size);
      for (const [key, value] of message.headers) {
        w.string(key);
        w.longstr(Buffer.from(value, "utf8"));
      }
      break;
    case "SHOUT":
      w.string(message.group);
      break;
    case "JOIN":
    case "LEAVE":
      w.string(message.group);
      w.u8(message.status & 0xff);
      break;
    default:
      break;
  }
  const frame0 = w.finish();
  if (message.command === "WHISPER" || message.command === "SHOUT") {
    return message.content.length === 0 ? [frame0, EMPTY] : [frame0, ...message.content];
  }
  return [frame0];
}

/**
 * Decodes the frames of one mailbox message (without the ROUTER's identity frame).
 *
 * @throws {ProtocolError} for a wrong signature or version, a truncated field, a declared length
 * or count larger than what is left.
 */
export function decodeZre(frames: readonly Buffer[]): ZreMessage {
  const frame0 = frames[0];
  if (frame0 === undefined) throw new ProtocolError("ZRE message without frames");
  const r = new Reader(frame0, "ZRE");
  if (r.u8() !== SIGNATURE_0 || r.u8() !== SIGNATURE_1) throw new ProtocolError("not a ZRE message (bad signature)");
  const id = r.u8();
  const version = r.u8();
  if (version !== VERSION) throw new ProtocolError(`ZRE version ${version} (only ${VERSION} is spoken)`);
  const sequence = r.u16();
  const command = NAMES.get(id);
  let message: ZreMessage;
  switch (command) {
    case "HELLO": {
      const endpoint = r.string();
      const groups = r.strings();
      const status = r.u8();
      const name = r.string();
      const headers = r.hash();
      message = { command, sequence, endpoint, groups, status, name, headers };
      break;
    }
    case "WHISPER":
      message = { command, sequence, content: frames.slice(1) };
      break;
    case "SHOUT":
      message = { command, sequence, group: r.string(), content: frames.slice(1) };
      break;
    case "JOIN":
    case "LEAVE":
      message = { command, sequence, group: r.string(), status: r.u8() };
      break;
    case "PING":
    case "PING-OK":
    case "GOODBYE":
      message = { command, sequence };
      break;
    default:
      // A newer peer's command: its fields are unknown, so nothing after the header is checked.
      return { command: "UNKNOWN", id, sequence };
  }
  // Bytes after the fields are left alone, as Zyre's own codec does: a later version may add fields.
  return message;
}

/** A big-endian byte writer that grows as needed; one per encode. */
export class Writer {
  #buffer = Buffer.allocUnsafe(64);
  #length = 0;

  #room(n: number): void {
    if (this.#length + n <= this.#buffer.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.#buffer.length * 2, this.#length + n));
    this.#buffer.copy(next, 0, 0, this.#length);
    this.#buffer = next;
  }

  u8(value: number): void {
    this.#room(1);
    this.#buffer[this.#length++] = value;
  }

  u16(value: number): void {
    this.#room(2);
    this.#buffer.writeUInt16BE(value, this.#length);
    this.#length += 2;
  }

  u32(value: number): void {
    this.#room(4);
    this.#buffer.writeUInt32BE(value >>> 0, this.#length);
    this.#length += 4;
  }

  bytes(value: Uint8Array): void {
    this.#room(value.length);
    this.#buffer.set(value, this.#length);
    this.#length += value.length;
  }

  /** A short string: 1-byte length. */
  string(value: string): void {
    const bytes = Buffer.from(value, "utf8");
    if (bytes.length > 255) throw new ProtocolError(`a ZRE string holds at most 255 bytes, not ${bytes.length}`);
    this.u8(bytes.length);
    this.bytes(bytes);
  }

  /** A long string: 4-byte length. */
  longstr(bytes: Uint8Array): void {
    this.u32(bytes.length);
    this.bytes(bytes);
  }

  finish(): Buffer {
    return Buffer.from(this.#buffer.subarray(0, this.#length));
  }
}

/** A big-endian reader over one frame; every read checks what is left first. */
export class Reader {
  readonly #buffer: Buffer;
  readonly #what: string;
  #offset = 0;

  constructor(buffer: Buffer, what: string) {
    this.#buffer = buffer;
    this.#what = what;
  }

  #need(n: number, field: string): void {
    if (n > this.#buffer.length - this.#offset) {
      throw new ProtocolError(
        `${this.#what} frame truncated: ${field} needs ${n} bytes, ${this.#buffer.length - this.#offset} left`,
      );
    }
  }

  u8(): number {
    this.#need(1, "a byte");
    return this.#buffer[this.#offset++]!;
  }

  u16(): number {
    this.#need(2, "a 16-bit number");
    const value = this.#buffer.readUInt16BE(this.#offset);
    this.#offset += 2;
    return value;
  }

  u32(): number {
    this.#need(4, "a 32-bit number");
    const value = this.#buffer.readUInt32BE(this.#offset);
    this.#offset += 4;
    return value;
  }

  #text(length: number, field: string): string {
    this.#need(length, field);
    const text = this.#buffer.toString("utf8", this.#offset, this.#offset + length);
    this.#offset += length;
    return text;
  }

  string(): string {
    return this.#text(this.u8(), "a string");
  }

  longstr(): string {
    return this.#text(this.u32(), "a long string");
  }

  /** A count of entries each at least `minimum` bytes long: refused before looping when they cannot fit. */
  #count(minimum: number, field: string): number {
    const count = this.u32();
    this.#need(count * minimum, `${count} ${field}`);
    return count;
  }

  strings(): string[] {
    const count = this.#count(4, "strings");
    const list: string[] = [];
    for (let i = 0; i < count; i++) list.push(this.longstr());
    return list;
  }

  hash(): Map<string, string> {
    const count = this.#count(5, "hash entries");
    const map = new Map<string, string>();
    for (let i = 0; i < count; i++) {
      const key = this.string();
      map.set(key, this.longstr());
    }
    return map;
  }
}
