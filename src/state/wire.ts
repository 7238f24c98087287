/**
 * The state server's wire contract, the one place both sides read it from: the method names, the
 * argument tuple of each (namespace first), what each answers, the header that carries a
 * writer's origin, and the change record a watch streams. Values always travel encoded (bytes of
 * one value in the object codec), so the server stores and relays them without decoding.
 */

/** An encoded value: the bytes of one value in the object codec. */
export type Encoded = Buffer;

/** The header a write carries its writer's origin in (recorded in the change). */
export const ORIGIN_HEADER = "zk_origin";

/** The atomic operations of the `op` method. */
export const OPERATIONS = ["increment", "append", "remove", "merge", "compareAndSet", "setIfAbsent", "pop"] as const;
export type Operation = (typeof OPERATIONS)[number];

/** What a watch streams: first the seq it starts at, then one {@link WireChange} per change. */
export type WatchItem = number | WireChange;

/** The change record watchers receive: `[seq, time, key, before, after, origin]`. */
export type WireChange = [
  seq: number,
  time: number,
  key: string,
  before: Encoded | null,
  after: Encoded | null,
  origin: string | null,
];

/** Each method's arguments, as sent (the namespace first; `ping` sends an empty one). */
export interface Requests {
  ping: [namespace: string];
  get: [namespace: string, key: string];
  /** The values and versions of keys, for a transaction's reads. */
  getv: [namespace: string, keys: string[]];
  /** One key's value with the server's seq it was read at, for a wait on that key alone. */
  getseq: [namespace: string, key: string];
  set: [namespace: string, key: string, value: Encoded];
  del: [namespace: string, key: string];
  has: [namespace: string, key: string];
  keys: [namespace: string];
  entries: [namespace: string];
  size: [namespace: string];
  clear: [namespace: string];
  update: [namespace: string, entries: [string, Encoded][]];
  replace: [namespace: string, entries: [string, Encoded][]];
  snapshot: [namespace: string];
  /** `args` is the encoding of the operation's argument list. */
  op: [namespace: string, key: string, operation: Operation, args: Encoded];
  /** Applies `writes` (a nil value deletes) only if every read key still has its version. */
  commit: [namespace: string, reads: [string, number][], writes: [string, Encoded | null][]];
  mutate: [namespace: string, mutation: string, args: Encoded];
  /** A stream of {@link WatchItem}s; `since` a seq, `sinceTime` ms since the epoch, both nil for live. */
  watch: [namespace: string, keys: string[] | null, since: number | null, sinceTime: number | null];
}

/** What each method answers. */
export interface Replies {
  ping: ["pong", number];
  get: Encoded | null;
  getv: [Encoded | null, number][];
  /** The current seq (a watch from seq + 1 misses no later change), then the value. */
  getseq: [number, Encoded | null];
  /** The seq of the change (the current seq when nothing changed). */
  set: number;
  /** Whether the key existed. */
  del: boolean;
  has: boolean;
  keys: string[];
  entries: [string, Encoded][];
  size: number;
  /** How many keys there were. */
  clear: number;
  update: number;
  replace: number;
  snapshot: [number, [string, Encoded][]];
  /** The encoded result of the operation. */
  op: Encoded;
  /** Whether it applied. */
  commit: boolean;
  mutate: Encoded;
  watch: WatchItem;
}

export type Method = keyof Requests;

/** A method's arguments after the namespace (what a State passes). */
export type ArgsOf<M extends Method> = Requests[M] extends [string, ...infer Rest] ? Rest : never;

/** Methods that write, so carry the writer's origin in {@link ORIGIN_HEADER}. */
export const WRITE_METHODS: ReadonlySet<Method> = new Set<Method>([
  "set",
  "del",
  "clear",
  "update",
  "replace",
  "op",
  "commit",
  "mutate",
]);

/** The record of a stored change as it is streamed. */
export function wireChange(change: {
  seq: number;
  time: number;
  key: string;
  before: Encoded | null;
  after: Encoded | null;
  origin: string | null;
}): WireChange {
  return [change.seq, change.time, change.key, change.before, change.after, change.origin];
}
