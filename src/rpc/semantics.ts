/**
 * What zerorpc events mean, decided once for the client, the server and the CLI: which event
 * names mean what (and protocol v2's swap of two of them), the shapes their args must have (OK's
 * `[result]`, ERR's error tuple, a credit grant), and how a message carries its events (one
 * event after an optional delimiter, or a zerokit batch). The bytes themselves are
 * {@link ./protocol.ts}'s business; this module only reads and builds their meaning.
 */
import { ProtocolError } from "../core/errors.js";
import type { Message } from "../core/socket.js";
import {
  BATCH_MARKER,
  CANCEL,
  ERR,
  HEARTBEAT,
  isBatchMarker,
  MORE,
  OK,
  PROTOCOL_VERSION,
  STREAM,
  STREAM_DONE,
} from "./protocol.js";

/**
 * What an event means. A reply is `"ok"`, `"error"`, `"stream-item"` or `"stream-end"`; on an open
 * channel either side may send `"heartbeat"` and `"credit"` (the receiver of a stream grants
 * items), a zerokit client `"cancel"`; any other name is `"call"` (a request for that method).
 */
export type EventMeaning = "ok" | "error" | "stream-item" | "stream-end" | "heartbeat" | "credit" | "cancel" | "call";

const MEANINGS = new Map<string, EventMeaning>([
  [OK, "ok"],
  [ERR, "error"],
  [STREAM, "stream-item"],
  [STREAM_DONE, "stream-end"],
  [HEARTBEAT, "heartbeat"],
  [MORE, "credit"],
  [CANCEL, "cancel"],
]);

/**
 * What the event `name` means in protocol `version` (default the current one). Protocol v2
 * swapped the names of the heartbeat and credit events, so a v2 peer's `_zpc_more` is a
 * heartbeat; a server answers a call in the version the call came in.
 *
 * @example
 * meaningOf("_zpc_hb");    // "heartbeat"
 * meaningOf("_zpc_hb", 2); // "credit"
 */
export function meaningOf(name: string, version: number = PROTOCOL_VERSION): EventMeaning {
  const meaning = MEANINGS.get(name) ?? "call";
  if (version >= 3) return meaning;
  return meaning === "heartbeat" ? "credit" : meaning === "credit" ? "heartbeat" : meaning;
}

/**
 * The name to send a heartbeat or credit grant under in protocol `version` (see {@link meaningOf}).
 *
 * @example
 * send(channelEventName("heartbeat", channel.version), [0]);
 */
export function channelEventName(meaning: "heartbeat" | "credit", version: number = PROTOCOL_VERSION): string {
  const swapped = version < 3;
  return (meaning === "heartbeat") !== swapped ? HEARTBEAT : MORE;
}

/** Whether OK's args have the one shape allowed, `[result]`. */
export function isOkArgs(args: unknown): args is [unknown] {
  return Array.isArray(args) && args.length === 1;
}

/**
 * The credit a `_zpc_more` grants: its first arg, an integer > 0 (a bigint is read as a number).
 * Undefined for any other shape, which is a protocol error.
 */
export function creditOf(args: unknown): number | undefined {
  const raw = Array.isArray(args) ? (args[0] as unknown) : undefined;
  const n = typeof raw === "bigint" ? Number(raw) : raw;
  return typeof n === "number" && Number.isInteger(n) && n > 0 ? n : undefined;
}

/** A remote error as ERR carries it. */
export interface ErrorTuple {
  /** The error's name or class, e.g. `"ValueError"`. */
  readonly name: string;
  readonly message: string;
  /** The remote traceback or stack, as text (may be empty). */
  readonly traceback: string;
}

function isText(value: unknown): value is string | Uint8Array | null | undefined {
  return value === undefined || value === null || typeof value === "string" || value instanceof Uint8Array;
}

function text(value: string | Uint8Array | null | undefined): string {
  if (value === undefined || value === null) return "";
  return typeof value === "string" ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString();
}

/**
 * The error an ERR event's args describe: `[name, message, traceback]`, each text (str or bin) or
 * nil; protocol v1 sends `[repr]` alone, read as a `"RemoteError"` with that message. Undefined
 * for any other shape, which is a protocol error.
 *
 * @example
 * readErrorTuple(["ValueError", "bad", "Traceback..."]); // { name: "ValueError", ... }
 */
export function readErrorTuple(args: unknown): ErrorTuple | undefined {
  if (!Array.isArray(args) || args.length === 0 || args.length > 3) return undefined;
  const [name, message, traceback] = args as unknown[];
  if (!isText(name) || !isText(message) || !isText(traceback)) return undefined;
  return args.length === 1
    ? { name: "RemoteError", message: text(name), traceback: "" }
    : { name: text(name), message: text(message), traceback: text(traceback) };
}

/**
 * The `[name, message, stack]` args of an ERR event for a thrown value. Never throws: a handler
 * may throw anything, including objects whose toString throws.
 *
 * @example
 * send(ERR, errorTupleOf(error));
 */
export function errorTupleOf(error: unknown): [string, string, string] {
  try {
    if (error instanceof Error) {
      const name = error.name || error.constructor.name;
      return [String(name), String(error.message), typeof error.stack === "string" ? error.stack : ""];
    }
    return ["Error", String(error), ""];
  } catch {
    return ["Error", "an error value that cannot be turned into text", ""];
  }
}

/** A short account of a received value for an error message (never its whole content). */
export function describeValue(value: unknown): string {
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value === null) return "nil";
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  return typeof value === "object" ? "a map" : typeof value;
}

/** The ProtocolError for a reply whose args do not fit its event (OK's `[result]`, ERR's tuple). */
export function replyShapeError(meaning: "ok" | "error", args: unknown): ProtocolError {
  return meaning === "ok"
    ? new ProtocolError(`OK must carry [result], got ${describeValue(args)}`)
    : new ProtocolError(`ERR must carry [name, message, traceback] as text, got ${describeValue(args)}`);
}

/**
 * Where the events of a message are, after `routing` routing frames (a ROUTER's identity): a
 * zerokit batch is the {@link BATCH_MARKER} followed by one event per frame; otherwise the event
 * is the last frame. Returns the index of the first event frame and whether it is a batch.
 *
 * @example
 * const { first, batch } = eventFrames(frames, 1); // on a ROUTER
 */
export function eventFrames(frames: Message, routing: number): { first: number; batch: boolean } {
  if (frames.length - routing >= 2 && isBatchMarker(frames[routing])) return { first: routing + 1, batch: true };
  return { first: frames.length - 1, batch: false };
}

/**
 * The one event of a reply a DEALER received (`[delimiter, event]` with zerorpc framing, `[event]`
 * with zerokit's), the first event of a batch, or -1 for a layout the protocol does not allow.
 * With `batch` true, every frame from `first` on is an event.
 */
export function replyFrames(frames: Message): { first: number; batch: boolean } {
  const n = frames.length;
  const head = frames[0];
  if (n === 1) return { first: 0, batch: false };
  if (n === 2 && head !== undefined && head.length === 0) return { first: 1, batch: false };
  if (n > 1 && isBatchMarker(head)) return { first: 1, batch: true };
  return { first: -1, batch: false };
}

/**
 * The frames that carry `events` (encoded events for one peer) as one message: the event alone,
 * or a zerokit batch. Returns `events` itself for one event (no copy).
 *
 * @example
 * socket.post(batchFrames(held));
 */
export function batchFrames(events: Buffer[]): Buffer[] {
  return events.length === 1 ? events : [BATCH_MARKER, ...events];
}
