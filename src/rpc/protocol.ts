/**
 * zerorpc protocol v3 on the wire: an event is the MessagePack array `[header, name, args]`.
 * See shared/protocols/zerorpc.md; ids are opaque (Python sends bin, node str) and are echoed
 * in the type they arrived in.
 */
import { randomBytes } from "node:crypto";
import { packWire, unpackWire } from "../core/codec.js";
import { ProtocolError } from "../core/errors.js";

/** A message id as it travels: Python sends bytes (bin), zerorpc-node a string. */
export type WireId = Buffer | Uint8Array | string;

/** An event header: protocol keys plus any context keys (e.g. `trace_id`). */
export interface EventHeader {
  message_id: WireId;
  v?: number;
  response_to?: WireId;
  [key: string]: unknown;
}

/** A decoded event. */
export interface RpcEvent {
  header: EventHeader;
  name: string;
  args: unknown;
}

export const PROTOCOL_VERSION = 3;
export const HEARTBEAT = "_zpc_hb";
export const MORE = "_zpc_more";
export const OK = "OK";
export const ERR = "ERR";
export const STREAM = "STREAM";
export const STREAM_DONE = "STREAM_DONE";
/** zerokit's cancel event, only ever sent to peers that said they understand it. */
export const CANCEL = "_zerokit_cancel";
/** Introspection call a zerokit server answers with its features; Python answers NameError. */
export const FEATURES = "_zerokit_features";

const PROTOCOL_KEYS = new Set(["message_id", "v", "response_to"]);

// Ids look like Python's (32 hex chars sent as bin) but come from a counter, which is cheaper
// than a UUID per event and still unique per process run.
const ID_PREFIX = randomBytes(10).toString("hex");
let idCounter = 0;

/** A fresh event id as a 32-char string (the channel key) — send it with {@link idBytes}. */
export function nextId(): string {
  idCounter = (idCounter + 1) % 0x1000000000000;
  return ID_PREFIX + idCounter.toString(16).padStart(12, "0");
}

/** The bytes of an id made by {@link nextId}, sent as msgpack bin like Python does. */
export function idBytes(id: string): Buffer {
  return Buffer.from(id, "latin1");
}

/** The channel key of a wire id: ids compare as bytes whatever msgpack type carried them. */
export function idKey(id: WireId): string {
  if (typeof id === "string") return id;
  return Buffer.isBuffer(id)
    ? id.toString("latin1")
    : Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString("latin1");
}

/** Encodes an event. Header key order follows Python's: message_id, v, response_to, context. */
export function encodeEvent(header: EventHeader, name: string, args: unknown): Buffer {
  return packWire([header, name, args]);
}

/**
 * Decodes and validates an event blob.
 * @throws {ProtocolError} for malformed MessagePack or a wrong event shape.
 */
export function decodeEvent(blob: Uint8Array): RpcEvent {
  const value = unpackWire(blob);
  if (!Array.isArray(value) || value.length !== 3) {
    throw new ProtocolError("an event must be a MessagePack array of [header, name, args]");
  }
  const [header, name, args] = value as [unknown, unknown, unknown];
  if (header === null || typeof header !== "object" || Array.isArray(header) || Buffer.isBuffer(header)) {
    throw new ProtocolError("an event header must be a map");
  }
  const h = header as EventHeader;
  if (!isWireId(h.message_id)) throw new ProtocolError("an event header must carry a message_id");
  if (h.response_to !== undefined && h.response_to !== null && !isWireId(h.response_to)) {
    throw new ProtocolError("response_to must be bytes or a string");
  }
  let eventName: string;
  if (typeof name === "string") eventName = name;
  else if (Buffer.isBuffer(name)) eventName = name.toString("utf8");
  else throw new ProtocolError("an event name must be a string");
  return { header: h, name: eventName, args };
}

function isWireId(value: unknown): value is WireId {
  return typeof value === "string" || value instanceof Uint8Array;
}

/** The context keys of a header (everything but the protocol's own keys). */
export function contextOf(header: EventHeader): Record<string, unknown> | undefined {
  let context: Record<string, unknown> | undefined;
  for (const key in header) {
    if (PROTOCOL_KEYS.has(key)) continue;
    context ??= {};
    context[key] = header[key];
  }
  return context;
}

/**
 * Splits a ROUTER message into its routing envelope (identities up to and including the empty
 * delimiter) and the event blob. A message without the delimiter (2 frames) is accepted too.
 */
export function splitEnvelope(frames: Buffer[]): { envelope: Buffer[]; blob: Buffer } | undefined {
  const last = frames.length - 1;
  if (last < 1) return undefined;
  const blob = frames[last] as Buffer;
  return { envelope: frames.slice(0, last), blob };
}
