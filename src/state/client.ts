import { randomBytes } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import { isDeepStrictEqual } from "node:util";
import { packObject } from "../core/codec.js";
import { AbortError, InvalidArgumentError, LostRemoteError, RemoteError, TimeoutError } from "../core/errors.js";
import {
  checkBoolean,
  checkDuration,
  checkFunction,
  checkNumber,
  checkObject,
  checkOneOf,
  checkSignal,
  checkString,
} from "../core/options.js";
// The options module alone, not the security index: a worker process loads this file before it
// can take work, and the index would add the authenticator and certificate files it never uses.
import { type ClientSecurity, checkClientSecurity } from "../core/security/options.js";
import { waitWithin } from "../core/wait.js";
import type { PackedHeaders } from "../rpc/protocol.js";
import { stateErrorOf, TransactionConflictError } from "./errors.js";
import { packHeaders, StateLink } from "./link.js";
import { packValue, unpackValue } from "./values.js";
import {
  type ArgsOf,
  type Method,
  type Operation,
  ORIGIN_HEADER,
  type Replies,
  type Requests,
  type WireChange,
  WRITE_METHODS,
} from "./wire.js";

/** One change seen by a watcher. */
export interface Change<V = unknown> {
  /** The key that changed. */
  key: string;
  /** Its value before (undefined if it did not exist). */
  before: V | undefined;
  /** Its value after (undefined if it was deleted). */
  after: V | undefined;
  /** The server's sequence number of this change: strictly increasing, no gaps per server. */
  seq: number;
  /** When the server applied it (ms since the epoch). */
  time: number;
  /** The origin id of the State that wrote it (see {@link State.origin}). */
  origin: string | null;
}

/** Options of a {@link State}. */
export interface StateOptions {
  /** The namespace: an independent dict on the server. Default `"default"`. */
  namespace?: string;
  /** Milliseconds an operation waits for the server before failing with TimeoutError. Default 5000. */
  timeout?: number;
  /** Heartbeat period of the transport, ms. Default 5000. */
  heartbeat?: number | false;
  /**
   * Talk CURVE to the server: its public key as `curve.serverKey`, and this client's own pair
   * when the server allows only listed keys (without one: a fresh pair, encrypted but anonymous).
   * A refused handshake fails operations with `AuthenticationError` (EAUTH).
   */
  security?: ClientSecurity;
  /**
   * How messages travel. `"auto"` (the default) speaks ZMTP in plain JavaScript to a server
   * without CURVE on tcp or ipc: the same wire at about a third of the client CPU per round
   * trip, so many client processes scale. CURVE, inproc and servers it cannot speak to (found in
   * the first handshake, before anything is sent) use a zeromq.js DEALER, as `"zeromq"` always does.
   */
  transport?: "auto" | "zeromq";
}

/** Options of {@link State.watch}. */
export interface WatchOptions {
  /** Replay from this sequence number (inclusive), or from this time; default: live changes only. */
  since?: number | Date;
  /** Stops the watch (the loop ends without error). */
  signal?: AbortSignal;
  /** Skip changes written by this State (same origin). */
  excludeOwn?: boolean;
}

/** Options of the `when...` conditions. */
export interface WaitOptions {
  /**
   * Milliseconds to wait before failing with TimeoutError, the first read of the value included.
   * 0 checks the value now and waits for no change. Default: wait forever.
   */
  timeout?: number;
  /** Ends the wait, its first read included, with AbortError. */
  signal?: AbortSignal;
  /** Skip changes written by this State. */
  excludeOwn?: boolean;
}

/** Reads and buffered writes of one {@link State.transaction} attempt. */
export interface Transaction<T extends object> {
  get<K extends keyof T & string>(key: K): Promise<T[K] | undefined>;
  has(key: keyof T & string): Promise<boolean>;
  set<K extends keyof T & string>(key: K, value: T[K]): void;
  delete(key: keyof T & string): void;
}

const decode = (bytes: unknown): unknown => (bytes ? unpackValue(bytes as Buffer) : undefined);

/**
 * Sets `key` as an own property: keys are user data, and a plain assignment of `__proto__` would
 * change the object's prototype instead of adding the key.
 */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
}

/** The `[key, encoded]` pairs of a plain object's own keys, or of a Map. */
function encodeEntries(source: object, option: string): [string, Buffer][] {
  if (source instanceof Map) {
    return [...source].map(([k, v]) => {
      if (typeof k !== "string") throw new InvalidArgumentError(`${option} key`, k, "a string");
      return [k, packValue(v)];
    });
  }
  if (source === null || typeof source !== "object" || Array.isArray(source))
    throw new InvalidArgumentError(option, source, "a plain object or a Map of key → value");
  return Object.entries(source).map(([k, v]) => [k, packValue(v)]);
}

/** The keys argument of a watch or condition: undefined or a list of strings. */
function checkKeys(option: string, keys: unknown): void {
  if (keys === undefined) return;
  if (!Array.isArray(keys) || keys.some((k) => typeof k !== "string"))
    throw new InvalidArgumentError(option, keys, "a list of key names (strings)");
}

function checkWatchOptions(options: unknown): void {
  checkObject("options", options);
  const o = (options ?? {}) as Record<string, unknown>;
  const since = o.since;
  if (since instanceof Date) {
    if (Number.isNaN(since.getTime())) throw new InvalidArgumentError("since", since, "a valid Date or a seq ≥ 0");
  } else checkNumber("since", since, { min: 0, integer: true });
  checkSignal("signal", o.signal);
  checkBoolean("excludeOwn", o.excludeOwn);
}

function checkWaitOptions(options: unknown): void {
  checkObject("options", options);
  const o = (options ?? {}) as Record<string, unknown>;
  checkDuration("timeout", o.timeout, { allowZero: true, orInfinity: true });
  checkSignal("signal", o.signal);
  checkBoolean("excludeOwn", o.excludeOwn);
  checkKeys("keys", o.keys);
}

/**
 * Validates the options of a {@link State} in one place.
 * @throws {InvalidArgumentError} naming the option, its value and what is allowed.
 */
export function checkStateOptions(options: unknown): asserts options is StateOptions {
  checkObject("options", options);
  const o = (options ?? {}) as Record<string, unknown>;
  checkString("namespace", o.namespace);
  checkDuration("timeout", o.timeout);
  if (o.heartbeat !== false) checkDuration("heartbeat", o.heartbeat);
  checkClientSecurity("security", o.security);
  if (o.transport !== undefined) checkOneOf("transport", o.transport, ["auto", "zeromq"]);
}

/**
 * A dict-like view of one namespace on a state server, reachable from any process or machine.
 * Every method is one atomic server operation; many callers may use one State at once.
 *
 * @example
 * await using state = new State<{ count: number }>("tcp://127.0.0.1:5000");
 * await state.set("count", 1);
 * await state.increment("count"); // atomic on the server
 * console.log(await state.get("count")); // 2
 */
export class State<T extends object = Record<string, unknown>> implements AsyncDisposable {
  /** The namespace this view reads and writes. */
  readonly namespace: string;
  /** The server address. */
  readonly address: string;
  /** Identifies this State's writes in changes (`Change.origin`). */
  readonly origin: string;
  readonly #link: StateLink;
  readonly #timeout: number;
  readonly #owner: boolean;
  /** The origin header, packed once: every write carries it. */
  readonly #origin: PackedHeaders;

  constructor(address: string, options: StateOptions = {}, shared?: { link: StateLink; origin: string }) {
    checkString("address", address, { nonEmpty: true });
    checkStateOptions(options);
    this.address = address;
    this.namespace = options.namespace ?? "default";
    this.#timeout = options.timeout ?? 5000;
    this.origin = shared?.origin ?? randomBytes(8).toString("hex");
    this.#origin = packHeaders({ [ORIGIN_HEADER]: this.origin });
    this.#owner = shared === undefined;
    this.#link =
      shared?.link ??
      new StateLink(address, {
        timeout: this.#timeout,
        heartbeat: options.heartbeat ?? 5000,
        security: options.security,
        transport: options.transport,
      });
  }

  /**
   * Another namespace on the same server and connection (ZProc's namespaces). Closing the parent
   * closes it too.
   */
  withNamespace<U extends object = Record<string, unknown>>(namespace: string): State<U> {
    if (typeof namespace !== "string") throw new InvalidArgumentError("namespace", namespace, "a string");
    return new State<U>(this.address, { namespace, timeout: this.#timeout }, { link: this.#link, origin: this.origin });
  }

  /**
   * One operation of the wire contract on this namespace. Only a write carries the origin header
   * (it is recorded in the change); `map` turns the reply into the result without a promise of
   * its own.
   */
  #call<M extends Method, R = Replies[M]>(
    method: M,
    args: ArgsOf<M>,
    map?: (reply: Replies[M]) => R,
    signal?: AbortSignal,
  ): Promise<R> {
    const headers = WRITE_METHODS.has(method) ? this.#origin : undefined;
    return this.#link.call(
      method,
      [this.namespace, ...args],
      headers,
      signal,
      map as ((value: unknown) => unknown) | undefined,
    ) as Promise<R>;
  }

  /** The value of `key`, or undefined. */
  get<K extends keyof T & string>(key: K): Promise<T[K] | undefined> {
    return this.#call("get", [key], decode) as Promise<T[K] | undefined>;
  }
  /** Sets `key`; resolves with the change's sequence number once the server applied it. */
  set<K extends keyof T & string>(key: K, value: T[K]): Promise<number> {
    return this.#call("set", [key, packValue(value)]);
  }
  /** Deletes `key`; resolves true if it existed. */
  delete(key: keyof T & string): Promise<boolean> {
    return this.#call("del", [key]);
  }
  has(key: keyof T & string): Promise<boolean> {
    return this.#call("has", [key]);
  }
  keys(): Promise<(keyof T & string)[]> {
    return this.#call("keys", []) as Promise<(keyof T & string)[]>;
  }
  entries(): Promise<[keyof T & string, T[keyof T]][]> {
    return this.#call("entries", [], (pairs) =>
      pairs.map(([k, v]): [keyof T & string, T[keyof T]] => [k as keyof T & string, decode(v) as T[keyof T]]),
    );
  }
  size(): Promise<number> {
    return this.#call("size", []);
  }
  /** Deletes every key of the namespace; resolves with how many there were. */
  clear(): Promise<number> {
    return this.#call("clear", []);
  }
  /** Sets several keys in one atomic step (a plain object's own keys, or a Map's entries). */
  async update(partial: Partial<T> | ReadonlyMap<keyof T & string, T[keyof T]>): Promise<number> {
    return this.#call("update", [encodeEntries(partial, "partial")]);
  }
  /** Makes the namespace exactly `whole` in one atomic step (a plain object or a Map). */
  async replace(whole: T | ReadonlyMap<keyof T & string, T[keyof T]>): Promise<number> {
    return this.#call("replace", [encodeEntries(whole, "whole")]);
  }
  /** A deep copy of the whole namespace as a plain object. */
  async snapshot(): Promise<Partial<T>> {
    return (await this.#snapshotWithSeq()).value;
  }

  /** A read (never a write) may stop at `signal`: a condition wait's deadline or abort. */
  async #snapshotWithSeq(signal?: AbortSignal): Promise<{ seq: number; value: Partial<T> }> {
    const [seq, pairs] = await this.#call("snapshot", [], undefined, signal);
    const value: Record<string, unknown> = {};
    for (const [k, v] of pairs) setOwn(value, k, decode(v));
    return { seq, value: value as Partial<T> };
  }

  #op<R>(key: string, name: Operation, args: unknown[]): Promise<R> {
    return this.#call("op", [key, name, packObject(args)], decode) as Promise<R>;
  }

  /** Atomically adds `by` (default 1) to a number (or BigInt); a missing key counts as 0. */
  increment(key: keyof T & string, by: number | bigint = 1): Promise<number> {
    return this.#op(key, "increment", [by]);
  }
  /** Atomically subtracts `by` (default 1). */
  decrement(key: keyof T & string, by: number | bigint = 1): Promise<number> {
    return this.#op(key, "increment", [typeof by === "bigint" ? -by : -by]);
  }
  /** Atomically appends items to an array (a missing key starts empty); resolves with the array. */
  append(key: keyof T & string, ...items: unknown[]): Promise<unknown[]> {
    return this.#op(key, "append", items);
  }
  /** Atomically removes the first item deep-equal to `item`; resolves true if one was removed. */
  remove(key: keyof T & string, item: unknown): Promise<boolean> {
    return this.#op(key, "remove", [item]);
  }
  /** Atomically merges `partial` into an object; resolves with the merged object. */
  merge<K extends keyof T & string>(key: K, partial: Partial<T[K]>): Promise<T[K]> {
    return this.#op(key, "merge", [partial]);
  }
  /** Sets `key` to `next` only if it deep-equals `expected`; resolves whether it did. */
  compareAndSet<K extends keyof T & string>(key: K, expected: T[K] | undefined, next: T[K]): Promise<boolean> {
    return this.#op(key, "compareAndSet", [expected, next]);
  }
  /** Sets `key` if it is absent; resolves with the value it now holds. */
  setIfAbsent<K extends keyof T & string>(key: K, value: T[K]): Promise<T[K]> {
    return this.#op(key, "setIfAbsent", [value]);
  }
  /** Removes `key` and resolves with its value (or `fallback` if absent). */
  pop<K extends keyof T & string>(key: K, fallback?: T[K]): Promise<T[K] | undefined> {
    return this.#op(key, "pop", [fallback]);
  }

  /** Runs a named server-side mutation (loaded by the server from its mutations module). */
  mutate<R = unknown>(name: string, ...args: unknown[]): Promise<R> {
    return this.#call("mutate", [name, packObject(args)], decode) as Promise<R>;
  }

  /**
   * Runs `body` as an optimistic transaction: its reads are remembered, its writes buffered, and
   * the commit applies only if nothing it read changed meanwhile; otherwise it is re-run (up to
   * `retries` times, then {@link TransactionConflictError}). A throw aborts with no change.
   *
   * @example
   * await state.transaction(async (tx) => tx.set("n", ((await tx.get("n")) ?? 0) + 1));
   */
  async transaction<R>(body: (tx: Transaction<T>) => R | Promise<R>, options: { retries?: number } = {}): Promise<R> {
    checkFunction("body", body);
    checkObject("options", options);
    checkNumber("retries", options.retries, { min: 0, max: 1_000_000, integer: true });
    const retries = options.retries ?? 50;
    for (let attempt = 0; attempt <= retries; attempt++) {
      const reads = new Map<string, [unknown, number]>();
      const writes = new Map<string, Buffer | null>();
      const tx: Transaction<T> = {
        get: async (key) => {
          if (writes.has(key)) return decode(writes.get(key)) as never;
          const cached = reads.get(key);
          if (cached) return cached[0] as never;
          const [[bytes, version]] = (await this.#call("getv", [[key]])) as [[Buffer | null, number]];
          const value = decode(bytes);
          reads.set(key, [value, version]);
          return value as never;
        },
        has: async (key) => (await tx.get(key as never)) !== undefined,
        set: (key, value) => void writes.set(key, packValue(value)),
        delete: (key) => void writes.set(key, null),
      };
      const result = await body(tx);
      if (writes.size === 0) return result;
      const committed = await this.#call("commit", [
        [...reads].map(([k, [, v]]): [string, number] => [k, v]),
        [...writes],
      ]);
      if (committed) return result;
      // Back off a little, randomly, so contending writers stop colliding in lockstep.
      if (attempt > 2) await delay(Math.random() * Math.min(20, attempt));
    }
    throw new TransactionConflictError(`the transaction conflicted ${retries + 1} times with concurrent writes`);
  }

  /**
   * Changes as they happen (or replayed with `since`), in server order, without gaps: if the
   * connection drops the watch resumes where it stopped; if the server no longer holds the
   * missing changes it fails with {@link HistoryTruncatedError}. Ends without error when
   * `signal` aborts.
   *
   * @example
   * for await (const change of state.watch(["count"], { signal })) console.log(change.after);
   */
  async *watch(
    keys?: readonly (keyof T & string)[],
    options: WatchOptions = {},
  ): AsyncGenerator<Change<T[keyof T]>, void, undefined> {
    checkKeys("keys", keys);
    checkWatchOptions(options);
    let since: number | null = typeof options.since === "number" ? options.since : null;
    let sinceTime: number | null = options.since instanceof Date ? options.since.getTime() : null;
    const signal = options.signal;
    let failures = 0;
    while (!signal?.aborted) {
      const stream = this.#link.stream(
        "watch",
        [this.namespace, keys && keys.length > 0 ? [...keys] : null, since, sinceTime],
        this.#origin,
        signal,
      );
      let first = true;
      try {
        for await (const item of stream as AsyncIterable<WireChange | number>) {
          failures = 0;
          if (first) {
            first = false;
            since = item as number;
            sinceTime = null;
            continue;
          }
          const [seq, time, key, before, after, origin] = item as WireChange;
          since = seq + 1;
          if (options.excludeOwn && origin === this.origin) continue;
          yield { key, before: decode(before), after: decode(after), seq, time, origin } as Change<T[keyof T]>;
        }
        return;
      } catch (error) {
        if (signal?.aborted || error instanceof AbortError) return;
        // Reconnect and resume from the last change seen: the server's history fills the gap.
        if ((error instanceof LostRemoteError || error instanceof TimeoutError) && failures++ < 3) continue;
        throw stateErrorOf(error);
      }
    }
  }

  /**
   * Resolves with the namespace's state once `predicate` holds (checked now, then on each change).
   * @throws {TimeoutError} after `timeout` ms; {@link AbortError} when `signal` aborts.
   */
  async when(
    predicate: (state: Partial<T>) => boolean,
    options: WaitOptions & { keys?: (keyof T & string)[] } = {},
  ): Promise<Partial<T>> {
    checkFunction("predicate", predicate);
    return this.#waitFor(options, async (signal, read) => {
      const { seq, value } = await this.#snapshotWithSeq(read);
      if (predicate(value)) return value;
      const local = value as Record<string, unknown>;
      for await (const change of this.watch(options.keys, {
        since: seq + 1,
        signal,
        excludeOwn: options.excludeOwn ?? false,
      })) {
        if (change.after === undefined) delete local[change.key];
        else setOwn(local, change.key, change.after);
        if (predicate(local as Partial<T>)) return local as Partial<T>;
      }
      return undefined;
    });
  }

  /** Resolves with the next change of any of `keys` (any key if none). */
  whenChange(...keys: (keyof T & string)[]): Promise<Change<T[keyof T]>> {
    return this.whenChangeWith(keys, {});
  }

  /** {@link whenChange} with options. */
  whenChangeWith(keys: (keyof T & string)[], options: WaitOptions): Promise<Change<T[keyof T]>> {
    return this.#waitFor(options, async (signal) => {
      for await (const change of this.watch(keys, { signal, excludeOwn: options.excludeOwn ?? false })) return change;
      return undefined;
    });
  }

  /**
   * A condition on one key: reads that key alone with the seq it was read at (not a snapshot of
   * the whole namespace, as {@link when} needs), then watches it from the next seq, so no change
   * after the read is missed.
   */
  #whenKey<K extends keyof T & string>(
    key: K,
    test: (value: T[K] | undefined) => boolean,
    options: WaitOptions,
  ): Promise<T[K] | undefined> {
    if (this.#link.noGetseq)
      return this.when((s) => test(s[key] as T[K] | undefined), { ...options, keys: [key] }).then(
        (s) => s[key] as T[K] | undefined,
      );
    return this.#waitFor(options, async (signal, readSignal) => {
      let read: Replies["getseq"];
      try {
        read = await this.#call("getseq", [key], undefined, readSignal);
      } catch (error) {
        if (!(error instanceof RemoteError && error.remoteName === "NameError")) throw error;
        // A server from before getseq: wait on a snapshot, as it then did (and from now on).
        this.#link.noGetseq = true;
        // Under this wait's signal (its deadline and the caller's abort), not a second timer.
        // (With timeout 0, "check now": its snapshot runs under the caller's signal alone.)
        const whole = await this.when((s) => test(s[key] as T[K] | undefined), {
          keys: [key],
          excludeOwn: options.excludeOwn,
          ...(options.timeout === 0 ? { timeout: 0, signal: options.signal } : { signal }),
        });
        return { value: whole[key] as T[K] | undefined };
      }
      const [seq, bytes] = read;
      const value = decode(bytes) as T[K] | undefined;
      if (test(value)) return { value };
      for await (const change of this.watch([key], {
        since: seq + 1,
        signal,
        excludeOwn: options.excludeOwn ?? false,
      })) {
        const next = change.after as T[K] | undefined;
        if (test(next)) return { value: next };
      }
      return undefined;
    }).then((held) => held.value);
  }
  /** Resolves when `key` deep-equals `value`. */
  whenEqual<K extends keyof T & string>(key: K, value: T[K], options: WaitOptions = {}): Promise<T[K] | undefined> {
    return this.#whenKey(key, (v) => isDeepStrictEqual(v, value), options);
  }
  /** Resolves (with the new value) when `key` no longer deep-equals `value`. */
  whenNotEqual<K extends keyof T & string>(key: K, value: T[K], options: WaitOptions = {}): Promise<T[K] | undefined> {
    return this.#whenKey(key, (v) => !isDeepStrictEqual(v, value), options);
  }
  whenTruthy<K extends keyof T & string>(key: K, options: WaitOptions = {}): Promise<T[K] | undefined> {
    return this.#whenKey(key, (v) => Boolean(v), options);
  }
  whenFalsy<K extends keyof T & string>(key: K, options: WaitOptions = {}): Promise<T[K] | undefined> {
    return this.#whenKey(key, (v) => !v, options);
  }
  whenDefined<K extends keyof T & string>(key: K, options: WaitOptions = {}): Promise<T[K] | undefined> {
    return this.#whenKey(key, (v) => v !== undefined, options);
  }
  whenUndefined<K extends keyof T & string>(key: K, options: WaitOptions = {}): Promise<undefined> {
    return this.#whenKey(key, (v) => v === undefined, options) as Promise<undefined>;
  }
  /** Resolves with the value of `key` once it exists (ZProc's `get_when_available`). */
  whenAvailable<K extends keyof T & string>(key: K, options: WaitOptions = {}): Promise<T[K]> {
    return this.whenDefined(key, options) as Promise<T[K]>;
  }

  /**
   * Runs a condition wait under core's one deadline-and-signal wait: a body that ends without a
   * value (its watch ended) fails as the wait stopped, by timeout, by the caller's abort or else.
   */
  /**
   * Runs a condition wait under one deadline and the caller's signal. `body` gets that signal for
   * its watch and `read` for its first read: the same, except with `timeout: 0`, which means
   * "check the value now" — that read then stops only at the caller's signal or the call timeout.
   */
  async #waitFor<R>(
    options: WaitOptions,
    body: (signal: AbortSignal, read: AbortSignal | undefined) => Promise<R | undefined>,
  ): Promise<R> {
    checkWaitOptions(options);
    const timedOut = (ms: number) => new TimeoutError(`condition not met within ${ms} ms`, ms);
    return waitWithin({ timeout: options.timeout, signal: options.signal, timedOut }, async (signal) => {
      const result = await body(signal, options.timeout === 0 ? options.signal : signal);
      if (result === undefined) throw new AbortError("the wait ended before the condition held");
      return result;
    });
  }

  /** Closes the connection (a State made by {@link withNamespace} shares its parent's). */
  close(): void {
    if (this.#owner) this.#link.close();
  }
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#owner) await this.#link[Symbol.asyncDispose]();
  }
}

/**
 * Whether a state server answers at `address` within `timeout` ms (default 1000).
 * @example
 * if (!(await ping("tcp://127.0.0.1:5000"))) await startServer("tcp://127.0.0.1:5000");
 */
export async function ping(
  address: string,
  options: { timeout?: number; security?: ClientSecurity } = {},
): Promise<boolean> {
  checkString("address", address, { nonEmpty: true });
  checkObject("options", options);
  checkDuration("timeout", options.timeout);
  checkClientSecurity("security", options.security);
  const timeout = options.timeout ?? 1000;
  let link: StateLink | undefined;
  try {
    link = new StateLink(address, { timeout, heartbeat: false, security: options.security });
    const reply = (await link.call("ping", [""] satisfies Requests["ping"])) as Replies["ping"];
    return Array.isArray(reply) && reply[0] === "pong";
  } catch {
    return false;
  } finally {
    await link?.[Symbol.asyncDispose]();
  }
}
